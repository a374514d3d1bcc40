"""PUBLISH (RFC 3903) for the presence service: create, refresh, modify, remove and expire
publications, each turned into extension state changes (`sipcore.presence.publication`
decides; this module stores and commits; the committed states go to `StateSync.committed`,
which fans them out).

`Event: presence` from a phone is accepted for its own extension only; `Event: dialog`
(a PBX's call state) for any extension of the publisher's customer, since sipfleet has
no separate PBX identity: any authenticated device of the customer may publish it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from db import presence as pdb
from sipcore import metrics
from sipcore.errors import SipParseError
from sipcore.message import SipRequest, SipResponse
from sipcore.presence import publication
from sipcore.presence.dialog import bad_request
from sipcore.presence.state import Change, ExtensionState
from sipcore.presence.subscription import SubscriptionError
from sipcore.server.context import AuthenticatedPhone, RequestContext
from sipcore.server.presence.changes import commit_change
from sipcore.server.presence.model import PresenceConfig, SipPort
from sipcore.server.presence.resource import target_extension

# States of an extension committed here: to fan out and record (`StateSync.committed`).
Committed = Callable[[pdb.ExtensionRef, list[ExtensionState | None]], None]


class Publications:
    """The PUBLISH handler and the expiry of publications."""

    def __init__(
        self,
        *,
        sip: SipPort,
        pool: asyncpg.Pool[Any],
        config: PresenceConfig,
        committed: Committed,
    ) -> None:
        self.sip = sip
        self.pool = pool
        self.config = config
        self.committed = committed

    async def on_publish(self, request: SipRequest, ctx: RequestContext) -> SipResponse | None:
        outcome = await self.sip.authenticate(request, ctx)
        if outcome.phone is None:
            return outcome.response
        try:
            return await self._publish(request, outcome.phone)
        except SubscriptionError as exc:
            metrics.PUBLISHES.labels("sip", "rejected").inc()
            return publication.refusal(request, exc, min_expires=self.config.min_expires)
        except SipParseError as exc:
            return bad_request(request, exc)

    async def _publish(self, request: SipRequest, phone: AuthenticatedPhone) -> SipResponse:
        cfg = self.config
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
        ext = await target_extension(self.pool, request.request_uri().user, phone)
        if ext is None:
            raise SubscriptionError(404, "Not Found")
        if action.event == "presence" and phone.extension_id != ext.id:
            raise SubscriptionError(403, "Presence Only For Own Extension")
        etag = secrets.token_hex(10)
        expires_at = datetime.now(UTC) + timedelta(seconds=action.expires)
        async with self.pool.acquire() as conn, conn.transaction():
            changes = await _store_publication(conn, action, ext, phone.phone_id, etag,
                                               expires_at)  # fmt: skip
            states = [await commit_change(conn, ext, change) for change in changes]
        self.committed(ext, states)
        metrics.PUBLISHES.labels("sip", "ok").inc()
        return publication.published(request, etag=etag, expires=action.expires)

    async def expire(self) -> None:
        """Publications past their expiry end (RFC 3903): their state is withdrawn."""
        done: list[tuple[pdb.ExtensionRef, ExtensionState | None]] = []
        async with self.pool.acquire() as conn, conn.transaction():
            for pub in await pdb.take_expired_publications(conn):
                ext = await pdb.extension_by_id(conn, pub.extension_id)
                if ext is None:
                    continue
                old = publication.document_from_json(pub.event, pub.document)
                for change in await _removed(conn, pub, old):
                    done.append((ext, await commit_change(conn, ext, change)))
        for ext, state in done:
            if state is not None:
                self.committed(ext, [state])


async def _store_publication(
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
