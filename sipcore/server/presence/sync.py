"""Keeping the watched extensions' states on this node current: the changes committed
here (REST push, PUBLISH, first watch) and those of other nodes, heard on LISTEN.

Every change is committed by `changes.commit_change`: the extension's row is locked, the
pure `apply` decides (stale or no-op changes stop there), the state is stored with the
next sequence number and `pg_notify('sipfleet_presence', '<extension>:<seq>')`. The node
that made the change fans it out at once (`Notifier.apply_state`); every other node
LISTENs, loads the state when the sequence is newer than its own, and fans out. Sequence
numbers make delivery order-safe across nodes (`state.is_newer`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import Any, TypeAlias

import asyncpg

from db import presence as pdb
from sipcore.presence.state import (
    Change,
    ExtensionState,
    apply,
    is_newer,
    state_from_json,
    state_to_json,
)
from sipcore.server.presence.changes import PhoneOnline, commit_change, record_event
from sipcore.server.presence.fanout import Notifier
from sipcore.server.presence.model import Watched
from sipcore.server.presence.table import SubscriptionTable
from sipcore.server.presence.tasks import Tasks

log = logging.getLogger("sipcore.server.presence.service")  # one logger for the service

Listener: TypeAlias = "asyncpg.Connection[Any] | asyncpg.pool.PoolConnectionProxy[Any]"


class StateSync:
    """The states of the extensions in `table.watched`, kept current; each new one goes
    to `notifier`."""

    def __init__(
        self,
        *,
        pool: asyncpg.Pool[Any],
        table: SubscriptionTable,
        notifier: Notifier,
        tasks: Tasks,
    ) -> None:
        self.pool = pool
        self.table = table
        self.notifier = notifier
        self.tasks = tasks
        self.listen_conn: Listener | None = None
        # extension id -> [commits of ours in flight, newest sequence heard meanwhile]
        self._committing: dict[str, list[int]] = {}

    # --- changes made here -------------------------------------------------------------

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
        if conn is None:
            async with self.pool.acquire() as own:
                # fans out before the release, which waits for the pool's reset
                return await self.change(extension, change, conn=own)
        with self.committing((extension.id,)):
            new = await self._change_fast(conn, extension, change)
            if new is None:
                async with conn.transaction():
                    new = await commit_change(conn, extension, change)
                if new is not None:
                    self.notifier.apply_state(new)
        if new is not None:
            self.tasks.spawn(self._record(extension, [new]))
        return new

    async def _change_fast(
        self,
        conn: asyncpg.Connection[Any],
        extension: pdb.ExtensionRef,
        change: Change | PhoneOnline | None,
    ) -> ExtensionState | None:
        """The common case in one round trip: the extension is watched here, so its state
        is in memory; apply the change to it and store it only if the stored sequence is
        still ours (compare-and-set). Anything else (not watched, a stale or no-op change
        by the cached state, another writer first) takes the locking path."""
        watched = self.table.watched.get(extension.id)
        if watched is None or change is None or isinstance(change, PhoneOnline):
            return None
        current = watched.state
        new = apply(current, change)
        if new is None:
            return None
        seq = await pdb.store_state_if_seq(conn, extension.id, state_to_json(new), current.seq)
        if seq is None:
            return None
        stored = replace(new, seq=seq)
        self.notifier.apply_state(stored)
        return stored

    def committed(self, extension: pdb.ExtensionRef, states: list[ExtensionState | None]) -> None:
        """States of `extension` another module committed (PUBLISH): fan out, record."""
        for state in states:
            if state is not None:
                self.notifier.apply_state(state)
        self.tasks.spawn(self._record(extension, states))

    async def _record(
        self, extension: pdb.ExtensionRef, states: list[ExtensionState | None]
    ) -> None:
        async with self.pool.acquire() as conn:
            for state in states:
                if state is not None:
                    await record_event(conn, extension, state)

    @contextlib.contextmanager
    def committing(self, extension_ids: Iterable[str]) -> Iterator[None]:
        """Our commits of these extensions' states are in flight while the block runs.
        Meanwhile our own pg_notify may arrive before the commit's result: the sequences
        heard are kept and reloaded only if still newer after."""
        ids = list(extension_ids)
        for extension_id in ids:
            self._committing.setdefault(extension_id, [0, 0])[0] += 1
        try:
            yield
        finally:
            for extension_id in ids:
                self._commit_done(extension_id)

    def _commit_done(self, extension_id: str) -> None:
        """One commit of the extension's state has its result: once none is in flight,
        reload if a newer sequence was heard meanwhile (another writer's)."""
        heard = self._committing[extension_id]
        heard[0] -= 1
        if heard[0] == 0:
            self._committing.pop(extension_id, None)
            watched = self.table.watched.get(extension_id)
            if heard[1] and watched is not None and is_newer(watched.state.seq, heard[1]):
                self.tasks.spawn(self._reload(extension_id))

    # --- a new watched extension -------------------------------------------------------

    async def watch(self, ext: pdb.ExtensionRef) -> Watched:
        """Start watching an extension here: load (or first compute) its state. The entry
        joins `table.watched` when its first subscription is added (`table.add`)."""
        watched = self.table.watched.get(ext.id)
        if watched is not None:
            return watched
        async with self.pool.acquire() as conn, conn.transaction():
            new = await commit_change(conn, ext, None)
            if new is None:
                stored = await pdb.load_state(conn, ext.id)
                assert stored is not None
                new = state_from_json(ext.id, stored.seq, stored.state)
        watched = self.table.watched.get(ext.id)  # another SUBSCRIBE may have won meanwhile
        if watched is None:
            watched = self.table.watched[ext.id] = Watched(
                number=ext.number, customer_id=ext.customer_id, state=new
            )
        elif is_newer(watched.state.seq, new.seq):
            self.notifier.apply_state(new)
        return watched

    # --- changes made elsewhere (LISTEN) -----------------------------------------------

    async def listen(self) -> None:
        self.listen_conn = await self.pool.acquire()
        await self.listen_conn.add_listener(pdb.PRESENCE_CHANNEL, self._on_pg_notify)

    async def unlisten(self) -> None:
        if self.listen_conn is not None:
            with contextlib.suppress(asyncpg.InterfaceError, asyncpg.PostgresError, OSError):
                await self.listen_conn.remove_listener(pdb.PRESENCE_CHANNEL, self._on_pg_notify)
                await self.pool.release(self.listen_conn)
            self.listen_conn = None

    async def ensure_listening(self) -> None:
        """LISTEN again on a fresh connection if the database dropped ours; states changed
        meanwhile on other nodes are reloaded for every watched extension."""
        old = self.listen_conn
        if old is not None:
            try:
                if not old.is_closed():
                    return
                await self.pool.release(old)
            except asyncpg.InterfaceError:
                pass  # the pool already took the dead connection back
        self.listen_conn = None
        await self.listen()
        log.warning("presence: LISTEN %s re-established", pdb.PRESENCE_CHANNEL)
        for extension_id in list(self.table.watched):
            await self._reload(extension_id)

    def _on_pg_notify(self, conn: object, pid: int, channel: str, payload: object) -> None:
        if not isinstance(payload, str):
            return
        extension_id, _, seq_text = payload.partition(":")
        watched = self.table.watched.get(extension_id)
        if watched is None or not seq_text.isdigit():
            return
        seq = int(seq_text)
        heard = self._committing.get(extension_id)
        if heard is not None:  # decided when our commit in flight has its result
            if not heard[1] or is_newer(heard[1], seq):
                heard[1] = seq
        elif is_newer(watched.state.seq, seq):
            self.tasks.spawn(self._reload(extension_id))

    async def _reload(self, extension_id: str) -> None:
        async with self.pool.acquire() as conn:
            stored = await pdb.load_state(conn, extension_id)
            if stored is not None:  # before the release, which waits for the pool's reset
                self.notifier.apply_state(state_from_json(extension_id, stored.seq, stored.state))
