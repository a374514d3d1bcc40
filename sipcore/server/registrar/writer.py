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

When the database is away (restarting, failing over, unreachable) every batch fails
with `WriteFailed` and its REGISTERs are answered 503; the flusher tries the next batch
on a new connection 0.2 s later, so registrations are committed again as soon as the
database answers. That is logged when it starts, every 10 s while it lasts, and when it
ends — not once per batch. A batch the database does not answer within `WRITE_TIMEOUT`
seconds (the network to it drops packets: nothing refused, nothing reset) fails the
same way: its connection is closed and its REGISTERs are answered 503 instead of
waiting for the connection's 30 s command timeout, past the phones' own SIP transaction
timeout. When the database refuses a batch's *rows* (a data or
integrity error: one request's value out of range, say), the batch's jobs are written
again one at a time, so only the request at fault fails (`WriteFailed.rejected`).

Rows are written in key order (bindings by phone and contact, statuses by phone):
writers of two nodes or workers touching the same rows take their locks in the same
order instead of each other's reverse.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from db import bindings as binding_queries
from db import phone_status as status_queries
from db.bindings import StoredBinding
from db.errors import DB_ERRORS
from db.phone_status import EventWrite, StatusWrite

log = logging.getLogger(__name__)


class WriteFailed(Exception):
    """The batch holding this job did not commit; nothing of it is durable.

    `rejected`: the database refused this job's own rows (a data or integrity error) —
    sending the request again will not help. Otherwise the database could not be
    written (unreachable, restarting): the request may be retried later."""

    def __init__(self, message: str, *, rejected: bool = False) -> None:
        super().__init__(message)
        self.rejected = rejected


# The database refused the rows themselves, not the connection: a value out of range
# or of the wrong form (asyncpg's own encoding errors are ValueErrors), a constraint, a
# row or payload over a size limit.
_DATA_ERRORS: tuple[type[Exception], ...] = (
    asyncpg.DataError,
    asyncpg.IntegrityConstraintViolationError,
    asyncpg.ProgramLimitExceededError,
    ValueError,
)
_RETRY_SECONDS = 0.2  # after a failed batch: do not spin against a database that is down
_OUTAGE_LOG_SECONDS = 10.0
WRITE_TIMEOUT = 5.0  # a batch not committed by then fails (503); a commit takes milliseconds
# ... and while writes fail, one still waiting for a connection by then: the requests
# queued behind a batch that timed out are not made to wait another WRITE_TIMEOUT for a
# database that has not answered (a batch that has its connection keeps WRITE_TIMEOUT:
# a slow database is not taken for an absent one)
FAILING_CONNECT_TIMEOUT = 1.5
_ABANDON_SECONDS = 30.0  # how long a write that timed out may take to end before it is cancelled


class _NoAnswer(TimeoutError):
    """The database did not answer a batch in time; `task` is the write, still ending."""

    def __init__(self, seconds: float, task: asyncio.Task[None]) -> None:
        super().__init__(f"no answer from the database within {seconds:g} s")
        self.task = task


