"""The phone directory in memory: username → phone, refreshed on change notifications.

Loaded whole at start; migration 0003's trigger sends `pg_notify('sipfleet_phones', id)`
on every insert/update/delete of a SIP phone (REST API, resetcredentials, another node),
and the directory re-reads just that phone. A REGISTER therefore costs no database round
trip for the lookup. When a phone's credentials change or it is deleted, `on_revoked` is
called so the registrar drops its bindings at once (only the new credentials register).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import asyncpg

from db import sip_directory
from db.sip_directory import PHONES_CHANNEL, DirectoryEntry
from sipcore.server.change_sync import SyncMember

log = logging.getLogger(__name__)
REFRESH_BATCH = 500
RETRY_SECONDS = 0.5


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
        conn = await self._pool.acquire()
        self._listen_conn = conn
        await conn.add_listener(PHONES_CHANNEL, self._notified)
        await self.sync.join(conn)
        entries = await sip_directory.load_directory(conn)
        for entry in entries:
            self.put(entry)
        log.info("phone directory loaded: %d phones", len(entries))

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._listen_conn is not None:
            conn, self._listen_conn = self._listen_conn, None
            with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                await conn.remove_listener(PHONES_CHANNEL, self._notified)
            await self.sync.leave(conn)
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
        return bool(self._pending) or (self._drain is not None and not self._drain.done())

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
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
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
