"""The durable-write queue: binding changes are committed to PostgreSQL before the 200 OK.

Every REGISTER that changes something submits a `WriteJob` and waits. One flusher task
takes everything queued (up to `max_batch`), folds it to the final state per binding
and per phone, writes it in ONE transaction (bindings, status, events; a few statements
per batch, not per request) and resumes every waiter of the batch when it commits — or
raises to them if it failed, so none of them answers 200. While one batch commits, the
next accumulates: throughput grows with load instead of queueing behind single commits.

`saturated` tells the registrar when to shed *new* registrations (503 + Retry-After)
while refreshes of known bindings still go through (storm control).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from db import bindings as binding_queries
from db import phone_status as status_queries
from db.bindings import StoredBinding
from db.phone_status import EventWrite, StatusWrite

log = logging.getLogger(__name__)


class WriteFailed(Exception):
    """The batch holding this job did not commit; nothing of it is durable."""


@dataclass(frozen=True, slots=True, kw_only=True)
class WriteJob:
    """The changes of one request: applied after every job submitted before it."""

    upserts: tuple[StoredBinding, ...] = ()
    removals: tuple[tuple[str, str], ...] = ()  # (phone_id, contact), asked for by the phone
    expirations: tuple[tuple[str, str], ...] = ()  # removed by this node: its rows only
    drop_phones: tuple[str, ...] = ()  # every binding of these phones
    statuses: tuple[StatusWrite, ...] = ()
    events: tuple[EventWrite, ...] = ()


_EXPIRED = "expired"  # fold marker: delete only if this node still holds the row


@dataclass(slots=True)
class _Folded:
    """A batch reduced to its final state (later jobs win)."""

    bindings: dict[tuple[str, str], StoredBinding | str | None] = field(default_factory=dict)
    drop_phones: list[str] = field(default_factory=list)
    statuses: dict[str, StatusWrite] = field(default_factory=dict)
    events: list[EventWrite] = field(default_factory=list)

    def add(self, job: WriteJob) -> None:
        for phone_id in job.drop_phones:
            self.drop_phones.append(phone_id)
            for key in [key for key in self.bindings if key[0] == phone_id]:
                del self.bindings[key]
        for key in job.removals:
            self.bindings[key] = None
        for key in job.expirations:
            self.bindings[key] = _EXPIRED
        for item in job.upserts:
            self.bindings[(item.phone_id, item.contact)] = item
        for status in job.statuses:
            self.statuses[status.phone_id] = status
        self.events.extend(job.events)


class WriteBehind:
    """Group-commit queue in front of PostgreSQL."""

    def __init__(
        self, pool: asyncpg.Pool[Any], *, limit: int, max_batch: int = 1000, node: str = ""
    ) -> None:
        self._pool = pool
        self._node = node
        self._limit = limit
        self._max_batch = max_batch
        self._queue: deque[tuple[WriteJob, asyncio.Future[None]]] = deque()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._in_flight = 0
        self.batches = 0
        self.committed = 0

    @property
    def pending(self) -> int:
        """Jobs not yet committed: queued plus the batch being written."""
        return len(self._queue) + self._in_flight

    @property
    def saturated(self) -> bool:
        return self.pending >= self._limit

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="sip-writer")

    async def stop(self) -> None:
        """Flush what is queued, then stop."""
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        while self._queue:
            await self._flush_once()

    async def submit(self, job: WriteJob) -> None:
        """Queue the job and return once it is committed (raises WriteFailed if not)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((job, future))
        self._wakeup.set()
        await future

    async def _run(self) -> None:
        while True:
            if not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
            await self._flush_once()

    async def _flush_once(self) -> None:
        batch = [self._queue.popleft() for _ in range(min(self._max_batch, len(self._queue)))]
        if not batch:
            return
        folded = _Folded()
        for job, _ in batch:
            folded.add(job)
        self._in_flight = len(batch)
        try:
            await self._write(folded)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
            log.error("binding write of %d requests failed: %s", len(batch), exc)
            for _, future in batch:
                if not future.done():
                    future.set_exception(WriteFailed(str(exc)))
            await asyncio.sleep(0.2)  # do not spin against a database that is down
            return
        finally:
            self._in_flight = 0
        self.batches += 1
        self.committed += len(batch)
        for _, future in batch:
            if not future.done():
                future.set_result(None)

    async def _write(self, folded: _Folded) -> None:
        upserts = [item for item in folded.bindings.values() if isinstance(item, StoredBinding)]
        removals = [key for key, item in folded.bindings.items() if item is None]
        expired = [key for key, item in folded.bindings.items() if item == _EXPIRED]
        async with self._pool.acquire() as conn, conn.transaction():
            for phone_id in folded.drop_phones:
                await binding_queries.delete_phone_bindings(conn, phone_id)
            await binding_queries.delete_bindings(conn, removals)
            await binding_queries.delete_bindings(conn, expired, node=self._node or None)
            await binding_queries.upsert_bindings(conn, upserts)
            await status_queries.upsert_statuses(conn, list(folded.statuses.values()))
            await status_queries.append_events(conn, folded.events)
