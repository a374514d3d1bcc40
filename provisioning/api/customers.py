"""`/api/customers`: the tenants. ADMIN and RESELLER create them; every level reads its own.

Also the small helpers the other inventory routes share: list paging (`?limit=&cursor=`,
answered `{"items": […], "next": cursor}`) and resolving the `customer` of a create
(a single-customer token implies its own).
"""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp import web

from db import customers as queries
from db.customers import Customer
from provisioning import appkeys
from provisioning.api.access import authenticate
from provisioning.api.common import OBJECT_ID, json_response, object_id, read_json_object
from provisioning.auth import Level, Principal
from provisioning.errors import ApiError, access_denied, not_found

CUSTOMER_NOT_FOUND = "Customer not found or not active"
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def page_params(request: web.Request) -> tuple[int, str | None]:
    """`limit` (1..1000, default 100) and `cursor` (the last id of the previous page)."""
    raw_limit = request.query.get("limit", str(DEFAULT_LIMIT))
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
        raise ApiError(422, "limit", f"Limit must be a number from 1 to {MAX_LIMIT}")
    cursor = request.query.get("cursor")
    if cursor is not None and not OBJECT_ID.match(cursor):
        raise ApiError(422, "cursor", "Cursor is invalid")
    return int(raw_limit), None if cursor is None else cursor.lower()


def page(items: list[dict[str, Any]], limit: int) -> dict[str, Any]:
    """A full page carries the cursor of its last item; a short one ends the list."""
    following = items[-1]["_id"] if len(items) == limit else None
    return {"items": items, "next": following}


def query_id(request: web.Request, name: str, description: str) -> str | None:
    """An id filter from the query string, or 422 naming it."""
    value = request.query.get(name)
    if value is None:
        return None
    if not OBJECT_ID.match(value):
        raise ApiError(422, name, description)
    return value.lower()


async def resolve_customer(
    conn: asyncpg.Connection[Any], principal: Principal, value: Any
) -> Customer:
    """The customer a create is for: the body's `customer`, or the token's only one."""
    if value is None and principal.customer_ids is not None and len(principal.customer_ids) == 1:
        value = principal.customer_ids[0]
    if value is None:
        raise ApiError(422, "customer", "Customer is required")
    if not isinstance(value, str) or not OBJECT_ID.match(value):
        raise ApiError(404, "customer", CUSTOMER_NOT_FOUND)
    customer = await queries.customer_by_id(conn, value.lower())
    if customer is None or not customer.active or not principal.sees(customer.id):
        raise ApiError(404, "customer", CUSTOMER_NOT_FOUND)
    return customer


def check_keys(body: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ApiError(422, unknown[0], "Unknown field")


def text_field(body: dict[str, Any], name: str, *, max_length: int, required: bool) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > max_length:
        raise ApiError(422, name, f"Must be a non-empty string of at most {max_length} characters")
    return value.strip()


def customer_json(customer: Customer) -> dict[str, Any]:
    body: dict[str, Any] = {
        "_id": customer.id,
        "name": customer.name,
        "active": customer.active,
        "created": customer.created.isoformat(),
    }
    if customer.reseller_id:
        body["reseller"] = customer.reseller_id
    return body


async def create_customer(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    principal.require(Level.RESELLER)
    body = await read_json_object(request)
    check_keys(body, {"name", "active", "reseller"})
    name = text_field(body, "name", max_length=200, required=True)
    assert name is not None
    active = body.get("active", True)
    if not isinstance(active, bool):
        raise ApiError(422, "active", "Must be true or false")
    reseller = body.get("reseller", principal.reseller_id)
    async with request.app[appkeys.POOL].acquire() as conn:
        if principal.level is not Level.ADMIN and reseller != principal.reseller_id:
            raise access_denied()
        if reseller is not None and (
            not isinstance(reseller, str) or not await queries.reseller_exists(conn, reseller)
        ):
            raise ApiError(404, "reseller", "Reseller not found")
        customer = await queries.insert_customer(
            conn, name=name, reseller_id=reseller, active=active
        )
    return json_response(customer_json(customer), status=201)


async def list_customers(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    principal.require(Level.VIEWER)
    limit, cursor = page_params(request)
    async with request.app[appkeys.POOL].acquire() as conn:
        found = await queries.list_customers(conn, principal.scope, after=cursor, limit=limit)
    return json_response(page([customer_json(c) for c in found], limit))


async def _visible_customer(
    conn: asyncpg.Connection[Any], request: web.Request, principal: Principal
) -> Customer:
    customer_id = object_id(request.match_info["id"], description="Customer not found")
    customer = await queries.customer_by_id(conn, customer_id)
    if customer is None or not principal.sees(customer.id):
        raise not_found("Customer not found")
    return customer


async def get_customer(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    principal.require(Level.VIEWER)
    async with request.app[appkeys.POOL].acquire() as conn:
        customer = await _visible_customer(conn, request, principal)
    return json_response(customer_json(customer))


async def update_customer(request: web.Request) -> web.Response:
    """OWNER renames its customer; (de)activating takes RESELLER or ADMIN."""
    principal = await authenticate(request)
    principal.require(Level.OWNER)
    body = await read_json_object(request)
    check_keys(body, {"_id", "name", "active", "reseller", "created"})
    async with request.app[appkeys.POOL].acquire() as conn, conn.transaction():
        customer = await _visible_customer(conn, request, principal)
        if body.get("_id", customer.id) != customer.id:
            raise ApiError(422, "_id", "Id does not match the customer")
        name = text_field(body, "name", max_length=200, required=False) or customer.name
        active = body.get("active", customer.active)
        if not isinstance(active, bool):
            raise ApiError(422, "active", "Must be true or false")
        if body.get("reseller", customer.reseller_id) != customer.reseller_id:
            raise ApiError(422, "reseller", "The reseller of a customer cannot be changed here")
        if active != customer.active:
            principal.require(Level.RESELLER)
        updated = await queries.update_customer(conn, customer.id, name=name, active=active)
    assert updated is not None
    return json_response(customer_json(updated))


async def delete_customer(request: web.Request) -> web.Response:
    """Deleting a customer deletes its extensions, phones, groups and queues."""
    principal = await authenticate(request)
    principal.require(Level.RESELLER)
    async with request.app[appkeys.POOL].acquire() as conn, conn.transaction():
        customer = await _visible_customer(conn, request, principal)
        await queries.delete_customer(conn, customer.id)
    return json_response({"_id": customer.id, "deleted": True})


def setup(app: web.Application) -> None:
    app.router.add_post("/api/customers", create_customer)
    app.router.add_get("/api/customers", list_customers)
    app.router.add_get("/api/customers/{id}", get_customer)
    app.router.add_post("/api/customers/{id}", update_customer)
    app.router.add_delete("/api/customers/{id}", delete_customer)
