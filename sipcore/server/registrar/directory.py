"""The phone directory in memory: username → phone, refreshed on change notifications.

Loaded whole at start; migration 0003's trigger sends `pg_notify('sipfleet_phones', id)`
on every insert/update/delete of a SIP phone (REST API, resetcredentials, another node),
and the directory re-reads just that phone. A REGISTER therefore costs no database round
trip for the lookup. When a phone's credentials change or it is deleted, `on_revoked` is
called so the registrar drops its bindings at once (only the new credentials register).

When the listening connection is lost (PostgreSQL restarted, failed over or unreachable)
the directory keeps answering from memory and listens again on a new connection as soon
as the database lets it, then re-reads every phone: a phone created, changed or deleted
meanwhile is known at once, without waiting for a notification that was never heard.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import asyncpg

from db import sip_directory
from db.errors import DB_ERRORS
from db.sip_directory import PHONES_CHANNEL, DirectoryEntry
from sipcore.server.nodes.change_sync import SyncMember

log = logging.getLogger(__name__)
REFRESH_BATCH = 500
RETRY_SECONDS = 0.5
_DB_ERRORS = DB_ERRORS


class PhoneDirectory:
    def __init__(self, pool: asyncpg.Pool[Any]) -> None:
        self._pool = pool
        self._by_username: dict[str, DirectoryEntry] = {}
        self._by_id: dict[str, DirectoryEntry] = {}
        self._listen_conn: Any = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.on_revoked: Callable[[str], None] | None = None
        self.on_changed: Callable[[DirectoryEntry], None] | None = None
        self._pending: set[str] = set()
        self._drain: asyncio.Task[None] | None = None
        self._reconnect: asyncio.Task[None] | None = None
        self._stopping = False
        self._reloading = False
        self.sync = SyncMember(pool, "directory", self._refreshing)

    def __len__(self) -> int:
        return len(self._by_id)

    def by_username(self, username: str) -> DirectoryEntry | None:
        return self._by_username.get(username)

    def by_id(self, phone_id: str) -> DirectoryEntry | None:
        return self._by_id.get(phone_id)

    def put(self, entry: DirectoryEntry) -> None:
        old = self._by_id.get(entry.phone_id)
        if old is not None and old.username != entry.username:
            self._by_username.pop(old.username, None)
        self._by_id[entry.phone_id] = entry
        self._by_username[entry.username] = entry

    def remove(self, phone_id: str) -> DirectoryEntry | None:
        old = self._by_id.pop(phone_id, None)
        if old is not None:
            self._by_username.pop(old.username, None)
        return old

    async def start(self) -> None:
        """LISTEN first, then load, so no change between the two is missed."""
        self._stopping = False
        conn = await self._listen()
        entries = await sip_directory.load_directory(conn)
        for entry in entries:
            self.put(entry)
        log.info("phone directory loaded: %d phones", len(entries))

    async def _listen(self) -> Any:
        conn = await self._pool.acquire()
        try:
            await conn.add_listener(PHONES_CHANNEL, self._notified)
            await self.sync.join(conn)
            conn.add_termination_listener(self._lost)
        except BaseException:
            with contextlib.suppress(*_DB_ERRORS):
                await self._pool.release(conn)
            raise
        self._listen_conn = conn
        return conn

    def _lost(self, conn: Any) -> None:
        """The listening connection closed: listen again (and catch up) once we can."""
        if self._listen_conn is conn:
            self._listen_conn = None
        if self._stopping or (self._reconnect is not None and not self._reconnect.done()):
            return
        log.warning("phone directory: notification connection lost; answering from memory")
        self._reconnect = asyncio.get_running_loop().create_task(self._relisten(conn))

    async def _relisten(self, lost: Any) -> None:
        with contextlib.suppress(*_DB_ERRORS):
            await self._pool.release(lost)  # the pool discards a closed connection
        failures = 0
        while not self._stopping and self._listen_conn is None:
            await asyncio.sleep(RETRY_SECONDS)
            self._reloading = True  # barrier requests wait for the reload below
            try:
                conn = await self._listen()
                try:
                    count = await self._reload(conn)
                except BaseException:
                    self._listen_conn = None
                    conn.remove_termination_listener(self._lost)
                    with contextlib.suppress(*_DB_ERRORS):
                        await self._pool.release(conn)
                    raise
            except _DB_ERRORS as exc:
                failures += 1
                if failures == 1:  # once: the writer and /healthz say the rest
                    log.info("phone directory: cannot listen for changes yet: %s", exc)
                continue
            finally:
                self._reloading = False
            self.sync.settled()
            log.warning("phone directory: listening again; %d phones re-read", count)

    async def _reload(self, conn: Any) -> int:
        """Re-read every phone after a gap in the notifications: apply what changed and
        drop what is gone (revoking bindings as a notification would have)."""
        entries = await sip_directory.load_directory(conn)
        found = {entry.phone_id: entry for entry in entries}
        for phone_id in [phone_id for phone_id in self._by_id if phone_id not in found]:
            self._apply(phone_id, None)
        for entry in entries:
            if self._by_id.get(entry.phone_id) != entry:
                self._apply(entry.phone_id, entry)
        return len(entries)

    async def stop(self) -> None:
        self._stopping = True
        for task in list(self._tasks):
            task.cancel()
        if self._reconnect is not None:
            self._reconnect.cancel()
            with contextlib.suppress(asyncio.CancelledError, *_DB_ERRORS):
                await self._reconnect
            self._reconnect = None
        if self._listen_conn is not None:
            conn, self._listen_conn = self._listen_conn, None
            conn.remove_termination_listener(self._lost)
            with contextlib.suppress(*_DB_ERRORS):
                await conn.remove_listener(PHONES_CHANNEL, self._notified)
            await self.sync.leave(conn)
            with contextlib.suppress(*_DB_ERRORS):
                await self._pool.release(conn)

    def _notified(self, conn: Any, pid: int, channel: str, payload: str) -> None:
        """Coalesce notifications: a burst (gate locks of a building of phones) is read
        back with one query per REFRESH_BATCH phones, not one per phone."""
        self._pending.add(payload)
        if self._drain is None or self._drain.done():
            self._drain = asyncio.get_running_loop().create_task(self._drain_pending())
            self._tasks.add(self._drain)
            self._drain.add_done_callback(self._tasks.discard)

    def _refreshing(self) -> bool:
        """Whether notifications received are still being applied (change barriers wait)."""
        return (
            self._reloading
            or bool(self._pending)
            or (self._drain is not None and not self._drain.done())
        )

    async def _drain_pending(self) -> None:
        await asyncio.sleep(0)  # let the rest of this burst arrive
        while self._pending:
            batch = [self._pending.pop() for _ in range(min(REFRESH_BATCH, len(self._pending)))]
            if not await self.refresh_many(batch):
                await asyncio.sleep(RETRY_SECONDS)  # the database is away: no busy loop
        self._drain = None
        self.sync.settled()

    async def refresh(self, phone_id: str) -> None:
        await self.refresh_many([phone_id])

    async def refresh_many(self, phone_ids: list[str]) -> bool:
        """Re-read phones; revoke bindings of those gone or whose credentials changed.
        False when the database could not be read (the phones stay pending)."""
        try:
            async with self._pool.acquire() as conn:
                found = await sip_directory.phone_entries(conn, phone_ids)
        except _DB_ERRORS as exc:
            log.warning("directory refresh of %d phones failed: %s", len(phone_ids), exc)
            self._pending.update(phone_ids)  # retried by the drain
            return False
        entries = {entry.phone_id: entry for entry in found}
        for phone_id in phone_ids:
            self._apply(phone_id, entries.get(phone_id))
        return True

    def _apply(self, phone_id: str, entry: DirectoryEntry | None) -> None:
        old = self._by_id.get(phone_id)
        if entry is None:
            self.remove(phone_id)
        else:
            self.put(entry)
        revoked = old is not None and (
            entry is None or entry.username != old.username or entry.ha1_md5 != old.ha1_md5
        )
        if revoked and self.on_revoked is not None:
            self.on_revoked(phone_id)
        if entry is not None and self.on_changed is not None:
            self.on_changed(entry)
