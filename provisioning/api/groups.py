"""`/api/pickupgroups` and `/api/queues`: the targets of PICKUPGROUP and QUEUE soft keys.

Minimal on purpose (create, list, get, delete): enough for 003's soft-key rules, where a
PICKUPGROUP key needs an existing group of the phone's customer on which the phone's
extension is a controller member, and a QUEUE key an existing queue of that customer.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from aiohttp import web

from db import extensions as extension_queries
from db import groups as queries
from db.groups import GroupMember, PickupGroup, Queue
from provisioning import appkeys
from provisioning.api.access import authenticate
from provisioning.api.common import json_response, object_id, read_json_object
from provisioning.api.customers import (
    check_keys,
    page,
    page_params,
    query_id,
    resolve_customer,
    text_field,
)
from provisioning.auth import Level, Principal
from provisioning.errors import ApiError, not_found, raise_collected

_NUMBER = re.compile(r"^[0-9*#]{0,64}$")
GROUP_NOT_FOUND = "Group not found"
QUEUE_NOT_FOUND = "Queue not found"


def group_json(group: PickupGroup) -> dict[str, Any]:
    return {
        "_id": group.id,
        "customer": group.customer_id,
        "name": group.name,
        "number": group.number,
        "members": [
            {"extension": m.extension_id, "controller": m.controller} for m in group.members
        ],
    }


def queue_json(queue: Queue) -> dict[str, Any]:
    return {
        "_id": queue.id,
        "customer": queue.customer_id,
        "name": queue.name,
        "number": queue.number,
    }


def _number(body: dict[str, Any]) -> str:
    value = body.get("number", "")
    if not isinstance(value, str) or not _NUMBER.match(value):
        raise ApiError(422, "number", "Number must be up to 64 digits, '*' or '#'")
    return value


def _parse_members(value: Any) -> list[GroupMember]:
    if not isinstance(value, list) or len(value) > 500:
        raise ApiError(422, "members", "Members must be an array of at most 500 objects")
    members: dict[str, GroupMember] = {}
    errors = []
    for position, item in enumerate(value):
        path = f"members[{position}]"
        if not isinstance(item, dict) or set(item) - {"extension", "controller"}:
            errors.append(ApiError(422, path, "Must be {extension, controller}"))
            continue
        extension, controller = item.get("extension"), item.get("controller", False)
        if not isinstance(extension, str) or not re.match(r"^[0-9a-fA-F]{24}$", extension):
            errors.append(ApiError(404, f"{path}.extension", "Extension not found"))
        elif not isinstance(controller, bool):
            errors.append(ApiError(422, f"{path}.controller", "Must be true or false"))
        else:
            members[extension.lower()] = GroupMember(
                extension_id=extension.lower(), controller=controller
            )
    raise_collected(errors)
    return list(members.values())


async def _check_members(
    conn: asyncpg.Connection[Any], customer_id: str, members: list[GroupMember]
) -> None:
    found = await extension_queries.extensions_by_ids(conn, [m.extension_id for m in members])
    errors = [
        ApiError(404, f"members[{i}].extension", "Extension not found")
        for i, member in enumerate(members)
        if member.extension_id not in found or found[member.extension_id].customer_id != customer_id
    ]
    raise_collected(errors)


async def create_group(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    principal.require(Level.MANAGER)
    body = await read_json_object(request)
    check_keys(body, {"customer", "name", "number", "members"})
    name = text_field(body, "name", max_length=200, required=True)
    number = _number(body)
    members = _parse_members(body.get("members", []))
    async with request.app[appkeys.POOL].acquire() as conn, conn.transaction():
        customer = await resolve_customer(conn, principal, body.get("customer"))
        await _check_members(conn, customer.id, members)
        group = await queries.insert_group(
            conn, customer_id=customer.id, name=name or "", number=number, members=members
        )
    return json_response(group_json(group), status=201)


async def create_queue(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    principal.require(Level.MANAGER)
    body = await read_json_object(request)
    check_keys(body, {"customer", "name", "number"})
    name = text_field(body, "name", max_length=200, required=True)
    number = _number(body)
    async with request.app[appkeys.POOL].acquire() as conn:
        customer = await resolve_customer(conn, principal, body.get("customer"))
        queue = await queries.insert_queue(
            conn, customer_id=customer.id, name=name or "", number=number
        )
    return json_response(queue_json(queue), status=201)


async def list_groups(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    principal.require(Level.VIEWER)
    limit, cursor = page_params(request)
    customer_id = query_id(request, "customer", "Customer id is invalid")
    async with request.app[appkeys.POOL].acquire() as conn:
        found = await queries.list_groups(
            conn, principal.scope, customer_id=customer_id, after=cursor, limit=limit
        )
    return json_response(page([group_json(g) for g in found], limit))


async def list_queues(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    principal.require(Level.VIEWER)
    limit, cursor = page_params(request)
    customer_id = query_id(request, "customer", "Customer id is invalid")
    async with request.app[appkeys.POOL].acquire() as conn:
        found = await queries.list_queues(
            conn, principal.scope, customer_id=customer_id, after=cursor, limit=limit
        )
    return json_response(page([queue_json(q) for q in found], limit))


Loader = Callable[["asyncpg.Connection[Any]", str], Awaitable[PickupGroup | Queue | None]]


async def _visible(
    conn: asyncpg.Connection[Any],
    request: web.Request,
    principal: Principal,
    load: Loader,
    description: str,
) -> PickupGroup | Queue:
    item_id = object_id(request.match_info["id"], description=description)
    item = await load(conn, item_id)
    if item is None or not principal.sees(item.customer_id):
        raise not_found(description)
    return item


async def get_group(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    principal.require(Level.VIEWER)
    async with request.app[appkeys.POOL].acquire() as conn:
        group = await _visible(conn, request, principal, queries.group_by_id, GROUP_NOT_FOUND)
    assert isinstance(group, PickupGroup)
    return json_response(group_json(group))


async def get_queue(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    principal.require(Level.VIEWER)
    async with request.app[appkeys.POOL].acquire() as conn:
        queue = await _visible(conn, request, principal, queries.queue_by_id, QUEUE_NOT_FOUND)
    assert isinstance(queue, Queue)
    return json_response(queue_json(queue))


async def delete_group(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    principal.require(Level.MANAGER)
    async with request.app[appkeys.POOL].acquire() as conn, conn.transaction():
        group = await _visible(conn, request, principal, queries.group_by_id, GROUP_NOT_FOUND)
        await queries.delete_group(conn, group.id)
    return json_response({"_id": group.id, "deleted": True})


async def delete_queue(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    principal.require(Level.MANAGER)
    async with request.app[appkeys.POOL].acquire() as conn, conn.transaction():
        queue = await _visible(conn, request, principal, queries.queue_by_id, QUEUE_NOT_FOUND)
        await queries.delete_queue(conn, queue.id)
    return json_response({"_id": queue.id, "deleted": True})


def setup(app: web.Application) -> None:
    app.router.add_post("/api/pickupgroups", create_group)
    app.router.add_get("/api/pickupgroups", list_groups)
    app.router.add_get("/api/pickupgroups/{id}", get_group)
    app.router.add_delete("/api/pickupgroups/{id}", delete_group)
    app.router.add_post("/api/queues", create_queue)
    app.router.add_get("/api/queues", list_queues)
    app.router.add_get("/api/queues/{id}", get_queue)
    app.router.add_delete("/api/queues/{id}", delete_queue)
