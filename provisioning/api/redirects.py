"""The redirect-service side of the phone and DECT base routes.

`after_change` is called by every route that creates or changes a record, in its
transaction, so the record's registration with its vendor's redirect service follows the
record (`provisioning.redirect.sync`); `wake` tells the runner of this process after the
commit. `POST /api/pbx/sipphone/{id}/redirect` and `POST /api/dect_phones/{id}/redirect`
retry by hand: what failed or waits is due again at once with fresh attempts (MANAGER;
another tenant's record is 404 as everywhere). Their routes are added by the phone and
DECT route modules.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp import web

from db import phones as phone_queries
from db import redirects as queries
from provisioning import appkeys
from provisioning.api.access import authenticate
from provisioning.api.common import json_response, object_id
from provisioning.auth import Level
from provisioning.dect import bases
from provisioning.errors import ApiError
from provisioning.phones import service
from provisioning.phones.render import phone_json
from provisioning.redirect import desired, sync


async def after_change(
    conn: asyncpg.Connection[Any], request: web.Request, kind: str, subject_id: str
) -> bool:
    """Bring the record's registration in line; True when it changed."""
    return await sync.sync_subject(conn, request.app[appkeys.SETTINGS], kind, subject_id)


def wake(request: web.Request) -> None:
    runner = request.app[appkeys.HUB].redirects
    if runner is not None:
        runner.wake()


def _nothing_to_retry(job: queries.RedirectJob | None, noun: str, rps: str) -> ApiError | None:
    if job is None:
        return ApiError(
            409,
            "redirect",
            f"The {noun} is not registered with a redirect service ({rps} is off, and its "
            "vendor's phones are not registered without it)",
        )
    if job.state not in (desired.PENDING, desired.REGISTERED, desired.FAILED):
        return ApiError(409, "redirect", job.reason or f"Nothing to retry ({job.state})")
    return None


async def retry_phone(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    principal.require(Level.MANAGER)
    phone_id = object_id(request.match_info["id"], description=service.PHONE_NOT_FOUND)
    async with request.app[appkeys.POOL].acquire() as conn, conn.transaction():
        record = await service.visible_phone(conn, principal, phone_id, lock=True)
        await after_change(conn, request, "phone", record.id)
        await queries.retry_subject(conn, "phone", record.id)
        reloaded = await phone_queries.phone_by_id(conn, record.id)
        assert reloaded is not None
        refused = _nothing_to_retry(reloaded.redirect, "phone", "rps")
        if refused is not None:
            raise refused
    wake(request)
    body = phone_json(
        reloaded,
        request.app[appkeys.SECRET_BOX],
        with_purchase_info=principal.level >= Level.OWNER,
        with_secrets=principal.level >= Level.OWNER,
    )
    return json_response(body, status=202)


async def retry_base(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    principal.require(Level.MANAGER)
    base_id = object_id(request.match_info["id"], description=bases.BASE_NOT_FOUND)
    async with request.app[appkeys.POOL].acquire() as conn, conn.transaction():
        base = await bases.visible_base(conn, principal, base_id, lock=True)
        await after_change(conn, request, "dect", base.id)
        await queries.retry_subject(conn, "dect", base.id)
        reloaded = await bases.visible_base(conn, principal, base.id)
        refused = _nothing_to_retry(reloaded.redirect, "DECT phone", "rps")
        if refused is not None:
            raise refused
    wake(request)
    return json_response(bases.base_json(reloaded), status=202)
