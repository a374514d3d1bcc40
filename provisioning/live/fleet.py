"""The dashboard's reads: counts per customer, phones with live status, latest events.

All VIEWER and above, scoped to the caller's tenant like every other route.
`GET /api/fleet/phones` pages by id (`next` is the cursor for `?after=`), and filters by
`customer`, `state` (online|offline|unreachable), `q` (substring of MAC, extension,
name, customer, model, user agent or address) and `ids` (comma-separated, at most
`MAX_IDS`, which is how the page refreshes the rows an event names).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from db import events as event_queries
from db import fleet as queries
from db.fleet import STATES, FleetPhone, PhoneFilter
from provisioning import appkeys
from provisioning.api.access import authenticate
from provisioning.api.common import OBJECT_ID, json_response
from provisioning.auth import Level
from provisioning.errors import ApiError, raise_collected

DEFAULT_LIMIT = 500
MAX_LIMIT = 5000
MAX_IDS = 200
MAX_EVENTS = 500


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def phone_json(phone: FleetPhone, now: datetime) -> dict[str, Any]:
    """A phone with the reference's status block plus what an operator scans for."""
    online = phone.state != "offline"
    expires = -1
    if online and phone.expires_at is not None:
        expires = max(0, int((phone.expires_at - now).total_seconds()))
    return {
        "_id": phone.id,
        "customer": phone.customer_id,
        "customerName": phone.customer_name,
        "macAddress": phone.mac_address,
        "handsetIndex": phone.handset_index,
        "extension": phone.extension,
        "extensionName": phone.extension_name,
        "model": phone.model,
        "vendor": phone.vendor,
        "ipMode": phone.ip_mode,
        "ipAddress": phone.locked_address,
        "state": phone.state,
        "status": {
            "online": online,
            "unreachable": phone.state == "unreachable",
            "expires": expires,
            "expiresAt": _iso(phone.expires_at) if online else None,
            "localIpAddress": phone.local_ip,
            "publicIpAddress": phone.public_ip,
            "userAgent": phone.user_agent,
            "transport": phone.transport,
            "configLoaded": _iso(phone.config_loaded),
            "updated": _iso(phone.status_updated),
        },
    }


def _int_param(request: web.Request, name: str, default: int, maximum: int) -> int:
    text = request.query.get(name)
    if text is None:
        return default
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= maximum:
        raise ApiError(422, name, f"{name} must be a whole number from 1 to {maximum}")
    return int(text)


def _phone_filter(request: web.Request, scope: list[str] | None) -> PhoneFilter:
    """The query's filters, every bad one reported at once."""
    query = request.query
    errors: list[ApiError] = []
    after, customer = query.get("after") or None, query.get("customer") or None
    for name, value in (("after", after), ("customer", customer)):
        if value is not None and not OBJECT_ID.match(value):
            errors.append(ApiError(422, name, f"{name} must be an object id"))
    state = query.get("state") or None
    if state is not None and state not in STATES:
        errors.append(ApiError(422, "state", "state must be one of " + ", ".join(STATES)))
    ids = [item for item in query.get("ids", "").split(",") if item] or None
    if ids is not None and (len(ids) > MAX_IDS or not all(OBJECT_ID.match(i) for i in ids)):
        errors.append(ApiError(422, "ids", f"ids must be at most {MAX_IDS} object ids"))
    search = query.get("q", "").strip() or None
    if search is not None and (len(search) > 100 or not search.isprintable()):
        errors.append(ApiError(422, "q", "q must be at most 100 printable characters"))
    raise_collected(errors)
    return PhoneFilter(
        scope=scope,
        after=after.lower() if after else None,
        customer_id=customer.lower() if customer else None,
        state=state,
        phone_ids=[i.lower() for i in ids] if ids else None,
        search=search,
    )


async def list_phones(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    principal.require(Level.VIEWER)
    limit = _int_param(request, "limit", DEFAULT_LIMIT, MAX_LIMIT)
    where = _phone_filter(request, principal.scope)
    async with request.app[appkeys.POOL].acquire() as conn:
        phones = await queries.fleet_phones(conn, where, limit + 1)
    now = datetime.now(UTC)
    more = len(phones) > limit
    phones = phones[:limit]
    return json_response(
        {
            "items": [phone_json(phone, now) for phone in phones],
            "next": phones[-1].id if more else None,
            "time": _iso(now),
        }
    )


async def summary(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    principal.require(Level.VIEWER)
    async with request.app[appkeys.POOL].acquire() as conn:
        counts = await queries.customer_counts(conn, principal.scope)
    items: list[dict[str, Any]] = [
        {
            "customer": item.customer_id,
            "name": item.customer_name,
            "total": item.total,
            "online": item.online,
            "offline": item.offline,
            "unreachable": item.unreachable,
        }
        for item in counts
    ]
    totals = {key: sum(int(item[key]) for item in items) for key in ("total", *STATES)}
    return json_response({"items": items, "totals": totals, "next": None})


async def latest(request: web.Request) -> web.Response:
    """The latest visible events, oldest first; the page resumes its stream after them."""
    principal = await authenticate(request)
    principal.require(Level.VIEWER)
    limit = _int_param(request, "limit", 100, MAX_EVENTS)
    async with request.app[appkeys.POOL].acquire() as conn:
        events = await event_queries.latest_events(conn, principal.scope, limit)
        newest = await event_queries.latest_events(conn, None, 1)
    return json_response(
        {
            "items": [event.as_json() for event in events],
            # resume the stream from the end of the whole log, not of the visible part
            "lastEventId": newest[-1].id if newest else 0,
        }
    )


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/api/fleet/summary", summary)
    app.router.add_get("/api/fleet/phones", list_phones)
    app.router.add_get("/api/fleet/events", latest)
