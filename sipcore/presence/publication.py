"""RFC 3903 event state publication (PUBLISH), the pure decision.

A PUBLISH without SIP-If-Match creates a publication (a body is required, §6 step 5);
with SIP-If-Match it refreshes (no body), modifies (a body) or removes (Expires: 0) the
publication that entity tag names (412 when none, §6 step 4). Every accepted PUBLISH gets
a new entity tag (§6 step 7) in a 200 with SIP-ETag and the granted Expires.

`Event: presence` carries PIDF (RFC 3863) from phones; `Event: dialog` carries
dialog-info (RFC 4235) from a PBX. `changes_for` turns a publication's old and new
document into state changes: a dialog that disappears from a dialog publication, or the
whole publication expiring, ends that call (terminated).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from sipcore.message import SipRequest, SipResponse, make_response
from sipcore.presence import dialog_info, pidf
from sipcore.presence.dialog_info import Dialog
from sipcore.presence.state import CallUpdate, Change, SetPresence
from sipcore.presence.subscription import SubscriptionError, grant_expires
from sipcore.presence.xmlbody import BodyError

EVENTS: dict[str, str] = {"presence": pidf.CONTENT_TYPE, "dialog": dialog_info.CONTENT_TYPE}
ALLOW_EVENTS = ", ".join(EVENTS)

Document = pidf.PresenceDoc | tuple[Dialog, ...]


class PublishKind(enum.Enum):
    CREATE = "create"
    REFRESH = "refresh"
    MODIFY = "modify"
    REMOVE = "remove"


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishAction:
    kind: PublishKind
    event: str
    expires: int
    if_match: str | None
    document: Document | None


def decide(
    *,
    event: str | None,
    content_type: str | None,
    if_match: str | None,
    expires: int | None,
    body: bytes,
    minimum: int,
    maximum: int,
    default: int,
) -> PublishAction:
    """What a PUBLISH asks for, or SubscriptionError with the status to answer."""
    package = (event or "").split(";", 1)[0].strip().lower()
    if package not in EVENTS:
        raise SubscriptionError(489, "Bad Event")
    granted = grant_expires(expires, minimum=minimum, maximum=maximum, default=default)
    if_match = (if_match or "").strip() or None
    if not body:
        if if_match is None:
            raise SubscriptionError(400, "Missing Body")  # §6 step 5: initial needs state
        kind = PublishKind.REMOVE if granted == 0 else PublishKind.REFRESH
        return PublishAction(kind=kind, event=package, expires=granted, if_match=if_match,
                             document=None)  # fmt: skip
    if granted == 0:
        if if_match is None:
            raise SubscriptionError(400, "Expires 0 Without SIP-If-Match")
        return PublishAction(kind=PublishKind.REMOVE, event=package, expires=0,
                             if_match=if_match, document=None)  # fmt: skip
    wanted = EVENTS[package]
    if (content_type or "").split(";", 1)[0].strip().lower() != wanted:
        raise SubscriptionError(415, "Unsupported Media Type")
    try:
        document: Document = (
            pidf.parse_pidf(body) if package == "presence" else dialog_info.parse_dialog_info(body)
        )
    except BodyError as exc:
        raise SubscriptionError(400, f"Bad Body: {exc}"[:80]) from None
    kind = PublishKind.CREATE if if_match is None else PublishKind.MODIFY
    return PublishAction(kind=kind, event=package, expires=granted, if_match=if_match,
                         document=document)  # fmt: skip


def changes_for(event: str, old: Document | None, new: Document | None) -> list[Change]:
    """State changes when a publication goes from `old` to `new` (None: gone)."""
    if event == "presence":
        assert new is None or isinstance(new, pidf.PresenceDoc)
        return [SetPresence(presence=new)]
    old_dialogs = old if isinstance(old, tuple) else ()
    new_dialogs = new if isinstance(new, tuple) else ()
    kept = {item.call_id or item.id for item in new_dialogs}
    changes: list[Change] = [
        CallUpdate(dialog=Dialog(id=item.id, state="terminated", direction=item.direction,
                                 call_id=item.call_id, remote=item.remote))
        for item in old_dialogs
        if (item.call_id or item.id) not in kept and item.state != "terminated"
    ]  # fmt: skip
    changes.extend(CallUpdate(dialog=item) for item in new_dialogs)
    return changes


def document_to_json(document: Document) -> dict[str, Any]:
    if isinstance(document, pidf.PresenceDoc):
        return {"basic": document.basic, "note": document.note, "dnd": document.dnd,
                "onThePhone": document.on_the_phone}  # fmt: skip
    return {
        "dialogs": [
            {"id": d.id, "state": d.state, "direction": d.direction, "callId": d.call_id,
             "remote": d.remote}
            for d in document
        ]
    }  # fmt: skip


def document_from_json(event: str, data: dict[str, Any]) -> Document:
    if event == "presence":
        return pidf.PresenceDoc(basic=data["basic"], note=data.get("note"),
                                dnd=bool(data.get("dnd")),
                                on_the_phone=bool(data.get("onThePhone")))  # fmt: skip
    return tuple(
        Dialog(id=d["id"], state=d["state"], direction=d.get("direction"),
               call_id=d.get("callId"), remote=d.get("remote"))
        for d in data.get("dialogs", [])
    )  # fmt: skip


def refusal(request: SipRequest, error: SubscriptionError, *, min_expires: int) -> SipResponse:
    """The answer to a PUBLISH refused with `error` (RFC 3903 §6): Allow-Events with 489,
    Min-Expires with 423, Accept (the package's body type) with 415."""
    headers = []
    if error.status == 489:
        headers.append(("Allow-Events", ALLOW_EVENTS))
    if error.status == 423:
        headers.append(("Min-Expires", str(min_expires)))
    if error.status == 415:
        event = (request.header("Event") or "").split(";", 1)[0].strip().lower()
        headers.append(("Accept", EVENTS.get(event, "")))
    return make_response(request, error.status, error.reason, headers=headers)


def published(request: SipRequest, *, etag: str, expires: int) -> SipResponse:
    """The 200 to an accepted PUBLISH (RFC 3903 §6): its new entity tag, granted expiry."""
    return make_response(request, 200, headers=[("SIP-ETag", etag), ("Expires", str(expires))])
