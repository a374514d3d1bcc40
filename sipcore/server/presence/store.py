"""Subscriptions as stored in PostgreSQL (`db.subscriptions`) under this node's key, so
that a restarted node resumes them (`sipcore.server.presence.resume`): the dialog, the
package and profile, the subscriber's transport address; CSeq and dialog-info version
are checkpoints (RFC 3261 §12.2.1.1, RFC 4235 §4.1.2: neither may go backwards).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import asyncpg

from db import subscriptions as sdb
from sipcore.presence import coalesce
from sipcore.presence.subscription import Subscription, SubscriptionDialog, SubState
from sipcore.server.context import RequestContext, Target
from sipcore.server.presence import model as presence_types

log = logging.getLogger("sipcore.server.presence.service")  # one logger for the service

RESUME_GAP = 1_000_000  # CSeq/version jump of a resumed subscription past its checkpoint


def subscription_row(live: presence_types.LiveSub) -> sdb.SubscriptionRow:
    """What is stored of a live subscription: its dialog, package, profile and the
    subscriber's transport address (the counters are checkpoints)."""
    sub, d = live.sub, live.sub.dialog
    target = live.target
    if isinstance(target, RequestContext):
        address = [target.transport, target.source_ip, target.source_port]
    else:
        address = [target.transport, target.host, target.port]
    document = {
        "eventId": sub.event_id,
        "contentType": sub.content_type,
        "entity": sub.entity,
        "profile": sub.profile,
        "version": sub.version,
        "dialog": [d.call_id, d.local_tag, d.remote_tag, d.local_uri, d.remote_uri,
                   d.remote_target, list(d.route_set), d.local_cseq, d.remote_cseq],
        "target": address,
        "via": list(live.via),
    }  # fmt: skip
    return sdb.SubscriptionRow(
        id=sub.id,
        phone_id=live.phone_id,
        extension_id=sub.extension_id,
        customer_id=sub.customer_id,
        package=sub.package,
        document=document,
        expires_at=datetime.fromtimestamp(sub.expires_at, UTC),
    )


def live_from_row(row: sdb.StoredSubscription, interval: float) -> presence_types.LiveSub:
    """A stored subscription back to life after a restart: CSeq and dialog-info version
    continue `RESUME_GAP` above the checkpoint, so they never go backwards (RFC 3261
    §12.2.1.1, RFC 4235 §4.1.2) even after NOTIFYs sent since the checkpoint."""
    doc = row.document
    (call_id, ltag, rtag, luri, ruri, rtarget, routes, lcseq, rcseq) = doc["dialog"]
    dialog = SubscriptionDialog(
        call_id=call_id, local_tag=ltag, remote_tag=rtag, local_uri=luri, remote_uri=ruri,
        remote_target=rtarget, route_set=tuple(routes), local_cseq=lcseq + RESUME_GAP,
        remote_cseq=rcseq,
    )  # fmt: skip
    sub = Subscription(
        id=row.id,
        package=row.package,
        event_id=doc["eventId"],
        content_type=doc["contentType"],
        extension_id=row.extension_id,
        customer_id=row.customer_id,
        entity=doc["entity"],
        profile=doc["profile"],
        dialog=dialog,
        expires_at=row.expires_at.timestamp(),
        version=doc["version"] + RESUME_GAP,
    )
    transport, host, port = doc["target"]
    via = doc["via"]
    return presence_types.LiveSub(
        sub=sub,
        phone_id=row.phone_id,
        target=Target(transport=transport, host=host, port=int(port)),
        via=(via[0], via[1], int(via[2])),
        pacer=coalesce.Pacer(interval=interval),
    )


class SubscriptionStore:
    """This node's stored subscriptions (`node`: its key)."""

    def __init__(self, *, pool: asyncpg.Pool[Any], node: str, interval: float) -> None:
        self.pool = pool
        self.node = node
        self.interval = interval  # notify_min_interval of resumed subscriptions

    async def checkpoint(self, lives: list[presence_types.LiveSub]) -> None:
        """Store the active ones of `lives` (insert or update)."""
        active = [live for live in lives if live.sub.state is SubState.ACTIVE]
        if not active:
            return
        async with self.pool.acquire() as conn:
            await sdb.save_subscriptions(conn, self.node, [subscription_row(x) for x in active])

    async def delete(self, ids: list[str]) -> None:
        async with self.pool.acquire() as conn:
            await sdb.delete_subscriptions(conn, ids)

    async def load(self) -> list[presence_types.LiveSub]:
        """The stored subscriptions of this node, back to life (`live_from_row`); a row
        that cannot be read is deleted."""
        async with self.pool.acquire() as conn:
            stored = await sdb.node_subscriptions(conn, self.node)
        lives: list[presence_types.LiveSub] = []
        for row in stored:
            try:
                lives.append(live_from_row(row, self.interval))
            except (KeyError, TypeError, ValueError, IndexError) as exc:
                log.warning("stored subscription %s unusable: %s", row.id, exc)
                await self.delete([row.id])
        return lives
