"""One LISTEN connection per node, fanning the event log out to every open stream.

Theory of operation. Every component appends to the `events` table through
`db.events.append_event`, which also sends `pg_notify('sipfleet_events', id)` in the same
transaction, so each node learns of every committed event, whichever node wrote it. The
fan-out holds one connection LISTENing on that channel; a notification only wakes a
single fetch task, which reads the log after the last id it has seen (so a burst of
notifications costs one query, and a notification lost while reconnecting costs nothing:
the next fetch catches up, and a periodic wake covers a silent connection). While no
stream is open on this process the task reads at most once a second; a stream that opens
first brings the fan-out up to date, then joins (`subscribe_caught_up`).

Ids come from a sequence, so a transaction that took id 10 may commit after the one that
took 11. The fetcher remembers such holes for `HOLE_SECONDS` and looks for them again,
so a late commit is still delivered (a rolled-back insert leaves a hole forever; it is
forgotten when its time is up, or once it lies `HOLE_SPAN` ids back, which bounds what
each fetch re-reads under a high event rate).

Each stream is a `Subscriber` with a bounded queue. Delivery never waits: when a queue
is full the subscriber is dropped and its connection aborted, so a stalled client costs
the server at most `queue_limit` events and never slows the others. The client's
EventSource reconnects with `Last-Event-ID` and resumes from the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from db import events as event_queries
from db.errors import DB_ERRORS
from db.events import EVENTS_CHANNEL, Event
from provisioning.auth import Principal
from sipcore import metrics

log = logging.getLogger(__name__)

HOLE_SECONDS = 10.0
HOLE_SPAN = 2000  # holes further back than this many ids are given up (bounds re-reads)
FETCH_BATCH = 500
POLL_SECONDS = 5.0
IDLE_FETCH_SECONDS = 1.0  # how often the log is read while no stream is open
RECONNECT_SECONDS = 1.0


@dataclass(slots=True, eq=False)
class Subscriber:
    """One open stream: what its principal may see and the events waiting to be written."""

    principal: Principal
    queue: asyncio.Queue[Event]
    on_drop: Callable[[], None] | None = None
    dropped: str | None = None  # why the server closed it: "slow" or "shutdown"
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    scope: frozenset[str] | None = None  # the principal's customers as a set; None: all

    def __post_init__(self) -> None:
        ids = self.principal.customer_ids
        self.scope = None if ids is None else frozenset(ids)

    def sees(self, customer_id: str | None) -> bool:
        """`Principal.sees`, in constant time for resellers with many customers."""
        return self.scope is None or (customer_id is not None and customer_id in self.scope)

    def offer(self, event: Event) -> bool:
        """Queue the event if the principal sees it; False when the queue is full."""
        if self.dropped is not None or not self.sees(event.customer_id):
            return True
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            return False
        return True

    def drop(self, reason: str) -> None:
        if self.dropped is not None:
            return
        self.dropped = reason
        self.closed.set()
        metrics.EVENT_STREAM_DISCONNECTS.labels(reason).inc()
        if self.on_drop is not None:
            self.on_drop()


class EventFanout:
    """The node's event fan-out; `ctx.hub.events` holds the running one."""

    def __init__(
        self,
        pool: asyncpg.Pool[Any],
        *,
        heartbeat_seconds: float = 15.0,
        queue_limit: int = 10_000,
        poll_seconds: float = POLL_SECONDS,
        revalidate_seconds: float = 60.0,
        idle_fetch_seconds: float = IDLE_FETCH_SECONDS,
    ) -> None:
        self.pool = pool
        self.idle_fetch_seconds = idle_fetch_seconds
        self._fetching = asyncio.Lock()  # one reader of the log at a time
        self._joined = asyncio.Event()  # a stream subscribed (ends the idle pause)
        self.heartbeat_seconds = heartbeat_seconds
        self.revalidate_seconds = revalidate_seconds
        self.queue_limit = queue_limit
        self.poll_seconds = poll_seconds
        self._subscribers: set[Subscriber] = set()
        self._last_id = 0
        self._holes: dict[int, float] = {}  # missing id -> monotonic time it was seen missing
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._listen_conn: asyncpg.Connection[Any] | None = None
        self._stopping = False

    # --- life cycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Note where the log ends now, then listen and fetch in the background."""
        async with self.pool.acquire() as conn:
            latest = await event_queries.latest_events(conn, None, 1)
        self._last_id = latest[-1].id if latest else 0
        self._tasks = [
            asyncio.create_task(self._listen_loop(), name="sipfleet-events-listen"),
            asyncio.create_task(self._fetch_loop(), name="sipfleet-events-fetch"),
        ]

    async def stop(self) -> None:
        """Close every stream and stop listening."""
        self._stopping = True
        self.close_streams()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    def close_streams(self) -> None:
        for subscriber in list(self._subscribers):
            subscriber.drop("shutdown")
        self._subscribers.clear()

    @property
    def last_id(self) -> int:
        return self._last_id

    @property
    def stream_count(self) -> int:
        return len(self._subscribers)

    # --- streams ------------------------------------------------------------------------

    def subscribe(
        self, principal: Principal, on_drop: Callable[[], None] | None = None
    ) -> Subscriber:
        subscriber = Subscriber(
            principal=principal, queue=asyncio.Queue(self.queue_limit), on_drop=on_drop
        )
        if self._stopping:
            subscriber.drop("shutdown")
            return subscriber
        self._subscribers.add(subscriber)
        self._joined.set()
        metrics.EVENT_STREAM_CLIENTS.set(len(self._subscribers))
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)
        metrics.EVENT_STREAM_CLIENTS.set(len(self._subscribers))

    def publish(self, event: Event) -> None:
        """Hand one event to every stream that may see it; drop the ones that are full."""
        metrics.EVENTS.labels(event.type).inc()
        for subscriber in list(self._subscribers):
            if not subscriber.offer(event):
                log.warning(
                    "event stream too slow, disconnecting (token %s)", subscriber.principal.token_id
                )
                self._subscribers.discard(subscriber)
                subscriber.drop("slow")
        metrics.EVENT_STREAM_CLIENTS.set(len(self._subscribers))

    def wake(self) -> None:
        """Fetch now (a notification arrived, or a test appended without NOTIFY)."""
        self._wake.set()

    # --- LISTEN -------------------------------------------------------------------------

    def _notified(self, conn: Any, pid: int, channel: str, payload: object) -> None:
        self._wake.set()

    async def _listen_loop(self) -> None:
        """Hold the LISTEN connection, reconnecting (and catching up) when it is lost."""
        while True:
            try:
                await self._listen_once()
            except DB_ERRORS:
                log.warning("event LISTEN connection failed; retrying")
            await asyncio.sleep(RECONNECT_SECONDS)

    async def _listen_once(self) -> None:
        lost = asyncio.Event()
        async with self.pool.acquire() as conn:
            await conn.add_listener(EVENTS_CHANNEL, self._notified)
            conn.add_termination_listener(lambda _conn: lost.set())
            self._wake.set()  # catch up on what happened while not listening
            try:
                await lost.wait()
            finally:
                if not conn.is_closed():
                    await conn.remove_listener(EVENTS_CHANNEL, self._notified)

    # --- fetching -----------------------------------------------------------------------

    async def _fetch_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
            self._wake.clear()
            try:
                async with self._fetching:
                    await self._fetch_new()
            except DB_ERRORS:
                log.warning("reading the event log failed; retrying")
                await asyncio.sleep(RECONNECT_SECONDS)
            if not self._subscribers:
                # Nobody is streaming: read the log at most once per `idle_fetch_seconds`
                # (the metrics still count every event, a little later) instead of once
                # per commit — in a boot storm every phone's events would otherwise cost
                # each worker of each node a query. A stream that opens now catches up
                # at once (`subscribe_caught_up`), and its live events flow from then on.
                self._joined.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._joined.wait(), self.idle_fetch_seconds)

    async def subscribe_caught_up(
        self, principal: Principal, on_drop: Callable[[], None] | None = None
    ) -> Subscriber:
        """`subscribe`, after reading the log up to now: while no stream was open the
        fan-out may lag behind the log, and what it has not read yet was committed before
        this stream opened (a client resuming from an id gets it from the backlog)."""
        if not self._subscribers and not self._stopping:
            try:
                async with self._fetching:
                    await self._fetch_new()
            except DB_ERRORS:
                log.warning("reading the event log failed; the stream starts from later events")
        return self.subscribe(principal, on_drop)

    async def _fetch_new(self) -> None:
        """Publish everything committed since the last fetch, holes included."""
        now = time.monotonic()
        oldest = self._last_id - HOLE_SPAN
        self._holes = {
            i: t for i, t in self._holes.items() if now - t < HOLE_SECONDS and i > oldest
        }
        start = min(self._holes) - 1 if self._holes else self._last_id
        async with self.pool.acquire() as conn:
            while True:
                if self._subscribers:
                    events = await event_queries.events_after(conn, start, None, FETCH_BATCH)
                    ids = [event.id for event in events]
                    for event in events:
                        if self._accept(event.id, now):
                            self.publish(event)
                else:
                    # Nobody to deliver to: ids and types only (holes and metrics). The
                    # rows were committed before the query, so before any stream that
                    # subscribes meanwhile: not delivering them to it is right.
                    brief = await event_queries.event_types_after(conn, start, FETCH_BATCH)
                    ids = [event_id for event_id, _ in brief]
                    for event_id, event_type in brief:
                        if self._accept(event_id, now):
                            metrics.EVENTS.labels(event_type).inc()
                if len(ids) < FETCH_BATCH:
                    return
                start = ids[-1]

    def _accept(self, event_id: int, now: float) -> bool:
        """Note a read event's id; False when it was published before."""
        if event_id > self._last_id:
            for missing in range(self._last_id + 1, min(event_id, self._last_id + 1001)):
                self._holes[missing] = now
            self._last_id = event_id
            return True
        return self._holes.pop(event_id, None) is not None
