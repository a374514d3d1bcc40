"""`GET /api/events`: the event log as Server-Sent Events, filtered by the caller's tenant.

Each message is `id: <event id>`, `event: <type>`, `data: {"id", "type", "time", "phone",
"customer", "details"}` (HTML Living Standard, "Server-sent events"). A client that
reconnects with `Last-Event-ID` (header, or `?lastEventId=` for the first connection)
gets every visible event after that id from the log and then the live ones, without a
gap and without duplicates: the stream subscribes to the fan-out *before* reading the
backlog, and drops live events the backlog already sent. An event that commits late
(a lower id after a higher one was sent) is sent without an `id:` line, so the
client's last id, and so its resumption point, never moves backwards.

A comment line every `heartbeat_seconds` keeps proxies from closing an idle stream.
Every `revalidate_seconds` the stream resolves its token again, so revoking a token (or
a session cookie expiring) ends the streams it opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import OrderedDict

from aiohttp import web

from db import events as event_queries
from db.events import Event
from provisioning import appkeys
from provisioning.api.access import SESSION_RESOLVER, authenticate
from provisioning.auth import Level, bearer_token, principal_for_token
from provisioning.errors import ApiError
from provisioning.live.fanout import EventFanout, Subscriber

BACKLOG_BATCH = 500
MAX_EVENT_ID = 2**63 - 1
RETRY_MILLISECONDS = 3000


async def fanout_of(app: web.Application) -> EventFanout:
    """The node's fan-out; an app running without the live component starts its own."""
    hub = app[appkeys.HUB]
    if isinstance(hub.events, EventFanout):
        return hub.events
    if hub.events is not None:
        raise ApiError(503, "unavailable", "The event stream is not running")
    fanout = EventFanout(app[appkeys.POOL])
    hub.events = fanout
    hub.owned_events = fanout
    await fanout.start()
    return fanout


def parse_last_event_id(request: web.Request) -> int | None:
    """The resumption point: `Last-Event-ID` header, else `?lastEventId=`; 422 if bad."""
    text = request.headers.get("Last-Event-ID")
    if text is None:
        text = request.query.get("lastEventId")
    if text is None or text.strip() == "":
        return None
    text = text.strip()
    if not text.isascii() or not text.isdigit() or int(text) > MAX_EVENT_ID:
        raise ApiError(422, "lastEventId", "Last-Event-ID must be a non-negative event id")
    return int(text)


def format_event(event: Event, *, with_id: bool = True) -> bytes:
    """One SSE message; JSON has no raw newlines, so `data:` is a single line."""
    data = json.dumps(event.as_json(), separators=(",", ":"), default=str)
    head = f"id: {event.id}\n" if with_id else ""
    return f"{head}event: {event.type}\ndata: {data}\n\n".encode()


# Every stream sends the same bytes for an event the fan-out hands to all of them (one
# shared `Event` object): encode it once per node, not once per stream. Keyed by the
# object itself (identity), never by id alone, so a different event can never be served
# another's bytes. Bounded, oldest out first.
_ENCODED: OrderedDict[tuple[int, bool], tuple[Event, bytes]] = OrderedDict()
_ENCODED_LIMIT = 4096
WRITE_BATCH = 200


def encoded(event: Event, with_id: bool) -> bytes:
    key = (id(event), with_id)
    found = _ENCODED.get(key)
    if found is not None and found[0] is event:
        return found[1]
    data = format_event(event, with_id=with_id)
    _ENCODED[key] = (event, data)
    if len(_ENCODED) > _ENCODED_LIMIT:
        _ENCODED.popitem(last=False)
    return data


class _Writer:
    """Writes messages in order, remembering the highest id sent."""

    def __init__(self, response: web.StreamResponse) -> None:
        self.response = response
        self.last_sent = 0

    def message(self, event: Event) -> bytes:
        newer = event.id > self.last_sent
        self.last_sent = max(self.last_sent, event.id)
        return encoded(event, newer)

    async def send(self, event: Event) -> None:
        await self.response.write(self.message(event))

    async def send_many(self, events: list[Event]) -> None:
        """Several messages in one write: fewer system calls when events come in bursts."""
        if events:
            await self.response.write(b"".join(self.message(event) for event in events))


