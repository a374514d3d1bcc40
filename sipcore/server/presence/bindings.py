"""The registrar's binding changes as presence: a phone going on/offline here re-checks
its extension's registrations (an extension is online while any of its phones has a
binding).

Changes queue up while a batch commits and go together in the next one, in the order
they came (so a phone's on/off changes commit in order): a boot storm of registrations
is a handful of statements per batch, not several per phone.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import asyncpg

from db import presence as pdb
from db.errors import DB_ERRORS
from sipcore.server.presence.changes import PhoneOnline, commit_online_changes, record_events
from sipcore.server.presence.fanout import Notifier
from sipcore.server.presence.sync import StateSync
from sipcore.server.presence.tasks import Tasks

log = logging.getLogger("sipcore.server.presence.service")  # one logger for the service

BINDING_BATCH = 500  # registrar on/off changes committed together, at most

BindingChange = tuple[str, str | None, bool]  # phone id, its extension id, online


class BindingChanges:
    """Commits the registrar's changes (as our commits in flight, for `sync`'s ordering)
    and hands the new states to `notifier`."""

    def __init__(
        self, *, pool: asyncpg.Pool[Any], sync: StateSync, notifier: Notifier, tasks: Tasks
    ) -> None:
        self.pool = pool
        self.sync = sync
        self.notifier = notifier
        self.tasks = tasks
        self._queue: list[BindingChange] = []
        self._drain: asyncio.Future[object] | None = None

    def on_binding(self, phone_id: str, extension_id: str | None, online: bool) -> None:
        """The registrar's local binding change (a `BindingListener`)."""
        self._queue.append((phone_id, extension_id, online))
        if self._drain is None or self._drain.done():
            self._drain = self.tasks.spawn(self._drain_queue())

    async def _drain_queue(self) -> None:
        while self._queue:
            batch = self._queue[:BINDING_BATCH]
            del self._queue[:BINDING_BATCH]
            try:
                await self._commit(batch)
            except DB_ERRORS as exc:
                log.warning("presence: %d registration changes not applied: %s", len(batch), exc)

    async def _commit(self, batch: list[BindingChange]) -> None:
        async with self.pool.acquire() as conn:
            refs = await pdb.extensions_of_bindings(conn, [(p, e) for p, e, _ in batch])
            changes = [
                (ref, PhoneOnline(phone_id=phone_id, online=online))
                for ref, (phone_id, _, online) in zip(refs, batch, strict=True)
                if ref is not None
            ]
            with self.sync.committing({ref.id for ref, _ in changes}):
                async with conn.transaction():
                    changed = await commit_online_changes(conn, changes)
                for _, state in changed:
                    self.notifier.apply_state(state)
            if changed:
                await record_events(conn, changed)
