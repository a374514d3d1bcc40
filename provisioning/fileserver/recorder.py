"""Writes what successful fetches cause, in batches.

A fetch must answer without waiting for three writes (`config_loaded`, the sighting, the
`phone.config_fetched` event); at thousands of fetches a second, one transaction per fetch
would be the bottleneck. Fetches are queued and written every `interval` seconds (or at
once when `max_batch` are waiting), three statements per batch whatever its size. The
queue is bounded: beyond `max_pending` the oldest unwritten fetches are dropped with a
warning (the config was served; only its bookkeeping is lost). Stopping writes the rest.

Every worker process has its own recorder, and their batches write the same phones' rows
at the same time; the queries lock those rows in one fixed order (see
`db.provisioning.record_fetches`), so they wait for each other but never deadlock. Should
PostgreSQL still roll a batch back to break a deadlock or a serialization conflict, the
batch is written again (a rolled-back transaction left nothing behind) before it is given
up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from typing import Any

import asyncpg

from db import provisioning as prov_db
from db.errors import DB_ERRORS
from db.provisioning import Fetch

log = logging.getLogger(__name__)

ATTEMPTS = 3  # writes of one batch that PostgreSQL rolled back as a deadlock victim
# the errors after which the same transaction, run again, can succeed
_RETRYABLE = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)


class FetchRecorder:
    def __init__(
        self,
        pool: asyncpg.Pool[Any],
        *,
        interval: float = 0.2,
        max_batch: int = 2000,
        max_pending: int = 100_000,
    ) -> None:
        self._pool = pool
        self._interval = interval
        self._max_batch = max_batch
        self._pending: deque[Fetch] = deque(maxlen=max_pending)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0
        self._stopping = False
        self._lock = asyncio.Lock()
        self.written = 0

    def add(self, fetch: Fetch) -> None:
        if len(self._pending) == self._pending.maxlen:
            self.dropped += 1
        self._pending.append(fetch)
        if len(self._pending) >= self._max_batch:
            self._wake.set()

    async def flush(self) -> None:
        """Write everything queued so far (tests call it to see the effects at once)."""
        async with self._lock:  # one writer; a caller waits for a flush under way
            while self._pending:
                batch = [self._pending.popleft() for _ in range(min(len(self._pending), 5000))]
                try:
                    await self._write(batch)
                    self.written += len(batch)
                except DB_ERRORS as exc:
                    log.warning("could not record %d config fetches: %s", len(batch), exc)
                    return

    async def _write(self, batch: list[Fetch]) -> None:
        """One transaction, run again after a deadlock or serialization failure."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                async with self._pool.acquire() as conn, conn.transaction():
                    await prov_db.record_fetches(conn, batch)
                return
            except _RETRYABLE as exc:
                if attempt == ATTEMPTS:
                    raise
                log.warning(
                    "config fetches: %s; writing the batch of %d again",
                    getattr(exc, "message", exc),
                    len(batch),
                )
                # the other transaction, let through, finishes meanwhile
                await asyncio.sleep(random.uniform(0.01, 0.05) * attempt)

    async def _run(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            self._wake.clear()
            await self.flush()

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Let a flush under way finish (cancelling it would lose its batch), then write
        what is left."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        await self.flush()
        if self.dropped:
            log.warning("%d config fetches were not recorded (queue full)", self.dropped)
