"""Bans across nodes: an address one node bans is refused by every node of the database.

The workers of one node share their failed-auth counts and bans in memory
(`sipcore.server.registrar.limiter`); nodes share only the database. So:

- the worker whose failure banned an address (`Authenticator.on_ban`) writes it to the
  `bans` table (`db.bans`: address, until, reason, node) together with a `sip.ban` event
  on the event stream (address, reason, end; never a user name or credential);
- every worker of every node reads the rows changed since its last look every
  `POLL_INTERVAL` (the look overlaps the previous one by `POLL_MARGIN`, so a row whose
  commit came late is not missed) and adds what it did not know to its limiter's view
  with `SharedFailureLimiter.ban` — a ban set on one node holds on the others within
  about a second. At start it reads every ban still running, so a restarted node
  refuses what was banned before.

A poll is one indexed query on a pooled connection; when the database does not answer,
bans already known still hold and the next poll catches up. Rows are pruned a day after
their ban ended (`db.bans.prune`, once an hour).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime
from typing import Any

import asyncpg

from db import bans as queries
from db.errors import DB_ERRORS
from db.events import append_event
from sipcore.server.registrar.auth import Authenticator

log = logging.getLogger(__name__)

EVENT_TYPE = "sip.ban"
POLL_INTERVAL = 1.0
POLL_MARGIN = 5.0  # seconds each poll reaches back before the previous one
PRUNE_INTERVAL = 3600.0
LOAD_LIMIT = 65536  # bans read at once (the limiter holds as many)
_DB_ERRORS = DB_ERRORS


class BanBook:
    """One per SIP service; `start` before use, `stop` at shutdown."""

    def __init__(self, authenticator: Authenticator, pool: asyncpg.Pool[Any], node: str) -> None:
        self.limiter = authenticator.limiter
        self.pool = pool
        self.node = node
        self.learned = 0  # bans of other nodes added here
        self._since = 0.0  # database time of the last look, less the margin
        self._pruned = 0.0
        self._failing = False
        self._poller: asyncio.Task[None] | None = None
        self._writes: set[asyncio.Task[None]] = set()
        authenticator.on_ban = self.banned

    async def start(self) -> None:
        try:
            async with self.pool.acquire() as conn:
                running, db_now = await queries.active(conn, LOAD_LIMIT)
            self._since = db_now - POLL_MARGIN
            self._learn(running)
        except _DB_ERRORS as exc:
            log.warning("bans of other nodes not read at start (read again shortly): %s", exc)
        self._poller = asyncio.get_running_loop().create_task(self._poll_forever())

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        if self._writes:  # bans decided just before the stop are still written
            await asyncio.wait(self._writes, timeout=2)
        for task in list(self._writes):
            task.cancel()

    # --- a ban set here -----------------------------------------------------------------

    def banned(self, address: str, until: float, reason: str) -> None:
        """A failure on this worker banned `address` until `until` (Unix seconds)."""
        task = asyncio.get_running_loop().create_task(self._write(address, until, reason))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _write(self, address: str, until: float, reason: str) -> None:
        details = {
            "address": address,
            "reason": reason,
            "until": datetime.fromtimestamp(until, UTC).isoformat().replace("+00:00", "Z"),
            "seconds": round(until - time.time()),
            "node": self.node,
        }
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                await queries.upsert(conn, address, until, reason, self.node)
                await append_event(conn, EVENT_TYPE, details=details)
        except _DB_ERRORS as exc:
            log.warning("ban of %s not written (other nodes will not know it): %s", address, exc)

    # --- bans set elsewhere -------------------------------------------------------------

    async def _poll_forever(self) -> None:
        while True:
            await asyncio.sleep(POLL_INTERVAL)
            try:
                await self.poll()
            except _DB_ERRORS as exc:
                if not self._failing:
                    log.warning("bans of other nodes not read (retrying): %s", exc)
                self._failing = True
            else:
                if self._failing:
                    log.info("bans of other nodes read again")
                self._failing = False

    async def poll(self) -> int:
        """Read the bans written since the last look; the number new to this process."""
        async with self.pool.acquire() as conn:
            found, db_now = await queries.changed_since(conn, self._since, LOAD_LIMIT)
            if db_now - self._pruned > PRUNE_INTERVAL:
                self._pruned = db_now
                await queries.prune(conn)
        self._since = max(self._since, db_now - POLL_MARGIN)
        return self._learn(found)

    def _learn(self, found: list[queries.Ban]) -> int:
        now = time.time()
        new = 0
        for ban in found:
            if self.limiter.ban(ban.address, ban.until, now):
                new += 1
                log.info(
                    "address %s ignored until %s: banned by another node",
                    ban.address, datetime.fromtimestamp(ban.until, UTC).strftime("%H:%M:%S"),
                )  # fmt: skip
        self.learned += new
        return new
