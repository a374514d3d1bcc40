"""`/api/pbx/sipphone`: the SIP phone routes of `002_…txt`, `003_…txt` and `004_…txt`.

PUT creates, GET lists (filters customer, extension, online, macAddress; paged) or reads
one, POST updates partially (`/{id}`, or the reference's `POST /pbx/sipphone` with `_id`
in the body), DELETE removes; `/{id}/resetcredentials` (GET as 004 documents, and POST)
draws new credentials and drops the phone's registrations. Handlers stay thin: the
rules live in `provisioning.phones`.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

from aiohttp import web

from db import phones as queries
from db.phones import PhoneRecord
from provisioning import appkeys
from provisioning.api import redirects
from provisioning.api.access import authenticate
from provisioning.api.common import json_response, object_id, read_json_object
from provisioning.api.customers import page, page_params, query_id
from provisioning.auth import Level, Principal
from provisioning.errors import ApiError
from provisioning.phones import service
from provisioning.phones.parse import normalise_mac
from provisioning.phones.render import phone_json

log = logging.getLogger(__name__)


def _json(request: web.Request, principal: Principal, record: PhoneRecord) -> dict[str, Any]:
    return phone_json(
        record,
        request.app[appkeys.SECRET_BOX],
        with_purchase_info=principal.level >= Level.OWNER,
        with_secrets=principal.level >= Level.OWNER,
    )


async def _after_change(conn: Any, request: web.Request, record: PhoneRecord) -> PhoneRecord:
    """The record after its redirect-service registration followed the change."""
    if not await redirects.after_change(conn, request, "phone", record.id):
        return record
    reloaded = await queries.phone_by_id(conn, record.id)
    assert reloaded is not None
    return reloaded


def _phone_id(request: web.Request) -> str:
    return object_id(request.match_info["id"], description=service.PHONE_NOT_FOUND)


async def create_phone(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    principal.require(Level.MANAGER)
    body = await read_json_object(request)
    settings = request.app[appkeys.SETTINGS]
    async with request.app[appkeys.POOL].acquire() as conn, conn.transaction():
        record = await service.create_phone(
            conn, principal, body, box=request.app[appkeys.SECRET_BOX], realm=settings.realm
        )
        record = await _after_change(conn, request, record)
    redirects.wake(request)
    log.info("phone %s created", record.id)
    return json_response(_json(request, principal, record), status=201)


def _online_filter(request: web.Request) -> bool | None:
    value = request.query.get("online")
    if value is None:
        return None
    if value.lower() not in ("true", "false"):
        raise ApiError(422, "online", "Online must be true or false")
    return value.lower() == "true"


async def list_phones(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    principal.require(Level.VIEWER)
    limit, cursor = page_params(request)
    mac = request.query.get("macAddress")
    mac_address = None if mac is None else normalise_mac(mac)
    if mac is not None and mac_address is None:
        raise ApiError(422, "macAddress", "MAC address is invalid")
    customer_id = query_id(request, "customer", "Customer not found or not active")
    extension_id = query_id(request, "extension", "Extension not found")
    online = _online_filter(request)
    async with request.app[appkeys.POOL].acquire() as conn:
        found = await queries.list_phones(
            conn,
            principal.scope,
            customer_id=customer_id,
            extension_id=extension_id,
            online=online,
            mac_address=mac_address,
            after=cursor,
            limit=limit,
        )
    return json_response(page([_json(request, principal, r) for r in found], limit))


async def get_phone(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    principal.require(Level.VIEWER)
    phone_id = _phone_id(request)
    async with request.app[appkeys.POOL].acquire() as conn:
        record = await service.visible_phone(conn, principal, phone_id)
    return json_response(_json(request, principal, record))


async def _update(request: web.Request, phone_id: str | None) -> web.Response:
    principal = await authenticate(request)
    principal.require(Level.MANAGER)
    body = await read_json_object(request)
    if phone_id is None:  # 003: POST /pbx/sipphone names the phone by `_id` in the body
        body_id = body.get("_id")
        if not isinstance(body_id, str):
            raise ApiError(422, "_id", "Id of the SIP phone is missing")
        phone_id = object_id(body_id, description=service.PHONE_NOT_FOUND)
        body = {**body, "_id": phone_id}
    async with request.app[appkeys.POOL].acquire() as conn, conn.transaction():
        record = await service.update_phone(
            conn, principal, phone_id, body, box=request.app[appkeys.SECRET_BOX]
        )
        record = await _after_change(conn, request, record)
    redirects.wake(request)
    log.info("phone %s updated", record.id)
    return json_response(_json(request, principal, record))


async def update_phone(request: web.Request) -> web.Response:
    return await _update(request, _phone_id(request))


async def update_phone_by_body(request: web.Request) -> web.Response:
    return await _update(request, None)


async def delete_phone(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    principal.require(Level.MANAGER)
    phone_id = _phone_id(request)
    async with request.app[appkeys.POOL].acquire() as conn, conn.transaction():
        await service.delete_phone(conn, principal, phone_id)
    redirects.wake(request)  # its registration is released by the database (0012)
    log.info("phone %s deleted", phone_id)
    return json_response({"_id": phone_id, "deleted": True})


async def _drop_live_bindings(request: web.Request, phone_id: str) -> None:
    """The registrar, when it offers it, forgets in-memory bindings at once (the database
    rows are already gone and its directory also follows `sipfleet_phones`)."""
    drop = getattr(request.app[appkeys.HUB].sip, "drop_bindings", None)
    if drop is None:
        return
    result = drop(phone_id)
    if inspect.isawaitable(result):
        await result


async def reset_credentials(request: web.Request) -> web.Response:
    """GET as well as POST, as the reference has it: a GET that changes state, so the
    session cookie alone never authorizes it (`authenticate(changes_state=True)`)."""
    principal = await authenticate(request, changes_state=True)
    principal.require(Level.VIEWER)
    phone_id = _phone_id(request)
    settings = request.app[appkeys.SETTINGS]
    async with request.app[appkeys.POOL].acquire() as conn, conn.transaction():
        record = await service.reset_credentials(
            conn, principal, phone_id, box=request.app[appkeys.SECRET_BOX], realm=settings.realm
        )
    await _drop_live_bindings(request, phone_id)
    log.info("phone %s credentials reset", phone_id)
    return json_response(_json(request, principal, record))


def setup(app: web.Application) -> None:
    app.router.add_put("/api/pbx/sipphone", create_phone)
    app.router.add_get("/api/pbx/sipphone", list_phones)
    app.router.add_post("/api/pbx/sipphone", update_phone_by_body)
    app.router.add_get("/api/pbx/sipphone/{id}", get_phone)
    app.router.add_post("/api/pbx/sipphone/{id}", update_phone)
    app.router.add_delete("/api/pbx/sipphone/{id}", delete_phone)
    app.router.add_get("/api/pbx/sipphone/{id}/resetcredentials", reset_credentials)
    app.router.add_post("/api/pbx/sipphone/{id}/resetcredentials", reset_credentials)
    app.router.add_post("/api/pbx/sipphone/{id}/redirect", redirects.retry_phone)
