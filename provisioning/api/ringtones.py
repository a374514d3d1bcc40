"""`/api/ringtones`: custom ringtones, per customer.

A ringtone is uploaded as the request body (`Content-Type: audio/wav`, the file as is;
`?name=` and, for a token that sees several customers, `?customer=`), checked by
`provisioning.ringtones.wav` (RIFF/WAVE, mono, 16-bit PCM at 8 or 16 kHz or G.711 at
8 kHz, at most 1 MiB) and kept in the database. A phone uses one by putting its id in
002 `ringer.tone` (000 `ringtone`), where its model plays that format from a URL; the
phone then fetches it through `/prov/` like its config.

MANAGER and above upload and delete, VIEWER and above list and read (also the file,
`/api/ringtones/{id}/file`). Another tenant's ringtone is 404 like a missing one. A
ringtone some phone's `ringer.tone` names cannot be deleted (409 naming how many).
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from aiohttp import web

from db import ringtones as queries
from db.ringtones import Ringtone
from provisioning import appkeys
from provisioning.api.access import authenticate
from provisioning.api.common import json_response, object_id
from provisioning.api.customers import page, page_params, query_id, resolve_customer
from provisioning.auth import Level, Principal
from provisioning.errors import ApiError, not_found
from provisioning.phones.render import iso_time
from provisioning.ringtones import wav

log = logging.getLogger(__name__)

RINGTONE_NOT_FOUND = "Ringtone not found"
CONTENT_TYPES = frozenset(
    {"audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave", "application/octet-stream"}
)
_NAME_MAX = 64


def ringtone_json(ringtone: Ringtone) -> dict[str, Any]:
    return {
        "_id": ringtone.id,
        "customer": ringtone.customer_id,
        "name": ringtone.name,
        "format": ringtone.format,
        "durationMs": ringtone.duration_ms,
        "size": ringtone.size,
        "sha256": ringtone.sha256,
        "created": iso_time(ringtone.created),
    }


def _name(request: web.Request) -> str:
    name = request.query.get("name", "Ringtone").strip()
    if not 1 <= len(name) <= _NAME_MAX or not name.isprintable():
        raise ApiError(422, "name", f"Name must be 1 to {_NAME_MAX} printable characters")
    return name


async def _body(request: web.Request) -> bytes:
    if request.content_type not in CONTENT_TYPES:
        raise ApiError(422, "file", "Upload the WAV file as the body, with Content-Type: audio/wav")
    too_large = ApiError(413, "file", f"Ringtone must be at most {wav.MAX_BYTES} bytes")
    if request.content_length is not None and request.content_length > wav.MAX_BYTES:
        raise too_large
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise too_large from None
    except web.RequestPayloadError:
        raise ApiError(400, "file", "Request body could not be read") from None


async def create_ringtone(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    principal.require(Level.MANAGER)
    name = _name(request)
    data = await _body(request)
    try:
        info = wav.parse(data)
    except wav.WavError as error:
        raise ApiError(422, "file", str(error)) from None
    async with request.app[appkeys.POOL].acquire() as conn:
        customer = await resolve_customer(conn, principal, request.query.get("customer"))
        ringtone = await queries.insert_ringtone(
            conn,
            customer_id=customer.id,
            name=name,
            format=info.format,
            duration_ms=info.duration_ms,
            sha256=hashlib.sha256(data).hexdigest(),
            content=data,
        )
    log.info("ringtone %s uploaded for customer %s (%s)", ringtone.id, customer.id, info.format)
    return json_response(ringtone_json(ringtone), status=201)


async def list_ringtones(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    principal.require(Level.VIEWER)
    limit, cursor = page_params(request)
    customer_id = query_id(request, "customer", "Customer not found or not active")
    async with request.app[appkeys.POOL].acquire() as conn:
        found = await queries.list_ringtones(
            conn, principal.scope, customer_id=customer_id, after=cursor, limit=limit
        )
    return json_response(page([ringtone_json(r) for r in found], limit))


async def _visible(
    conn: Any, request: web.Request, principal: Principal, *, lock: str | None = None
) -> Ringtone:
    ringtone_id = object_id(request.match_info["id"], description=RINGTONE_NOT_FOUND)
    ringtone = await queries.ringtone_by_id(conn, ringtone_id, lock=lock)
    if ringtone is None or not principal.sees(ringtone.customer_id):
        raise not_found(RINGTONE_NOT_FOUND)
    return ringtone


async def get_ringtone(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    principal.require(Level.VIEWER)
    async with request.app[appkeys.POOL].acquire() as conn:
        ringtone = await _visible(conn, request, principal)
    return json_response(ringtone_json(ringtone))


async def get_file(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    principal.require(Level.VIEWER)
    async with request.app[appkeys.POOL].acquire() as conn:
        ringtone = await _visible(conn, request, principal)
        content = await queries.ringtone_content(conn, ringtone.id, ringtone.customer_id)
    if content is None:
        raise not_found(RINGTONE_NOT_FOUND)
    return web.Response(body=content, headers={"Content-Type": "audio/wav"})


async def delete_ringtone(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    principal.require(Level.MANAGER)
    async with request.app[appkeys.POOL].acquire() as conn, conn.transaction():
        ringtone = await _visible(conn, request, principal, lock="update")
        users = await queries.phones_using(conn, ringtone.id)
        if users:
            noun = "phone uses" if users == 1 else "phones use"
            raise ApiError(409, "id", f"Ringtone is in use: {users} {noun} it as ringer.tone")
        await queries.delete_ringtone(conn, ringtone.id)
    log.info("ringtone %s deleted", ringtone.id)
    return json_response({"_id": ringtone.id, "deleted": True})


def setup(app: web.Application) -> None:
    app.router.add_post("/api/ringtones", create_ringtone)
    app.router.add_get("/api/ringtones", list_ringtones)
    app.router.add_get("/api/ringtones/{id}", get_ringtone)
    app.router.add_get("/api/ringtones/{id}/file", get_file)
    app.router.add_delete("/api/ringtones/{id}", delete_ringtone)
