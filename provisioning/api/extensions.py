"""`/api/extensions`: a customer's numbers (`[0-9]{3,64}`, unique per customer) and names.

Reading takes VIEWER, writing MANAGER; another tenant's extension is a 404 like a
missing one.
"""

from __future__ import annotations

import re
from typing import Any

import asyncpg
from aiohttp import web

from db import extensions as queries
from db.extensions import DuplicateNumberError, Extension
from provisioning import appkeys
from provisioning.api.access import authenticate
from provisioning.api.common import json_response, object_id, read_json_object
from provisioning.api.customers import (
    check_keys,
    page,
    page_params,
    query_id,
    resolve_customer,
)
from provisioning.auth import Level, Principal
from provisioning.errors import ApiError, not_found

NUMBER = re.compile(r"^[0-9]{3,64}$")
EXTENSION_NOT_FOUND = "Extension not found"


def extension_json(extension: Extension) -> dict[str, Any]:
    return {
        "_id": extension.id,
        "customer": extension.customer_id,
        "number": extension.number,
        "name": extension.name,
        "created": extension.created.isoformat(),
    }


def _number(value: Any) -> str:
    if not isinstance(value, str) or not NUMBER.match(value):
        raise ApiError(422, "number", "Extension number must be 3 to 64 digits")
    return value


def _name(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 200:
        raise ApiError(422, "name", "Name must be a string of at most 200 characters")
    return value


def _duplicate() -> ApiError:
    return ApiError(409, "number", "An extension with this number already exists")


async def create_extension(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    principal.require(Level.MANAGER)
    body = await read_json_object(request)
    check_keys(body, {"customer", "number", "name"})
    number = _number(body.get("number"))
    name = _name(body.get("name", ""))
    async with request.app[appkeys.POOL].acquire() as conn:
        customer = await resolve_customer(conn, principal, body.get("customer"))
        try:
            extension = await queries.insert_extension(
                conn, customer_id=customer.id, number=number, name=name
            )
        except DuplicateNumberError:
            raise _duplicate() from None
    return json_response(extension_json(extension), status=201)


async def list_extensions(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    principal.require(Level.VIEWER)
    limit, cursor = page_params(request)
    customer_id = query_id(request, "customer", "Customer id is invalid")
    number = request.query.get("number")
    if number is not None:
        number = _number(number)
    async with request.app[appkeys.POOL].acquire() as conn:
        found = await queries.list_extensions(
            conn, principal.scope, customer_id=customer_id, number=number, after=cursor, limit=limit
        )
    return json_response(page([extension_json(e) for e in found], limit))


async def _visible_extension(
    conn: asyncpg.Connection[Any], request: web.Request, principal: Principal
) -> Extension:
    extension_id = object_id(request.match_info["id"], description=EXTENSION_NOT_FOUND)
    extension = await queries.extension_by_id(conn, extension_id)
    if extension is None or not principal.sees(extension.customer_id):
        raise not_found(EXTENSION_NOT_FOUND)
    return extension


async def get_extension(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    principal.require(Level.VIEWER)
    async with request.app[appkeys.POOL].acquire() as conn:
        extension = await _visible_extension(conn, request, principal)
    return json_response(extension_json(extension))


async def update_extension(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    principal.require(Level.MANAGER)
    body = await read_json_object(request)
    check_keys(body, {"_id", "customer", "number", "name", "created"})
    async with request.app[appkeys.POOL].acquire() as conn, conn.transaction():
        extension = await _visible_extension(conn, request, principal)
        if body.get("_id", extension.id) != extension.id:
            raise ApiError(422, "_id", "Id does not match the extension")
        if body.get("customer", extension.customer_id) != extension.customer_id:
            raise ApiError(422, "customer", "An extension cannot move to another customer")
        number = _number(body.get("number", extension.number))
        name = _name(body.get("name", extension.name))
        try:
            updated = await queries.update_extension(conn, extension.id, number=number, name=name)
        except DuplicateNumberError:
            raise _duplicate() from None
    assert updated is not None
    return json_response(extension_json(updated))


async def delete_extension(request: web.Request) -> web.Response:
    """The extension's phones stay, unassigned (extension null)."""
    principal = await authenticate(request)
    principal.require(Level.MANAGER)
    async with request.app[appkeys.POOL].acquire() as conn, conn.transaction():
        extension = await _visible_extension(conn, request, principal)
        await queries.delete_extension(conn, extension.id)
    return json_response({"_id": extension.id, "deleted": True})


def setup(app: web.Application) -> None:
    app.router.add_post("/api/extensions", create_extension)
    app.router.add_get("/api/extensions", list_extensions)
    app.router.add_get("/api/extensions/{id}", get_extension)
    app.router.add_post("/api/extensions/{id}", update_extension)
    app.router.add_delete("/api/extensions/{id}", delete_extension)