class _AfterCommit(Exception):
    """The rows of a batch that needed a second statement were refused after the first
    statement had committed (its events among them)."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


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
        timeout: float = WRITE_TIMEOUT,
    ) -> None:
        self._pool = pool
        self._timeout = timeout
        self._stuck: asyncio.Task[None] | None = None  # a write that timed out, still ending
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
        self._failing_since: float | None = None  # monotonic time of the first failure
        self._failing_logged = 0.0
        self._refused = 0  # requests failed since then
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
            if self._stuck is not None:
                self._stuck.cancel()
                await asyncio.wait({self._stuck})
                self._stuck = None
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
                # two. Waiting a few milliseconds gathers dozens (measured with
                # bench/registrar/compare.sh: 10 ms took ~60 µs of CPU off each
                # registration at 4,500/s); a phone's first retransmission comes after
                # 500 ms, so it does not notice.
                await asyncio.sleep(self._gather)
            await self._flush_once()

    async def _flush_once(self) -> None:
        batch = [self._queue.popleft() for _ in range(min(self._max_batch, len(self._queue)))]
        if not batch:
            return
        if self._stuck is not None:
            if not self._stuck.done():
                # a write the database did not answer has not ended yet (its connection
                # attempt is waiting): answer at once rather than queue behind it
                await self._unavailable(
                    batch, TimeoutError("the database does not answer"), release=False
                )
                return
            self._stuck = None
            await self._release(terminate=True)  # whatever it leased, in whatever state
        self._in_flight = len(batch)
        try:
            await self._write_bounded(_fold(batch))
        except _AfterCommit as exc:
            await self._one_by_one(batch, exc.cause, events=False)
            return
        except _DATA_ERRORS as exc:
            await self._one_by_one(batch, exc)
            return
        except DB_ERRORS as exc:
            await self._unavailable(batch, exc)
            return
        except Exception as exc:  # a bug: the flusher must outlive it
            log.exception("binding write of %d requests failed", len(batch))
            await self._unavailable(batch, exc, terminate=True)
            return
        except BaseException:  # cancelled mid-write: whether it committed is unknown
            _fail(batch, WriteFailed("the writer was stopped during the commit"))
            await self._release(terminate=True)
            raise
        finally:
            self._in_flight = 0
        self._done(batch)

    async def _write_bounded(self, folded: _Folded) -> None:
        """`_write`, given `WRITE_TIMEOUT` seconds (`FAILING_CONNECT_TIMEOUT` to get a
        connection while writes fail): then its connection is closed (a statement
        waiting for an answer fails at once) and `_NoAnswer` raised."""
        task = asyncio.ensure_future(self._write(folded))
        first = self._timeout
        if self._failing_since is not None:
            first = min(first, FAILING_CONNECT_TIMEOUT)
        try:
            done, _ = await asyncio.wait({task}, timeout=first)
            if not done and self._conn is not None and first < self._timeout:
                done, _ = await asyncio.wait({task}, timeout=self._timeout - first)
        except BaseException:
            task.cancel()
            raise
        if not done:
            if self._conn is not None:
                self._conn.terminate()
            raise _NoAnswer(self._timeout if self._conn is not None else first, task)
        task.result()

    def _done(self, batch: list[tuple[WriteJob, Waiter]]) -> None:
        if self._failing_since is not None:
            log.warning(
                "binding writes commit again after %.1f s; %d requests were refused meanwhile",
                time.monotonic() - self._failing_since,
                self._refused,
            )
            self._failing_since = None
        self.batches += 1
        self.committed += len(batch)
        for _, waiter in batch:
            _resolve(waiter, None)

    async def _unavailable(
        self,
        batch: list[tuple[WriteJob, Waiter]],
        exc: Exception,
        *,
        terminate: bool = False,
        release: bool = True,
    ) -> None:
        """The database could not be written: fail the batch, drop the connection (not
        with `release=False`: a write that timed out may still be using it), and say so
        once when it starts and every few seconds while it lasts."""
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = self._failing_logged = now
            self._refused = 0
            log.error("binding writes fail, REGISTERs are answered 503 until the database "
                      "is back: %s", _short(exc))  # fmt: skip
        elif now - self._failing_logged >= _OUTAGE_LOG_SECONDS:
            self._failing_logged = now
            log.error(
                "binding writes still fail after %.0f s (%d requests refused): %s",
                now - self._failing_since,
                self._refused + len(batch),
                _short(exc),
            )
        self._refused += len(batch)
        _fail(batch, WriteFailed(str(exc)))
        if isinstance(exc, _NoAnswer):  # batches fail at once until it ends (`_flush_once`)
            self._stuck = exc.task
            exc.task.add_done_callback(_retrieve)
            asyncio.get_running_loop().call_later(_ABANDON_SECONDS, exc.task.cancel)
            return
        if release:
            await self._release(terminate=terminate)
        await asyncio.sleep(_RETRY_SECONDS)

    async def _one_by_one(
        self, batch: list[tuple[WriteJob, Waiter]], exc: Exception, *, events: bool = True
    ) -> None:
        """The database refused a batch's rows: write its jobs one at a time, in order,
        so that only the request at fault fails. `events=False`: the batch's events
        were committed already (by its first statement, see `_AfterCommit`)."""
        if len(batch) > 1:
            log.info("binding write of %d requests refused (%s); writing them one by one",
                     len(batch), _short(exc))  # fmt: skip
        for index, (job, waiter) in enumerate(batch):
            folded = _fold([(job, waiter)])
            if not events:
                folded.events.clear()
            try:
                await self._write_bounded(folded)
            except _AfterCommit as refused:
                _reject(job, waiter, refused.cause)
            except _DATA_ERRORS as refused:
                _reject(job, waiter, refused)
            except DB_ERRORS as failed:
                await self._unavailable(batch[index:], failed)
                return
            except Exception as failed:
                log.exception("binding write of one request failed")
                await self._unavailable(batch[index:], failed, terminate=True)
                return
            except BaseException:  # cancelled: this job's outcome is unknown, the rest unwritten
                _fail(batch[index:], WriteFailed("the writer was stopped during the commit"))
                await self._release(terminate=True)
                raise
            else:
                self._done([(job, waiter)])

    async def _release(self, *, terminate: bool = False) -> None:
        """Give the leased connection back; `terminate`: close it first (its state is
        unknown)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(*DB_ERRORS):
                if terminate:
                    conn.terminate()
                await self._pool.release(conn)

    async def _write(self, folded: _Folded) -> None:
        if self._conn is None:
            self._conn = await self._pool.acquire()
        conn = self._conn
        # key order: see the module docstring (a batch holds each key once)
        keys = sorted(folded.bindings)
        upserts = [item for key in keys if isinstance(item := folded.bindings[key], StoredBinding)]
        removals = [key for key in keys if folded.bindings[key] is None]
        expired = [key for key in keys if folded.bindings[key] == _EXPIRED]
        # A binding new to its phone comes with a phone.registered event: it has no row to
        # refresh. Every other upsert is tried as a refresh (cseq and expiry only) first,
        # and so is every status that only moves the expiry.
        new = {item.phone_id for item in folded.events if item.type == _REGISTERED}
        statuses = [folded.statuses[phone_id] for phone_id in sorted(folded.statuses)]
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
                try:
                    await binding_queries.write_batch(
                        conn, upserts=missed.bindings, statuses=missed.statuses
                    )
                except _DATA_ERRORS as exc:
                    raise _AfterCommit(exc) from exc
            return
        async with conn.transaction():  # phones dropped first, then the rest of the batch
            for phone_id in sorted(set(folded.drop_phones)):
                await binding_queries.delete_phone_bindings(conn, phone_id)
            missed = await write()
            if missed:
                await binding_queries.write_batch(
                    conn, upserts=missed.bindings, statuses=missed.statuses
                )


def _retrieve(task: asyncio.Task[None]) -> None:
    """The outcome of a write that timed out is dropped: its requests were answered 503
    (it may still have committed, which a 503 allows)."""
    if not task.cancelled():
        task.exception()  # retrieved, so asyncio does not log it


def _fold(batch: list[tuple[WriteJob, Waiter]]) -> _Folded:
    folded = _Folded()
    for job, _ in batch:
        folded.add(job)
    return folded


def _short(exc: Exception) -> str:
    """An error in one line of bounded length (asyncpg's encoding errors quote the whole
    argument array)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:300] + "…"


def _reject(job: WriteJob, waiter: Waiter, exc: Exception) -> None:
    phones = sorted(
        {item.phone_id for item in job.upserts}
        | {key[0] for key in job.removals}
        | {item.phone_id for item in job.statuses}
    )
    log.warning("binding rows of phone %s refused by the database: %s",
                ", ".join(phones) or "?", _short(exc))  # fmt: skip
    _resolve(waiter, WriteFailed(_short(exc), rejected=True))


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
