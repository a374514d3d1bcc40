"""`POST /api/presence/{number}`: call state pushed by the PBX that carries the calls.

Body:

    {"state": "trying" | "early" | "confirmed" | "terminated",   RFC 4235 dialog state
     "direction": "initiator" | "recipient",                       optional
     "remote": "sip:…",                                            optional, the other party
     "callId": "…",                                                optional, see below
     "customer": "<id>",               when the token sees several customers with the number
     "voicemail": {"new": 2, "old": 5}}                             optional, RFC 3842 MWI

`state` or `voicemail` (or both) must be given. With `callId` each call is tracked on its
own, and a late update of a call that already ended (an `early` after `terminated`) is
dropped (`"applied": false`). Without `callId` the update is about the extension's line
as a whole: `terminated` ends every call of the extension.

MANAGER and above. Answers 200 `{"extension", "customer", "applied", "seq", "online",
"calls": [{"callId", "state", "direction", "remote"}]}`; an unknown number (or one of
another tenant) is 404 `not_found`.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from db import presence as pdb
from provisioning import appkeys
from provisioning.api.access import authenticate
from provisioning.api.common import json_response, read_json_object
from provisioning.auth import Level
from provisioning.errors import ApiError, not_found, raise_collected
from sipcore.presence.dialog_info import DIALOG_STATES, DIRECTIONS, DialogInfoError
from sipcore.presence.mwi import SummaryError, Voicemail
from sipcore.presence.state import (
    CallUpdate,
    Change,
    ExtensionState,
    SetVoicemail,
    state_from_json,
)
from sipcore.server.presence.service import commit_change, parse_call_update, record_event

NUMBER = re.compile(r"^[0-9]{3,64}$")
URI = re.compile(r"^(sips?|tel):[^\s<>\"]{1,250}$")
FIELDS = {"state", "direction", "remote", "callId", "customer", "voicemail"}
_NOT_FOUND = "Extension not found"


def _validate(body: dict[str, Any]) -> list[Change]:
    errors: list[ApiError] = []
    errors += [ApiError(422, name, "Unknown field") for name in sorted(set(body) - FIELDS)]
    state = body.get("state")
    if state is not None and state not in DIALOG_STATES:
        errors.append(ApiError(422, "state", "State must be one of " + ", ".join(DIALOG_STATES)))
    if state is None and "voicemail" not in body:
        errors.append(ApiError(422, "state", "State is required"))
    direction = body.get("direction")
    if direction is not None and direction not in DIRECTIONS:
        errors.append(ApiError(422, "direction", "Direction must be initiator or recipient"))
    remote = body.get("remote")
    if remote is not None and (not isinstance(remote, str) or not URI.match(remote)):
        errors.append(ApiError(422, "remote", "Remote must be a sip:, sips: or tel: URI"))
    call_id = body.get("callId")
    if call_id is not None and (not isinstance(call_id, str) or not 0 < len(call_id) <= 256):
        errors.append(ApiError(422, "callId", "Call id must be a string of 1 to 256 characters"))
    changes: list[Change] = []
    voicemail = body.get("voicemail")
    if voicemail is not None:
        try:
            if not isinstance(voicemail, dict) or set(voicemail) - {"new", "old"}:
                raise SummaryError("voicemail must be an object with new and old")
            changes.append(SetVoicemail(voicemail=Voicemail(**voicemail)))
        except SummaryError as exc:
            errors.append(ApiError(422, "voicemail", f"Voicemail: {exc}"))
    raise_collected(errors)
    if state is not None:
        try:
            changes.insert(0, CallUpdate(dialog=parse_call_update(body)))
        except (DialogInfoError, ValueError):
            raise ApiError(422, "state", "Call state is invalid") from None
    return changes


async def _extension(request: web.Request, body: dict[str, Any], conn: Any) -> pdb.ExtensionRef:
    principal = await authenticate(request)
    principal.require(Level.MANAGER)
    number = request.match_info["number"]
    if not NUMBER.match(number):
        raise not_found(_NOT_FOUND)
    customer = body.get("customer")
    if customer is not None and (not isinstance(customer, str) or not principal.sees(customer)):
        raise ApiError(404, "customer", "Customer not found")
    scope = [customer] if customer else principal.scope
    found = await pdb.extensions_by_number(conn, number, scope)
    if not found:
        raise not_found(_NOT_FOUND)
    if len(found) > 1:
        raise ApiError(422, "customer", f"Several customers have extension {number}; give customer")
    return found[0]


def _calls(state: ExtensionState) -> list[dict[str, Any]]:
    return [
        {"callId": d.call_id, "state": d.state, "direction": d.direction, "remote": d.remote}
        for d in state.dialogs
    ]


async def push_presence(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    service = request.app[appkeys.HUB].presence
    applied = False
    latest: ExtensionState | None = None
    async with request.app[appkeys.POOL].acquire() as conn:  # one connection throughout
        extension = await _extension(request, body, conn)
        for change in _validate(body):
            if service is not None:
                new = await service.change(extension, change, conn=conn)
            else:  # no presence service here: commit; serving nodes hear it on LISTEN
                async with conn.transaction():
                    new = await commit_change(conn, extension, change)
                    if new is not None:
                        await record_event(conn, extension, new)
            applied = applied or new is not None
            latest = new or latest
        if latest is None:
            stored = await pdb.load_state(conn, extension.id)
            latest = state_from_json(extension.id, stored.seq, stored.state) if stored else None
    return json_response(
        {
            "extension": extension.number,
            "customer": extension.customer_id,
            "applied": applied,
            "seq": latest.seq if latest else 0,
            "online": latest.online if latest else False,
            "calls": _calls(latest) if latest else [],
        }
    )


def setup(app: web.Application) -> None:
    app.router.add_post("/api/presence/{number}", push_presence)
