"""`/api/tokens`: create (the token is returned once), list, update the name, revoke.

A caller can hand out tokens up to its own level and only within what it sees: an OWNER
for its own customer, a RESELLER for its customers, an ADMIN for anything. Only the
SHA-256 of a token is stored; the token itself is in the create response alone (the
dashboard shows it once) and is never logged.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp import web

from db import tokens as queries
from db.tokens import TokenRecord
from provisioning import appkeys
from provisioning.api.access import authenticate
from provisioning.api.common import OBJECT_ID, json_response, object_id, read_json_object
from provisioning.api.customers import check_keys, resolve_customer
from provisioning.auth import Level, Principal, hash_token, new_token, parse_level
from provisioning.errors import ApiError, access_denied, not_found

_TOKEN_NOT_FOUND = "Token not found"


def token_json(record: TokenRecord) -> dict[str, Any]:
    body: dict[str, Any] = {
        "_id": record.id,
        "level": record.level,
        "name": record.name,
        "created": record.created.isoformat(),
    }
    if record.customer_id:
        body["customer"] = record.customer_id
    if record.reseller_id:
        body["reseller"] = record.reseller_id
    if record.last_used:
        body["lastUsed"] = record.last_used.isoformat()
    return body


def _visible(principal: Principal, record: TokenRecord) -> bool:
    if principal.level is Level.ADMIN:
        return True
    if record.level == "RESELLER" or record.level == "ADMIN":
        return record.reseller_id is not None and record.reseller_id == principal.reseller_id
    return principal.sees(record.customer_id)


def _article(level: Level) -> str:
    return ("An " if level.name[0] in "AEIOU" else "A ") + level.name


def _not_for(body: dict[str, Any], field: str, level: Level) -> None:
    """A field that does not apply to the level asked for is refused, not ignored."""
    if body.get(field) is not None:
        raise ApiError(422, field, f"{_article(level)} token belongs to no {field}")


def _reseller_for(principal: Principal, value: Any) -> str:
    """The reseller of a RESELLER token: any for an ADMIN, else the caller's own."""
    if value is None and principal.reseller_id is not None:
        value = principal.reseller_id
    if value is None:
        raise ApiError(422, "reseller", "Reseller is required")
    if not isinstance(value, str) or not OBJECT_ID.match(value):
        raise ApiError(404, "reseller", "Reseller not found")
    reseller_id = value.lower()
    if principal.level is not Level.ADMIN and reseller_id != principal.reseller_id:
        raise ApiError(404, "reseller", "Reseller not found")
    return reseller_id


async def create_token(request: web.Request) -> web.Response:
    """Create a token (OWNER and above); its secret is in this response and nowhere else.

    A caller hands out tokens up to its own level, for what it sees: an OWNER for its own
    customer, a RESELLER for its customers and itself, an ADMIN for anything. Another
    tenant's customer answers 404, as one that does not exist.
    """
    principal = await authenticate(request)
    principal.require(Level.OWNER)
    body = await read_json_object(request)
    check_keys(body, {"level", "customer", "reseller", "name"})
    level = parse_level(body.get("level"))
    if level > principal.level:
        raise access_denied()
    name = body.get("name", "")
    if not isinstance(name, str) or len(name) > 200:
        raise ApiError(422, "name", "Name must be a string of at most 200 characters")
    customer_id = reseller_id = None
    async with request.app[appkeys.POOL].acquire() as conn:
        if level <= Level.OWNER:
            _not_for(body, "reseller", level)
            customer_id = (await resolve_customer(conn, principal, body.get("customer"))).id
        elif level is Level.RESELLER:
            _not_for(body, "customer", level)
            reseller_id = _reseller_for(principal, body.get("reseller"))
        else:
            _not_for(body, "customer", level)
            _not_for(body, "reseller", level)
        token = new_token()
        try:
            record = await queries.insert_token(
                conn,
                token_hash=hash_token(token),
                level=level.name,
                customer_id=customer_id,
                reseller_id=reseller_id,
                name=name,
            )
        except asyncpg.ForeignKeyViolationError:  # the reseller does not exist
            raise ApiError(404, "reseller", "Reseller not found") from None
    return json_response({**token_json(record), "token": token}, status=201)


async def list_tokens(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    principal.require(Level.OWNER)
    async with request.app[appkeys.POOL].acquire() as conn:
        records = await queries.list_tokens(conn)
    items = [token_json(r) for r in records if _visible(principal, r)]
    return json_response({"items": items, "next": None})


async def _visible_token(request: web.Request, principal: Principal) -> TokenRecord:
    token_id = object_id(request.match_info["id"], description=_TOKEN_NOT_FOUND)
    async with request.app[appkeys.POOL].acquire() as conn:
        record = await queries.token_by_id(conn, token_id)
    if record is None or not _visible(principal, record):
        raise not_found(_TOKEN_NOT_FOUND)
    return record


async def get_token(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    principal.require(Level.OWNER)
    return json_response(token_json(await _visible_token(request, principal)))


async def delete_token(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    principal.require(Level.OWNER)
    record = await _visible_token(request, principal)
    async with request.app[appkeys.POOL].acquire() as conn:
        await queries.delete_token(conn, record.id)
    return json_response({"_id": record.id, "deleted": True})


def setup(app: web.Application) -> None:
    app.router.add_post("/api/tokens", create_token)
    app.router.add_get("/api/tokens", list_tokens)
    app.router.add_get("/api/tokens/{id}", get_token)
    app.router.add_delete("/api/tokens/{id}", delete_token)
    app.router.add_post("/api/tokens/{id}/destroy", delete_token)
