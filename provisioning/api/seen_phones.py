"""`/api/phones`: every phone seen by the provisioning file server or known by MAC (001).

Tenancy: a MAC assigned to a SIP phone belongs to that phone's customer; a MAC nobody owns
(seen but unassigned) belongs to no tenant and is visible to ADMIN tokens only — showing
it to a customer would tell one tenant about another's hardware. Levels: VIEWER+ reads,
MANAGER+ acts (reprovision, reboot, reject); rejecting an unassigned MAC is ADMIN's.

Reprovision and reboot send SIP NOTIFY `Event: check-sync` (`;reboot=true`) to every
registered contact of the phone through the registrar (`hub.sip.check_sync`; with the node
link, also contacts another node or worker process holds) and answer with what each
contact replied, timed out, or that the phone is not registered.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from aiohttp import web

from db import provisioning as prov_db
from db import seen_phones as queries
from db.seen_phones import SeenPhone
from provisioning import appkeys
from provisioning.api.access import authenticate
from provisioning.api.common import json_response, read_json_object
from provisioning.auth import Level, Principal
from provisioning.errors import ApiError
from provisioning.fileserver.httpauth import provisioning_password
from provisioning.fileserver.macs import normalise_mac

_NOT_FOUND = "Phone not found"
_PAGE = 100
_MAX_PAGE = 500
REPROVISION_CONCURRENCY = 32


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def seen_json(item: SeenPhone, principal: Principal, key: bytes) -> dict[str, Any]:
    body: dict[str, Any] = {
        "mac": item.mac_address,
        "vendor": item.vendor,
        "model": item.model,
        "address": item.address,
        "user_agent": item.user_agent,
        "last_file": item.last_file,
        "fetch_count": item.fetch_count,
        "rejected": item.rejected,
        "first_seen": _iso(item.first_seen),
        "last_seen": _iso(item.last_seen),
        "assigned": item.phone_id is not None,
        "phone": item.phone_id,
        "customer": item.customer_id,
        "extension": item.extension_id,
        "phone_model": item.model_name,
    }
    if item.phone_id is not None and principal.level >= Level.MANAGER:
        body["provisioning_auth"] = {
            "username": item.mac_address,
            "password": provisioning_password(key, item.mac_address),
        }
    return {k: v for k, v in body.items() if v is not None}


def _mac(request: web.Request) -> str:
    mac = normalise_mac(request.match_info["mac"])
    if mac is None:
        raise ApiError(404, "mac", _NOT_FOUND)
    return mac


async def _visible(request: web.Request, principal: Principal, mac: str) -> SeenPhone:
    async with request.app[appkeys.POOL].acquire() as conn:
        item = await queries.get_seen(conn, mac, principal.scope)
    if item is None:
        raise ApiError(404, "mac", _NOT_FOUND)
    return item


async def list_phones(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    principal.require(Level.VIEWER)
    try:
        limit = int(request.query.get("limit", _PAGE))
    except ValueError:
        raise ApiError(422, "limit", "Limit must be a whole number") from None
    if not 1 <= limit <= _MAX_PAGE:
        raise ApiError(422, "limit", f"Limit must be between 1 and {_MAX_PAGE}")
    cursor = request.query.get("cursor")
    if cursor is not None and normalise_mac(cursor) is None:
        raise ApiError(422, "cursor", "Cursor is not valid")
    async with request.app[appkeys.POOL].acquire() as conn:
        items = await queries.list_seen(
            conn, principal.scope, after=cursor and normalise_mac(cursor), limit=limit
        )
    key = request.app[appkeys.SECRET_BOX].key
    next_cursor = items[-1].mac_address if len(items) == limit else None
    return json_response(
        {"items": [seen_json(i, principal, key) for i in items], "next": next_cursor}
    )


async def get_phone(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    principal.require(Level.VIEWER)
    item = await _visible(request, principal, _mac(request))
    return json_response(seen_json(item, principal, request.app[appkeys.SECRET_BOX].key))


async def get_assignee(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    principal.require(Level.VIEWER)
    mac = _mac(request)
    await _visible(request, principal, mac)
    async with request.app[appkeys.POOL].acquire() as conn:
        found = await queries.assignees(conn, mac, principal.scope)
    items = [
        {
            k: v
            for k, v in {
                "_id": a.phone_id,
                "customer": a.customer_id,
                "extension": a.extension_id,
                "extension_number": a.extension_number,
                "extension_name": a.extension_name,
                "phone_model": a.model_name,
                "handset_index": a.handset_index,
            }.items()
            if v is not None
        }
        for a in found
    ]
    return json_response({"mac": mac, "assigned": bool(items), "assignees": items})


async def reject_phone(request: web.Request) -> web.Response:
    """Reject (or, with `{"rejected": false}`, accept again) a MAC; its fetches get 403."""
    principal = await authenticate(request)
    principal.require(Level.MANAGER)
    mac = _mac(request)
    item = await _visible(request, principal, mac)
    if item.phone_id is None and principal.level < Level.ADMIN:
        raise ApiError(404, "mac", _NOT_FOUND)
    rejected = True
    if request.body_exists and request.content_length != 0:
        body = await read_json_object(request)
        if set(body) - {"rejected"}:
            raise ApiError(422, sorted(set(body) - {"rejected"})[0], "Unknown field")
        rejected = body.get("rejected", True)
        if not isinstance(rejected, bool):
            raise ApiError(422, "rejected", "Rejected must be a boolean")
    async with request.app[appkeys.POOL].acquire() as conn:
        await queries.set_rejected(conn, mac, rejected)
    return json_response({"mac": mac, "rejected": rejected})


def _sip_service(request: web.Request) -> Any:
    """What sends check-sync: the node link when there is one, which reaches contacts held
    by other nodes (or worker processes) of this database, else this node's registrar."""
    hub = request.app[appkeys.HUB]
    sip = hub.sip
    if sip is None or not hasattr(sip, "check_sync"):
        raise ApiError(503, "sip", "The SIP service is not running")
    return hub.node_link or sip


