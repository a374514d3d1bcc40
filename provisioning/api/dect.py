"""`/api/dect_phone_models` and `/api/dect_phones` (001, DECT operations; snake_case).

Bases: `POST` create, `GET` list / one, `POST /{id}` partial update, `POST /{id}/destroy`.
Members: `GET /{id}/members`, `POST /{id}/members` (replace the list),
`GET /{id}/members/{extension_number}` (the handset's SIP phone record, or 404). Handlers
stay thin: the rules live in `provisioning.dect`.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from db import dect as queries
from db import phones as phone_queries
from db.dect import DectBase
from provisioning import appkeys
from provisioning.api import redirects
from provisioning.api.access import authenticate
from provisioning.api.common import json_response, object_id, read_json_object
from provisioning.api.customers import page, page_params
from provisioning.auth import Level
from provisioning.dect import bases, members
from provisioning.errors import not_found
from provisioning.phones.render import phone_json

log = logging.getLogger(__name__)
MODEL_NOT_FOUND = "DECT phone model not found"


async def _after_change(conn: Any, request: web.Request, base: DectBase) -> DectBase:
    """The base after its redirect-service registration followed the change."""
    if not await redirects.after_change(conn, request, "dect", base.id):
        return base
    reloaded = await queries.base_by_id(conn, base.id)
    assert reloaded is not None
    return reloaded


def _base_id(request: web.Request) -> str:
    return object_id(request.match_info["id"], description=bases.BASE_NOT_FOUND)


async def list_models(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    principal.require(Level.VIEWER)
    async with request.app[appkeys.POOL].acquire() as conn:
        found = await queries.dect_models(conn)
    return json_response({"items": [bases.model_json(m) for m in found], "next": None})


async def get_model(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    principal.require(Level.VIEWER)
    name = request.match_info["name"]
    async with request.app[appkeys.POOL].acquire() as conn:
        model = await queries.dect_model(conn, name) if len(name) <= 64 else None
    if model is None:
        raise not_found(MODEL_NOT_FOUND)
    return json_response(bases.model_json(model))


async def create_base(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    body = await read_json_object(request)
    async with request.app[appkeys.POOL].acquire() as conn, conn.transaction():
        base = await bases.create_base(
            conn, principal, body, request.app[appkeys.SECRET_BOX], request.app[appkeys.SETTINGS]
        )
        base = await _after_change(conn, request, base)
    redirects.wake(request)
    log.info("DECT base %s created", base.id)
    return json_response(bases.base_json(base), status=201)


async def list_bases(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    principal.require(Level.VIEWER)
    limit, cursor = page_params(request)
    async with request.app[appkeys.POOL].acquire() as conn:
        found = await queries.list_bases(conn, principal.scope, after=cursor, limit=limit)
    return json_response(page([bases.base_json(b) for b in found], limit))


async def get_base(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    principal.require(Level.VIEWER)
    async with request.app[appkeys.POOL].acquire() as conn:
        base = await bases.visible_base(conn, principal, _base_id(request))
    return json_response(bases.base_json(base))


async def update_base(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    base_id = _base_id(request)
    body = await read_json_object(request)
    async with request.app[appkeys.POOL].acquire() as conn, conn.transaction():
        base = await bases.update_base(
            conn,
            principal,
            base_id,
            body,
            request.app[appkeys.SECRET_BOX],
            request.app[appkeys.SETTINGS],
        )
        base = await _after_change(conn, request, base)
    redirects.wake(request)
    log.info("DECT base %s updated", base.id)
    return json_response(bases.base_json(base))


async def destroy_base(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    base_id = _base_id(request)
    async with request.app[appkeys.POOL].acquire() as conn, conn.transaction():
        await bases.delete_base(conn, principal, base_id)
    redirects.wake(request)  # its registration is released by the database (0012)
    log.info("DECT base %s deleted", base_id)
    return json_response({"_id": base_id, "deleted": True})


async def list_members(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    principal.require(Level.VIEWER)
    async with request.app[appkeys.POOL].acquire() as conn:
        base = await bases.visible_base(conn, principal, _base_id(request))
        found = await queries.members(conn, base.id)
    return json_response({"items": [members.member_json(m) for m in found], "next": None})


async def replace_members(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    base_id = _base_id(request)
    body = await read_json_object(request)
    settings = request.app[appkeys.SETTINGS]
    async with request.app[appkeys.POOL].acquire() as conn, conn.transaction():
        found = await members.replace_members(
            conn,
            principal,
            base_id,
            body,
            box=request.app[appkeys.SECRET_BOX],
            realm=settings.realm,
        )
    log.info("DECT base %s members replaced (%d)", base_id, len(found))
    return json_response({"items": [members.member_json(m) for m in found], "next": None})


async def get_member(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    principal.require(Level.VIEWER)
    number = request.match_info["extension_number"]
    async with request.app[appkeys.POOL].acquire() as conn:
        member = await members.member_of(conn, principal, _base_id(request), number)
        record = await phone_queries.phone_by_id(conn, member.phone_id)
    if record is None:
        raise not_found(members.MEMBER_NOT_FOUND)
    body = phone_json(
        record,
        request.app[appkeys.SECRET_BOX],
        with_purchase_info=principal.level >= Level.OWNER,
        with_secrets=principal.level >= Level.OWNER,
    )
    return json_response(body)


def setup(app: web.Application) -> None:
    app.router.add_get("/api/dect_phone_models", list_models)
    app.router.add_get("/api/dect_phone_models/{name}", get_model)
    app.router.add_post("/api/dect_phones", create_base)
    app.router.add_get("/api/dect_phones", list_bases)
    app.router.add_get("/api/dect_phones/{id}", get_base)
    app.router.add_post("/api/dect_phones/{id}", update_base)
    app.router.add_post("/api/dect_phones/{id}/destroy", destroy_base)
    app.router.add_post("/api/dect_phones/{id}/redirect", redirects.retry_base)
    app.router.add_get("/api/dect_phones/{id}/members", list_members)
    app.router.add_post("/api/dect_phones/{id}/members", replace_members)
    app.router.add_get("/api/dect_phones/{id}/members/{extension_number}", get_member)
