"""A record's registration as the API shows it: the `redirect` object of a SIP phone
(camelCase, 002) and of a DECT base (snake_case, 001)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from db.redirects import RedirectJob
from provisioning.redirect import desired, registry


def iso_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def redirect_json(job: RedirectJob | None, *, snake: bool = False) -> dict[str, Any] | None:
    """`state`: pending | registered | failed | not_configured | manual | unsupported;
    `reason`: the service's answer (failed, or the last failed attempt while pending), or
    what is missing; `time`: when the state was last written."""
    if job is None:
        return None
    service = registry.SERVICES.get(job.vendor)
    body: dict[str, Any] = {
        "state": job.state,
        "vendor": job.vendor,
        "service": service.name if service is not None else None,
        "url": job.url,
        "attempts": job.attempts,
        "time": iso_time(job.updated),
    }
    if job.reason:
        body["reason"] = job.reason
    if job.state == desired.PENDING:
        body["next_attempt" if snake else "nextAttempt"] = iso_time(job.next_attempt)
    return {key: value for key, value in body.items() if value is not None}
