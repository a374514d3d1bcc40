"""What every redirect-service client shares: the HTTP exchange as plain values, the
target of a registration, the error a client raises, and the client interface.

A client never opens a socket: it builds `HttpRequest`s and reads `HttpAnswer`s through
the `Send` callable it is handed (the aiohttp adapter in `transport.py`, in production).
The request building and answer parsing of each service are pure functions in its module.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpRequest:
    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpAnswer:
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return None


Send = Callable[[HttpRequest], Awaitable[HttpAnswer]]


class RedirectError(Exception):
    """The service refused, or could not be reached.

    `permanent`: asking again with the same data cannot succeed (a MAC owned by another
    account, credentials refused, a malformed value); the job fails at once instead of
    being retried. The message is shown to operators: it says what the service answered,
    never a credential.
    """

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """One device as the service needs it.

    `mac`: 12 upper-case hex digits. `url`: where the vendor sends the phone (sipfleet's
    provisioning URL for it). `serial`: the record's serial number, for services that need
    one (GDMS; Gigaset reads a MAC-ID check code from it). `http_user`/`http_password`: the
    phone's provisioning HTTP credentials when `provisioning_http_auth` is on, for services
    that can hand them to the phone.
    """

    mac: str
    url: str = ""
    serial: str | None = None
    http_user: str | None = None
    http_password: str | None = None


class VendorClient(Protocol):
    """One vendor's redirect service with one account."""

    @property
    def service(self) -> str:
        """The service as operators know it: `Yealink RPS`."""
        ...

    def secrets(self) -> tuple[str, ...]:
        """Every credential value it holds, to scrub from anything shown or logged."""
        ...

    async def register(self, send: Send, target: Target) -> None:
        """Point the MAC at `target.url`, replacing what the account held for it."""
        ...

    async def unregister(self, send: Send, target: Target) -> None:
        """Remove the MAC from the account; a MAC the service does not hold is no error."""
        ...


def colon_mac(mac: str, separator: str = ":") -> str:
    """`805EC0123456` → `80:5E:C0:12:34:56`."""
    return separator.join(mac[i : i + 2] for i in range(0, 12, 2))


def http_failure(service: str, answer: HttpAnswer) -> RedirectError:
    """An answer that is no answer of the API (a proxy's error page, a 5xx): transient,
    except 401/403 (the account is refused) and other 4xx (the request is wrong)."""
    if answer.status in (401, 403):
        return RedirectError(
            f"{service} refused the account's credentials (HTTP {answer.status})", permanent=True
        )
    if 400 <= answer.status < 500 and answer.status not in (408, 429):
        return RedirectError(f"{service} answered HTTP {answer.status}", permanent=True)
    return RedirectError(f"{service} answered HTTP {answer.status}")


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    """`text` with every secret value replaced: what a service echoes back is shown to
    operators and written to events, and must never carry a credential."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text[:500]
