"""`/api/tokens`: create (the token is returned once), list, update the name, revoke.

A caller can hand out tokens up to its own level and only within what it sees: an OWNER
for its own customer, a RESELLER for its customers, an ADMIN for anything.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from db import tokens as queries
from db.tokens import TokenRecord
from provisioning import appkeys
from provisioning.api.common import json_response, object_id, read_json_object
from provisioning.app import authenticate
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


async def create_token(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    principal.require(Level.OWNER)
    body = await read_json_object(request)
    unknown = set(body) - {"level", "customer", "reseller", "name"}
    if unknown:
        raise ApiError(422, sorted(unknown)[0], "Unknown field")
    level = parse_level(body.get("level"))
    if level > principal.level:
        raise access_denied()
    name = body.get("name", "")
    if not isinstance(name, str) or len(name) > 200:
        raise ApiError(422, "name", "Name must be a string of at most 200 characters")
    customer_id = body.get("customer", principal.customer_id)
    reseller_id = body.get("reseller", principal.reseller_id)
    if level in (Level.VIEWER, Level.MANAGER, Level.OWNER):
        if not isinstance(customer_id, str) or not principal.sees(customer_id):
            raise ApiError(404, "customer", "Customer not found or not active")
        reseller_id = None
    elif level is Level.RESELLER:
        if not isinstance(reseller_id, str) or (
            principal.level is not Level.ADMIN and reseller_id != principal.reseller_id
        ):
            raise ApiError(404, "reseller", "Reseller not found")
        customer_id = None
    else:
        customer_id = reseller_id = None
    token = new_token()
    async with request.app[appkeys.POOL].acquire() as conn:
        try:
            record = await queries.insert_token(
                conn,
                token_hash=hash_token(token),
                level=level.name,
                customer_id=customer_id,
                reseller_id=reseller_id,
                name=name,
            )
        except Exception as exc:  # foreign key: the customer or reseller does not exist
            if type(exc).__name__ == "ForeignKeyViolationError":
                field = "customer" if customer_id else "reseller"
                raise ApiError(404, field, f"{field.capitalize()} not found") from None
            raise
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
