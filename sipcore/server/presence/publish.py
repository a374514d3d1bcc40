"""PUBLISH (RFC 3903) for the presence service: create, refresh, modify, remove and expire
publications, each turned into extension state changes (`sipcore.presence.publication`
decides; this module stores and commits; the service fans out).

`Event: presence` from a phone is accepted for its own extension only; `Event: dialog`
(a PBX's call state) for any extension of the publisher's customer, since sipfleet has
no separate PBX identity: any authenticated device of the customer may publish it.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from db import presence as pdb
from sipcore import metrics
from sipcore.errors import SipParseError
from sipcore.message import SipRequest, SipResponse, make_response
from sipcore.presence import publication
from sipcore.presence.state import Change, ExtensionState
from sipcore.presence.subscription import SubscriptionError
from sipcore.server.context import RequestContext
from sipcore.server.presence import (
    service as presence_service,  # a cycle: names are used at call time
)


async def on_publish(
    service: presence_service.PresenceService, request: SipRequest, ctx: RequestContext
) -> SipResponse | None:
    outcome = await service.sip.authenticate(request, ctx)
    if outcome.phone is None:
        return outcome.response
    try:
        return await _publish(service, request, outcome.phone)
    except SubscriptionError as exc:
        metrics.PUBLISHES.labels("sip", "rejected").inc()
        headers = []
        if exc.status == 489:
            headers.append(("Allow-Events", publication.ALLOW_EVENTS))
        if exc.status == 423:
            headers.append(("Min-Expires", str(service.config.min_expires)))
        if exc.status == 415:
            event = (request.header("Event") or "").split(";", 1)[0].strip().lower()
            headers.append(("Accept", publication.EVENTS.get(event, "")))
        return make_response(request, exc.status, exc.reason, headers=headers)
    except SipParseError as exc:
        return make_response(request, 400, f"Bad Request ({exc})"[:80])


async def _publish(
    service: presence_service.PresenceService, request: SipRequest, phone: Any
) -> SipResponse:
    cfg = service.config
    action = publication.decide(
        event=request.header("Event"),
        content_type=request.header("Content-Type"),
        if_match=request.header("SIP-If-Match"),
        expires=request.expires(),
        body=request.body,
        minimum=cfg.min_expires,
        maximum=cfg.max_expires,
        default=cfg.default_expires,
    )
    ext = await service._target(request.request_uri().user, phone.customer_id, phone)
    if ext is None:
        raise SubscriptionError(404, "Not Found")
    if action.event == "presence" and phone.extension_id != ext.id:
        raise SubscriptionError(403, "Presence Only For Own Extension")
    etag = secrets.token_hex(10)
    expires_at = datetime.now(UTC) + timedelta(seconds=action.expires)
    async with service.pool.acquire() as conn, conn.transaction():
        changes = await _store_publication(service, conn, action, ext, phone.phone_id, etag,
                                                expires_at)  # fmt: skip
        states = [await presence_service.commit_change(conn, ext, change) for change in changes]
    for state in states:
        if state is not None:
            service._apply_state(state)
    service._spawn(service._record(ext, states))
    metrics.PUBLISHES.labels("sip", "ok").inc()
    return make_response(
        request, 200, headers=[("SIP-ETag", etag), ("Expires", str(action.expires))]
    )


async def _store_publication(
    service: presence_service.PresenceService,
    conn: asyncpg.Connection[Any],
    action: publication.PublishAction,
    ext: pdb.ExtensionRef,
    phone_id: str,
    etag: str,
    expires_at: datetime,
) -> list[Change]:
    kind = action.kind
    if kind is publication.PublishKind.CREATE:
        assert action.document is not None
        await pdb.insert_publication(
            conn, etag=etag, extension_id=ext.id, event=action.event, phone_id=phone_id,
            document=publication.document_to_json(action.document), expires_at=expires_at,
        )  # fmt: skip
        return publication.changes_for(action.event, None, action.document)
    assert action.if_match is not None
    pub = await pdb.lock_publication(conn, action.if_match)
    if (
        pub is None
        or pub.extension_id != ext.id
        or pub.event != action.event
        or pub.expires_at <= datetime.now(UTC)
    ):
        raise SubscriptionError(412, "Conditional Request Failed")
    old = publication.document_from_json(pub.event, pub.document)
    if kind is publication.PublishKind.REMOVE:
        await pdb.delete_publication(conn, pub.etag)
        return await _removed(conn, pub, old)
    document = old if action.document is None else action.document
    await pdb.update_publication(
        conn, pub.etag, new_etag=etag, document=publication.document_to_json(document),
        expires_at=expires_at,
    )  # fmt: skip
    if kind is publication.PublishKind.REFRESH:
        return []
    return publication.changes_for(action.event, old, document)


async def _removed(
    conn: asyncpg.Connection[Any], pub: pdb.Publication, old: publication.Document
) -> list[Change]:
    """A publication is gone: its calls end; presence falls back to another phone's."""
    if pub.event == "presence":
        others = await pdb.live_publications(conn, pub.extension_id, "presence")
        if others:
            doc = publication.document_from_json("presence", others[0].document)
            return publication.changes_for("presence", old, doc)
    return publication.changes_for(pub.event, old, None)


async def expire_publications(service: presence_service.PresenceService) -> None:
    done: list[tuple[pdb.ExtensionRef, ExtensionState | None]] = []
    async with service.pool.acquire() as conn, conn.transaction():
        for pub in await pdb.take_expired_publications(conn):
            ext = await pdb.extension_by_id(conn, pub.extension_id)
            if ext is None:
                continue
            old = publication.document_from_json(pub.event, pub.document)
            for change in await _removed(conn, pub, old):
                done.append((ext, await presence_service.commit_change(conn, ext, change)))
    for ext, state in done:
        if state is not None:
            service._apply_state(state)
            service._spawn(service._record(ext, [state]))
