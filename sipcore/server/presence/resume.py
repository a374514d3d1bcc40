"""Resuming this node's stored subscriptions after a restart.

Subscriptions are kept in PostgreSQL under this node's key (`store`). On start the node
resumes them: CSeq and dialog-info version continue well above the stored checkpoint
(RFC 3261 §12.2.1.1, RFC 4235 §4.1.2), and a full-state NOTIFY goes to each subscriber
over its stored transport address; a subscriber that answers 481 or not at all is
dropped (RFC 6665 §4.2.2). Chosen over terminating because a phone re-SUBSCRIBEs only
after its own retry timer, while a resumed subscription keeps its BLF lamps right
without any phone action.
"""

from __future__ import annotations

import logging

from db import presence as pdb
from sipcore.presence.dialog import entity_number
from sipcore.server.presence.fanout import Notifier
from sipcore.server.presence.store import SubscriptionStore
from sipcore.server.presence.sync import StateSync
from sipcore.server.presence.table import SubscriptionTable

log = logging.getLogger("sipcore.server.presence.service")  # one logger for the service


async def resume(
    *, store: SubscriptionStore, sync: StateSync, table: SubscriptionTable, notifier: Notifier
) -> None:
    """Load the stored subscriptions into `table`; each gets a full-state NOTIFY."""
    lives = await store.load()
    # The jumped CSeq/version become the new checkpoint before any NOTIFY goes out, so
    # a second crash cannot resume from the same numbers again.
    await store.checkpoint(lives)
    for live in lives:
        sub = live.sub
        watched = await sync.watch(
            pdb.ExtensionRef(id=sub.extension_id, customer_id=sub.customer_id,
                             number=entity_number(sub.entity), name="")
        )  # fmt: skip
        table.add(live, watched)
        notifier.changed(live)
    if lives:
        log.info("resumed %d subscriptions", len(lives))
