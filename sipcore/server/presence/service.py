"""The presence service: its parts put together, started and stopped, and its timers.

The pure parts (`sipcore.presence`) decide; the parts here load state, call them,
persist and send. `PresenceService` is what the rest of sipfleet sees: the SUBSCRIBE
and PUBLISH handlers it registers on the SIP service, the registrar's binding listener
(`on_binding`), `change` for the REST push, and `subs` / `watched` (what this node
holds). Who does what is in the package docstring (`sipcore.server.presence`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import asyncpg

from db import presence as pdb
from db.errors import DB_ERRORS
from sipcore.message import SipRequest, SipResponse
from sipcore.presence.state import Change, ExtensionState
from sipcore.server.context import RequestContext
from sipcore.server.presence.bindings import BindingChanges
from sipcore.server.presence.changes import (
    IMPLICIT_CALL,
    PhoneOnline,
    commit_change,
    parse_call_update,
    record_event,
)
from sipcore.server.presence.fanout import Notifier
from sipcore.server.presence.model import LiveSub, PresenceConfig, SipPort, Watched
from sipcore.server.presence.publish import Publications
from sipcore.server.presence.resume import resume
from sipcore.server.presence.store import SubscriptionStore
from sipcore.server.presence.subscriptions import Subscriptions
from sipcore.server.presence.sync import Listener, StateSync
from sipcore.server.presence.table import SubscriptionTable
from sipcore.server.presence.tasks import Tasks

# re-exported: the REST route and the component import them from here
__all__ = [
    "IMPLICIT_CALL",
    "PhoneOnline",
    "PresenceConfig",
    "PresenceService",
    "commit_change",
    "parse_call_update",
    "record_event",
]

log = logging.getLogger(__name__)

SWEEP_INTERVAL = 0.25
PUBLICATION_SWEEP = 1.0  # seconds between scans for expired publications


class PresenceService:
    """SUBSCRIBE/PUBLISH handlers, the subscriptions of this node and their fan-out."""

    def __init__(self, *, sip: SipPort, pool: asyncpg.Pool[Any], config: PresenceConfig) -> None:
        self.sip = sip
        self.pool = pool
        self.config = config
        clock = time.time
        self.tasks = Tasks()
        self.table = SubscriptionTable(
            max_per_phone=config.max_per_phone, max_per_resource=config.max_per_resource
        )
        self.store = SubscriptionStore(
            pool=pool, node=config.node, interval=config.notify_min_interval
        )
        self.notifier = Notifier(
            sip=sip, table=self.table, store=self.store, tasks=self.tasks, clock=clock
        )
        self.sync = StateSync(pool=pool, table=self.table, notifier=self.notifier, tasks=self.tasks)
        self.bindings = BindingChanges(
            pool=pool, sync=self.sync, notifier=self.notifier, tasks=self.tasks
        )
        self.subscriptions = Subscriptions(
            sip=sip, pool=pool, config=config, table=self.table, store=self.store,
            sync=self.sync, notifier=self.notifier, tasks=self.tasks, clock=clock,
        )  # fmt: skip
        self.publications = Publications(
            sip=sip, pool=pool, config=config, committed=self.sync.committed
        )
        self._sweeper: asyncio.Task[None] | None = None
        self._last_pub_sweep = 0.0

    # --- what this node holds (the table's own dicts) -----------------------------------

    @property
    def subs(self) -> dict[str, LiveSub]:
        return self.table.subs

    @property
    def watched(self) -> dict[str, Watched]:
        return self.table.watched

    @property
    def by_dialog(self) -> dict[tuple[str, str], str]:
        return self.table.by_dialog

    @property
    def _listen_conn(self) -> Listener | None:
        return self.sync.listen_conn

    # --- life cycle ----------------------------------------------------------------------

    async def start(self) -> None:
        self.sip.register_method("SUBSCRIBE", self.on_subscribe)
        self.sip.register_method("PUBLISH", self.on_publish)
        self.sip.add_binding_listener(self.on_binding)
        await self.sync.listen()
        await resume(store=self.store, sync=self.sync, table=self.table, notifier=self.notifier)
        self._sweeper = asyncio.create_task(self._sweep_forever())

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        await self.store.checkpoint(list(self.table.subs.values()))
        for live in self.table.subs.values():
            if live.wake is not None:
                live.wake.cancel()
        await self.tasks.stop(timeout=2)
        await self.sync.unlisten()

    # --- entry points --------------------------------------------------------------------

    async def on_subscribe(self, request: SipRequest, ctx: RequestContext) -> SipResponse | None:
        return await self.subscriptions.on_subscribe(request, ctx)

    async def on_publish(self, request: SipRequest, ctx: RequestContext) -> SipResponse | None:
        return await self.publications.on_publish(request, ctx)

    def on_binding(self, phone_id: str, extension_id: str | None, online: bool) -> None:
        """The registrar's local binding change: re-check the extension's registrations."""
        self.bindings.on_binding(phone_id, extension_id, online)

    async def change(
        self,
        extension: pdb.ExtensionRef,
        change: Change | PhoneOnline | None,
        *,
        conn: asyncpg.Connection[Any] | None = None,
    ) -> ExtensionState | None:
        """Commit a change and fan it out here at once; None when it was stale/no-op.

        `conn`: a connection the caller already holds (the REST route), saving an acquire
        and the pool's reset round trip on the way to the watchers."""
        return await self.sync.change(extension, change, conn=conn)

    def _apply_state(self, new: ExtensionState) -> None:
        """A committed state, to fan out here (what `change` does after its commit)."""
        self.notifier.apply_state(new)

    # --- timers --------------------------------------------------------------------------

    async def _sweep_forever(self) -> None:
        failing = False  # the database is away: said once, not four times a second
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)
            try:
                await self.sync.ensure_listening()
                await self._sweep(time.time())
            except DB_ERRORS as exc:
                if not failing:
                    log.warning("presence sweep failed (retrying): %s", exc)
                failing = True
            except Exception:  # the sweeper must outlive any one bad round
                log.exception("presence sweep failed")
            else:
                if failing:
                    log.warning("presence sweep works again")
                failing = False

    async def _sweep(self, now: float) -> None:
        self.subscriptions.expire(now)
        if now - self._last_pub_sweep >= PUBLICATION_SWEEP:
            self._last_pub_sweep = now
            await self.publications.expire()
