"""`/api/users/{id}/phones` (000: assign a phone to a user, update it; list and remove).

Users are extensions. These are the same records as `/api/pbx/sipphone`; the rules live
in `provisioning.dect.user_phones`.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from db import phones as phone_queries
from db.phones import PhoneRecord
from provisioning import appkeys
from provisioning.api import redirects
from provisioning.api.access import authenticate
from provisioning.api.common import json_response, object_id, read_json_object
from provisioning.auth import Level, Principal
from provisioning.dect import user_phones

log = logging.getLogger(__name__)
_LIST_LIMIT = 1000  # a user has a handful of phones; one page holds them all


async def _after_change(conn: Any, request: web.Request, record: PhoneRecord) -> PhoneRecord:
    """The record after its redirect-service registration followed the change (`rps`)."""
    if not await redirects.after_change(conn, request, "phone", record.id):
        return record
    reloaded = await phone_queries.phone_by_id(conn, record.id)
    assert reloaded is not None
    return reloaded


def _ids(request: web.Request, *, with_phone: bool) -> tuple[str, str]:
    user_id = object_id(request.match_info["id"], description=user_phones.USER_NOT_FOUND)
    if not with_phone:
        return user_id, ""
    phone = object_id(request.match_info["phone_id"], description=user_phones.PHONE_NOT_FOUND)
    return user_id, phone


async def _json(
    request: web.Request, principal: Principal, conn: Any, record: PhoneRecord
) -> dict[str, Any]:
    return await user_phones.user_phone_json(
        conn,
        record,
        box=request.app[appkeys.SECRET_BOX],
        with_secrets=principal.level >= Level.OWNER,
    )


async def assign_phone(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    user_id, _ = _ids(request, with_phone=False)
    body = await read_json_object(request)
    settings = request.app[appkeys.SETTINGS]
    async with request.app[appkeys.POOL].acquire() as conn, conn.transaction():
        record = await user_phones.assign_phone(
            conn,
            principal,
            user_id,
            body,
            box=request.app[appkeys.SECRET_BOX],
            realm=settings.realm,
            settings=settings,
        )
        record = await _after_change(conn, request, record)
        result = await _json(request, principal, conn, record)
    redirects.wake(request)
    log.info("phone %s assigned to user %s", record.id, user_id)
    return json_response(result, status=201)


async def list_phones(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    principal.require(Level.VIEWER)
    user_id, _ = _ids(request, with_phone=False)
    async with request.app[appkeys.POOL].acquire() as conn:
        user = await user_phones.visible_user(conn, principal, user_id)
        found = await phone_queries.list_phones(
            conn, principal.scope, extension_id=user.id, limit=_LIST_LIMIT
        )
        items = [await _json(request, principal, conn, record) for record in found]
    return json_response({"items": items, "next": None})


async def update_phone(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    user_id, phone_id = _ids(request, with_phone=True)
    body = await read_json_object(request)
    async with request.app[appkeys.POOL].acquire() as conn, conn.transaction():
        record = await user_phones.update_phone(
            conn,
            principal,
            user_id,
            phone_id,
            body,
            box=request.app[appkeys.SECRET_BOX],
            settings=request.app[appkeys.SETTINGS],
        )
        record = await _after_change(conn, request, record)
        result = await _json(request, principal, conn, record)
    redirects.wake(request)
    log.info("phone %s of user %s updated", phone_id, user_id)
    return json_response(result)


async def remove_phone(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    user_id, phone_id = _ids(request, with_phone=True)
    async with request.app[appkeys.POOL].acquire() as conn, conn.transaction():
        await user_phones.remove_phone(
            conn, principal, user_id, phone_id, request.app[appkeys.SECRET_BOX]
        )
    log.info("phone %s removed from user %s", phone_id, user_id)
    return json_response({"_id": phone_id, "user": None})


def setup(app: web.Application) -> None:
    app.router.add_post("/api/users/{id}/phones", assign_phone)
    app.router.add_get("/api/users/{id}/phones", list_phones)
    app.router.add_post("/api/users/{id}/phones/{phone_id}", update_phone)
    app.router.add_delete("/api/users/{id}/phones/{phone_id}", remove_phone)
