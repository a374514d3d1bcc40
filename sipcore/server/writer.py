"""The durable-write queue: binding changes are committed to PostgreSQL before the 200 OK.

Every REGISTER that changes something submits a `WriteJob` and waits. One flusher task
takes everything queued (up to `max_batch`), folds it to the final state per binding
and per phone, writes it in ONE transaction (bindings, status, events; a few statements
per batch, not per request) and resumes every waiter of the batch when it commits — or
raises to them if it failed, so none of them answers 200. While one batch commits, the
next accumulates: throughput grows with load instead of queueing behind single commits.
Before taking a batch the flusher waits `gather` seconds (`write_gather_ms`) so that a
batch holds dozens of REGISTERs rather than the one or two a commit's time gathers.

Most REGISTERs refresh a binding: same contact, same flow, a new CSeq and expiry. Those are
written narrowly (call_id, cseq and expires_at of the row, when the row is still exactly what this
writer left: db.bindings `shape`); the rest, and any refresh whose row changed meanwhile,
as whole-row upserts.

`saturated` tells the registrar when to shed *new* registrations (503 + Retry-After)
while refreshes of known bindings still go through (storm control).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import deque
from collections.abc import Callable
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


# Told when a job's batch committed (None) or did not (the failure).
Committed = Callable[["WriteFailed | None"], None]
Waiter = asyncio.Future[None] | Committed


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
_REGISTERED = "phone.registered"


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
    """Group-commit queue in front of PostgreSQL.

    The flusher keeps one connection leased from the pool for as long as it works: asyncpg
    keeps the batch statements prepared per connection, and a pool acquire/release per
    batch would add a reset round trip to every commit. The connection goes back to the
    pool after a failure (a new one is leased for the next batch) and at `stop`.
    """

    def __init__(
        self,
        pool: asyncpg.Pool[Any],
        *,
        limit: int,
        max_batch: int = 1000,
        node: str = "",
        gather: float = 0.0,
    ) -> None:
        self._pool = pool
        self._node = node
        self._limit = limit
        self._max_batch = max_batch
        self._gather = gather
        self._queue: deque[tuple[WriteJob, Waiter]] = deque()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._conn: Any = None  # the leased connection (a pool proxy), None between leases
        self._stopping = False
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
        self._stopping = False
        self._task = asyncio.get_running_loop().create_task(self._run(), name="sip-writer")

    async def stop(self) -> None:
        """Write what is queued (the batch being written completes), then stop."""
        if self._task is None:
            return
        self._stopping = True
        self._wakeup.set()
        try:
            await self._task
        finally:
            self._task = None
            while self._queue:  # the flusher was cancelled from outside
                await self._flush_once()
            await self._release()

    async def submit(self, job: WriteJob) -> None:
        """Queue the job and return once it is committed (raises WriteFailed if not)."""
        await self.submit_nowait(job)

    def submit_nowait(self, job: WriteJob) -> asyncio.Future[None]:
        """Queue the job; the future resolves when it is committed, or fails with
        WriteFailed. Jobs commit in submission order whichever way they were submitted."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((job, future))
        self._wakeup.set()
        return future

    def submit_then(self, job: WriteJob, then: Committed) -> None:
        """Queue the job; `then(None)` is called once it is committed, `then(WriteFailed)`
        if it is not — straight from the flusher, before the next batch is taken. Why:
        a future per REGISTER costs a loop callback of its own; this is the registrar's
        path. `then` must not block (an exception in it is logged, not raised)."""
        self._queue.append((job, then))
        self._wakeup.set()

    async def _run(self) -> None:
        while True:
            if not self._queue:
                if self._stopping:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
            if self._gather > 0 and len(self._queue) < self._max_batch and not self._stopping:
                # Group commit: a batch's cost (statement, round trip, WAL flush) is mostly
                # per batch, and at a few thousand REGISTERs/s a commit alone gathers one or
                # two. Waiting a few milliseconds gathers dozens (bench/RESULTS.md: 10 ms
                # took ~60 µs of CPU off each registration at 4,500/s); a phone's first
                # retransmission comes after 500 ms, so it does not notice.
                await asyncio.sleep(self._gather)
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
            _fail(batch, WriteFailed(str(exc)))
            await self._release()
            await asyncio.sleep(0.2)  # do not spin against a database that is down
            return
        except BaseException:  # cancelled mid-write: whether it committed is unknown
            _fail(batch, WriteFailed("the writer was stopped during the commit"))
            if self._conn is not None:
                self._conn.terminate()
            await self._release()
            raise
        finally:
            self._in_flight = 0
        self.batches += 1
        self.committed += len(batch)
        for _, waiter in batch:
            _resolve(waiter, None)

    async def _release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                await self._pool.release(conn)

    async def _write(self, folded: _Folded) -> None:
        if self._conn is None:
            self._conn = await self._pool.acquire()
        conn = self._conn
        upserts = [item for item in folded.bindings.values() if isinstance(item, StoredBinding)]
        removals = [key for key, item in folded.bindings.items() if item is None]
        expired = [key for key, item in folded.bindings.items() if item == _EXPIRED]
        # A binding new to its phone comes with a phone.registered event: it has no row to
        # refresh. Every other upsert is tried as a refresh (cseq and expiry only) first,
        # and so is every status that only moves the expiry.
        new = {item.phone_id for item in folded.events if item.type == _REGISTERED}
        statuses = list(folded.statuses.values())
        narrow = [
            item.phone_id not in new and status_queries.status_shape(item) is not None
            for item in statuses
        ]
        write = functools.partial(
            binding_queries.write_batch, conn, removals=removals, expired=expired,
            node=self._node or None,
            refreshes=[item for item in upserts if item.phone_id not in new],
            upserts=[item for item in upserts if item.phone_id in new],
            status_refreshes=[item for item, n in zip(statuses, narrow, strict=True) if n],
            statuses=[item for item, n in zip(statuses, narrow, strict=True) if not n],
            events=folded.events,
        )  # fmt: skip
        if not folded.drop_phones:
            missed = await write()  # one statement: its own transaction, one commit
            if missed:
                # rows that moved, vanished or were written by someone else. Written
                # after the rest of the batch committed: should this fail, its waiters
                # are told so although most of the batch is durable — harmless, they
                # answer 503 and the phone registers again.
                await binding_queries.write_batch(
                    conn, upserts=missed.bindings, statuses=missed.statuses
                )
            return
        async with conn.transaction():  # phones dropped first, then the rest of the batch
            for phone_id in folded.drop_phones:
                await binding_queries.delete_phone_bindings(conn, phone_id)
            missed = await write()
            if missed:
                await binding_queries.write_batch(
                    conn, upserts=missed.bindings, statuses=missed.statuses
                )


def _fail(batch: list[tuple[WriteJob, Waiter]], exc: WriteFailed) -> None:
    for _, waiter in batch:
        _resolve(waiter, exc)


def _resolve(waiter: Waiter, exc: WriteFailed | None) -> None:
    if isinstance(waiter, asyncio.Future):
        if not waiter.done():
            if exc is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(exc)
        return
    try:
        waiter(exc)
    except Exception:
        log.exception("a commit callback failed")