async def _send_backlog(
    request: web.Request, writer: _Writer, after_id: int, scope: list[str] | None
) -> set[int]:
    """Every visible event after `after_id` up to now; returns the ids sent."""
    sent: set[int] = set()
    pool = request.app[appkeys.POOL]
    while True:
        async with pool.acquire() as conn:
            batch = await event_queries.events_after(conn, after_id, scope, BACKLOG_BATCH)
        for event in batch:
            await writer.send(event)
            sent.add(event.id)
        if len(batch) < BACKLOG_BATCH:
            return sent
        after_id = batch[-1].id


async def _next_event(subscriber: Subscriber, timeout: float) -> Event | None:
    """The next queued event, or None on heartbeat time or when the stream was dropped."""
    if not subscriber.queue.empty():
        return subscriber.queue.get_nowait()
    getter = asyncio.ensure_future(subscriber.queue.get())
    closer = asyncio.ensure_future(subscriber.closed.wait())
    try:
        await asyncio.wait({getter, closer}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        closer.cancel()
        if not getter.done():
            getter.cancel()
    if getter.done() and not getter.cancelled():
        return getter.result()
    return None


async def _still_signed_in(request: web.Request) -> bool:
    """Whether the stream's token (or session cookie) still resolves to a principal."""
    token = bearer_token(request.headers)
    if token is None:
        resolver = request.app.get(SESSION_RESOLVER)
        token = resolver(request) if resolver is not None else None
    if token is None:
        return False
    try:
        async with request.app[appkeys.POOL].acquire() as conn:
            await principal_for_token(conn, token)
    except ApiError:
        return False
    return True


async def _pump(
    request: web.Request, writer: _Writer, subscriber: Subscriber, skip: set[int]
) -> None:
    """Live events until the subscriber is dropped, the client goes away, or the token
    is revoked (checked every `revalidate_seconds`, so a revoked token or an expired
    session stops streaming within that time)."""
    fanout = await fanout_of(request.app)
    loop = asyncio.get_running_loop()
    check_at = loop.time() + fanout.revalidate_seconds
    while subscriber.dropped is None:
        event = await _next_event(subscriber, fanout.heartbeat_seconds)
        if loop.time() >= check_at:
            if not await _still_signed_in(request):
                return
            check_at = loop.time() + fanout.revalidate_seconds
        if event is None:
            if subscriber.dropped is None:
                await writer.response.write(b": heartbeat\n\n")
            continue
        batch = [event]
        while len(batch) < WRITE_BATCH and not subscriber.queue.empty():
            batch.append(subscriber.queue.get_nowait())
        await writer.send_many([item for item in batch if not _seen(item, skip)])


def _seen(event: Event, skip: set[int]) -> bool:
    """Whether the backlog already sent this live event (each id is skipped once)."""
    if event.id in skip:
        skip.discard(event.id)
        return True
    return False


def _abort(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.abort()


async def event_stream(request: web.Request) -> web.StreamResponse:
    principal = await authenticate(request)
    principal.require(Level.VIEWER)
    after_id = parse_last_event_id(request)
    fanout = await fanout_of(request.app)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache, no-store",
            "X-Accel-Buffering": "no",  # nginx: do not buffer the stream
        }
    )
    subscriber = await fanout.subscribe_caught_up(principal, on_drop=lambda: _abort(request))
    try:
        await response.prepare(request)
        await response.write(f"retry: {RETRY_MILLISECONDS}\n: connected\n\n".encode())
        writer = _Writer(response)
        skip: set[int] = set()
        if after_id is not None:
            skip = await _send_backlog(request, writer, after_id, principal.scope)
        writer.last_sent = max(writer.last_sent, after_id or 0)
        await _pump(request, writer, subscriber, skip)
    except (ConnectionError, RuntimeError):
        pass  # the client went away, or the server aborted a slow one
    finally:
        fanout.unsubscribe(subscriber)
    with contextlib.suppress(ConnectionError, RuntimeError):
        await response.write_eof()
    return response


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/api/events", event_stream, allow_head=False)