def outcome_json(outcome: Any) -> dict[str, Any]:
    """One contact's answer, whatever shape the registrar's ContactOutcome has."""
    if dataclasses.is_dataclass(outcome) and not isinstance(outcome, type):
        fields = dataclasses.asdict(outcome)
    elif isinstance(outcome, dict):
        fields = dict(outcome)
    else:
        fields = {k: getattr(outcome, k) for k in dir(outcome) if not k.startswith("_")}
    return {k: v for k, v in fields.items() if not callable(v)}


async def _check_sync(sip: Any, phone_id: str, reboot: bool) -> dict[str, Any]:
    outcomes = await sip.check_sync(phone_id, reboot=reboot)
    contacts = [outcome_json(item) for item in outcomes]
    return {"phone": phone_id, "registered": bool(contacts), "contacts": contacts}


async def _notify_mac(request: web.Request, reboot: bool) -> web.Response:
    principal = await authenticate(request)
    principal.require(Level.MANAGER)
    mac = _mac(request)
    await _visible(request, principal, mac)
    async with request.app[appkeys.POOL].acquire() as conn:
        phones = await queries.assignees(conn, mac, principal.scope)
    if not phones:
        raise ApiError(409, "mac", "Phone is not assigned to a SIP phone")
    sip = _sip_service(request)
    results = [await _check_sync(sip, item.phone_id, reboot) for item in phones]
    return json_response({"mac": mac, "reboot": reboot, "results": results})


async def reprovision_phone(request: web.Request) -> web.Response:
    return await _notify_mac(request, reboot=False)


async def reboot_phone(request: web.Request) -> web.Response:
    return await _notify_mac(request, reboot=True)


async def reprovision_all(request: web.Request) -> web.Response:
    """check-sync to every registered phone the token sees, at most 32 at a time."""
    principal = await authenticate(request)
    principal.require(Level.MANAGER)
    sip = _sip_service(request)
    async with request.app[appkeys.POOL].acquire() as conn:
        phone_ids = await prov_db.registered_phone_ids(conn, principal.scope)
    limit = asyncio.Semaphore(REPROVISION_CONCURRENCY)

    async def one(phone_id: str) -> dict[str, Any]:
        async with limit:
            return await _check_sync(sip, phone_id, False)

    results = await asyncio.gather(*(one(phone_id) for phone_id in phone_ids))
    summary: dict[str, int] = {}
    for result in results:
        for contact in result["contacts"]:
            key = str(contact.get("outcome", contact.get("result", "unknown"))).split(":")[0]
            summary[key] = summary.get(key, 0) + 1
    return json_response({"phones": len(results), "summary": summary, "results": results})


def setup(app: web.Application) -> None:
    app.router.add_get("/api/phones", list_phones)
    app.router.add_post("/api/phones/reprovision", reprovision_all)
    app.router.add_get("/api/phones/{mac}", get_phone)
    app.router.add_get("/api/phones/{mac}/assignee", get_assignee)
    app.router.add_post("/api/phones/{mac}/reprovision", reprovision_phone)
    app.router.add_post("/api/phones/{mac}/reboot", reboot_phone)
    app.router.add_post("/api/phones/{mac}/reject", reject_phone)
