"""The operators' custom templates, held in memory by every node — and the listener that
keeps the file server's in-memory phone records (`records.PhoneRecords`) current.

Rendering looks a template up here on every fetch, so no fetch reads `phone_templates`.
The whole set is reloaded when it changes: at once on this node after an API write, and
on every node when PostgreSQL delivers the `sipfleet_templates` notification that
`db.templates` sends in the writing transaction. Each reload installs a new mapping
object, so a renderer may key its compiled-template cache on the mapping's identity.

The same LISTEN connection carries `sipfleet_phones` and `sipfleet_prov` for the phone
records. When it is lost (database restart, network), notifications may have been missed:
the records are dropped and no longer cached, and a new connection is tried every
`RECONNECT_SECONDS`; once listening again the templates are reloaded and caching resumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import asyncpg

from db import templates as template_db
from db.errors import DB_ERRORS
from db.provisioning import PROV_CHANNEL
from db.sip_directory import PHONES_CHANNEL
from provisioning.fileserver.records import PhoneRecords
from sipcore.server.nodes.change_sync import SyncMember

log = logging.getLogger(__name__)

RECONNECT_SECONDS = 1.0
_DB_ERRORS = DB_ERRORS


class TemplateStore:
    """`overrides`: custom template contents by file name (read-only mapping);
    `records`: the phone records this store's listener keeps current."""

    def __init__(self, pool: asyncpg.Pool[Any], records: PhoneRecords | None = None) -> None:
        self._pool = pool
        self.overrides: Mapping[str, str] = MappingProxyType({})
        self.generation = 0  # bumped on every reload: part of the render cache's key
        self.records = records if records is not None else PhoneRecords()
        self._listener: asyncpg.Connection[Any] | None = None
        self._reloads: set[asyncio.Task[None]] = set()
        self._reconnect: asyncio.Task[None] | None = None
        self._stopping = False
        # records are dropped as notifications arrive; only template reloads take time
        self.sync = SyncMember(pool, "prov", lambda: bool(self._reloads))

    async def reload(self) -> None:
        async with self._pool.acquire() as conn:
            found = await template_db.list_templates(conn)
        self.overrides = MappingProxyType({item.filename: item.content for item in found})
        self.generation += 1

    def _notified(self, *_args: Any) -> None:
        task = asyncio.get_running_loop().create_task(self.reload())
        self._reloads.add(task)
        task.add_done_callback(self._reloaded)

    def _reloaded(self, task: asyncio.Task[None]) -> None:
        self._reloads.discard(task)
        if not self._reloads:
            self.sync.settled()

    def _phone_notified(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        self.records.phone_changed(payload)

    def _prov_notified(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        self.records.prov_notified(payload)

    async def _listen(self) -> None:
        conn = await self._pool.acquire()
        try:
            await conn.add_listener(template_db.TEMPLATES_CHANNEL, self._notified)
            await conn.add_listener(PHONES_CHANNEL, self._phone_notified)
            await conn.add_listener(PROV_CHANNEL, self._prov_notified)
            await self.sync.join(conn)
            conn.add_termination_listener(self._lost)
        except BaseException:
            await self._pool.release(conn)
            raise
        self._listener = conn
        self.records.activate()  # listening before the first record is read

    def _lost(self, conn: asyncpg.Connection[Any]) -> None:
        """The LISTEN connection closed: stop trusting memory until listening again."""
        self.records.deactivate()
        if self._listener is conn:
            self._listener = None
        if self._stopping or (self._reconnect is not None and not self._reconnect.done()):
            return
        log.warning("provisioning: notification connection lost; phone records not cached")
        self._reconnect = asyncio.get_running_loop().create_task(self._relisten(conn))

    async def _relisten(self, lost: asyncpg.Connection[Any]) -> None:
        with contextlib.suppress(*_DB_ERRORS):
            await self._pool.release(lost)  # the pool discards a closed connection
        while not self._stopping and self._listener is None:
            await asyncio.sleep(RECONNECT_SECONDS)
            try:
                await self._listen()
                await self.reload()
            except _DB_ERRORS as exc:
                log.warning("provisioning: cannot listen for changes yet: %s", exc)
                continue
            log.info("provisioning: notification connection back; phone records cached again")

    async def start(self) -> None:
        """Listen, then load, so no change between the two is missed."""
        self._stopping = False
        await self._listen()
        await self.reload()

    async def stop(self) -> None:
        self._stopping = True
        self.records.deactivate()
        for task in list(self._reloads):
            task.cancel()
        if self._reconnect is not None:
            self._reconnect.cancel()
            with contextlib.suppress(asyncio.CancelledError, *_DB_ERRORS):
                await self._reconnect
            self._reconnect = None
        if self._listener is not None:
            conn, self._listener = self._listener, None
            conn.remove_termination_listener(self._lost)
            try:
                with contextlib.suppress(*_DB_ERRORS):
                    await conn.remove_listener(template_db.TEMPLATES_CHANNEL, self._notified)
                    await conn.remove_listener(PHONES_CHANNEL, self._phone_notified)
                    await conn.remove_listener(PROV_CHANNEL, self._prov_notified)
                await self.sync.leave(conn)
            finally:
                await self._pool.release(conn)
