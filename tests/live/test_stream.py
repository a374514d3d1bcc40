"""/api/events: order, ids, resumption, tenant filtering, heartbeat, slow clients."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import asyncpg
import pytest

from db.events import append_event
from provisioning.live.fanout import EventFanout
from sipcore import metrics
from tests.support import factories
from tests.support.database import bearer, insert_token
from tests.support.live import Tenants
from tests.support.sse import SseReader


async def open_stream(client: Any, token: str, **headers: str) -> SseReader:
    response = await client.get("/api/events", headers={**bearer(token), **headers})
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"].startswith("text/event-stream")
    reader = SseReader(response)
    greeting = await reader.message()
    assert greeting.retry == 3000
    return reader


async def append(pool: asyncpg.Pool[Any], kind: str, phone: Any, **details: Any) -> int:
    async with pool.acquire() as conn:
        event = await append_event(
            conn, kind, phone_id=phone.id, customer_id=phone.customer_id, details=details
        )
    return event.id


async def test_events_arrive_in_order_with_ids(live: Any, pool: Any, tenants: Tenants) -> None:
    reader = await open_stream(live, tenants.admin)
    kinds = ["phone.registered", "phone.config_fetched", "phone.unregistered", "phone.denied"]
    ids = [await append(pool, kind, tenants.phone_a, n=i) for i, kind in enumerate(kinds)]
    messages = await reader.events(4)
    assert [m.id for m in messages] == [str(i) for i in ids]
    assert [m.event for m in messages] == kinds
    first = messages[0].json
    assert set(first) == {"id", "type", "time", "phone", "customer", "details"}
    assert first["id"] == ids[0]
    assert first["phone"] == tenants.phone_a.id
    assert first["customer"] == tenants.a
    assert first["details"] == {"n": 0}
    assert first["time"].endswith("Z")


async def test_last_event_id_resumes_exactly_the_missed_ones(
    live: Any, pool: Any, tenants: Tenants
) -> None:
    ids = [await append(pool, "phone.registered", tenants.phone_a, n=i) for i in range(6)]
    reader = await open_stream(live, tenants.admin, **{"Last-Event-ID": str(ids[2])})
    missed = await reader.events(3)
    assert [int(m.id or 0) for m in missed] == ids[3:]
    later = await append(pool, "phone.expired", tenants.phone_a)
    message = await reader.event()
    assert (message.id, message.event) == (str(later), "phone.expired")
    await reader.no_event(0.5)  # no duplicates of the backlog

    # the query parameter works the same for a first connection
    response = await live.get(f"/api/events?lastEventId={ids[4]}", headers=bearer(tenants.admin))
    replay = await SseReader(response).events(2)
    assert [int(m.id or 0) for m in replay] == [ids[5], later]


async def test_bad_last_event_id_is_refused(live: Any, tenants: Tenants) -> None:
    for value in ("abc", "-1", "1.5", "99999999999999999999999"):
        response = await live.get(
            "/api/events", headers={**bearer(tenants.admin), "Last-Event-ID": value}
        )
        assert response.status == 422
        assert (await response.json())["message"] == "lastEventId"


async def test_stream_needs_a_token(live: Any) -> None:
    response = await live.get("/api/events")
    assert response.status == 401
    response = await live.get("/api/events", headers=bearer("sft_not-a-real-token"))
    assert response.status == 401


async def test_tenant_filtering(live: Any, pool: Any, tenants: Tenants) -> None:
    stream_a = await open_stream(live, tenants.token_a)
    stream_b = await open_stream(live, tenants.token_b)
    stream_admin = await open_stream(live, tenants.admin)
    first_b = await append(pool, "phone.registered", tenants.phone_b)
    only_a = await append(pool, "phone.registered", tenants.phone_a)
    async with pool.acquire() as conn:  # an unknown MAC has no customer: admins only
        await append_event(conn, "phone.discovered", details={"macAddress": "001565FFFFFF"})
    last_b = await append(pool, "phone.unregistered", tenants.phone_b)

    got_a = await stream_a.event()
    assert int(got_a.id or 0) == only_a
    await stream_a.no_event(0.5)
    got_b = await stream_b.events(2)
    assert [int(m.id or 0) for m in got_b] == [first_b, last_b]
    assert all(m.json["customer"] == tenants.b for m in got_b)
    got_admin = await stream_admin.events(4)
    assert [m.event for m in got_admin] == [
        "phone.registered",
        "phone.registered",
        "phone.discovered",
        "phone.unregistered",
    ]

    # resumption is filtered too
    response = await live.get(
        "/api/events", headers={**bearer(tenants.token_a), "Last-Event-ID": "0"}
    )
    replay = SseReader(response)
    assert int((await replay.event()).id or 0) == only_a
    await replay.no_event(0.5)


async def test_heartbeat_on_an_idle_stream(live: Any, tenants: Tenants) -> None:
    reader = await open_stream(live, tenants.admin)
    loop = asyncio.get_running_loop()
    started = loop.time()
    beat = await reader.message(timeout=3)
    assert beat.data is None and beat.comments == ["heartbeat"]
    assert loop.time() - started < 2  # the fixture's interval is 0.4 s


def _stalled_client(port: int, token: str) -> socket.socket:
    """A client that asks for the stream and then never reads."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(
        f"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
    )
    return sock


async def test_a_stalled_client_is_dropped_without_slowing_others(
    live: Any, pool: Any, tenants: Tenants, fanout: EventFanout
) -> None:
    fast = await open_stream(live, tenants.admin)
    stalled = _stalled_client(live.port, tenants.admin)
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while fanout.stream_count < 2 and loop.time() < deadline:
            await asyncio.sleep(0.02)
        assert fanout.stream_count == 2
        dropped_before = metrics.EVENT_STREAM_DISCONNECTS.labels("slow")._value.get()
        padding = "x" * 8000  # fills the socket buffers quickly
        rows = [
            ("phone.config_fetched", tenants.phone_a.id, tenants.a, {"pad": padding, "n": i})
            for i in range(600)
        ]
        received: list[int] = []

        async def consume() -> None:
            while len(received) < len(rows):
                received.append(int((await fast.event(timeout=10)).id or 0))

        consumer = asyncio.create_task(consume())
        async with pool.acquire() as conn:
            for kind, phone_id, customer_id, details in rows:
                await append_event(
                    conn, kind, phone_id=phone_id, customer_id=customer_id, details=details
                )
        await asyncio.wait_for(consumer, 20)
        assert received == sorted(received) and len(set(received)) == len(rows)
        assert metrics.EVENT_STREAM_DISCONNECTS.labels("slow")._value.get() == dropped_before + 1
        assert fanout.stream_count == 1
        # the stalled socket was aborted: once its buffers drain, it reads end-of-stream
        stalled.settimeout(5)
        with_eof = False
        try:
            while chunk := stalled.recv(65536):
                assert len(chunk) > 0
            with_eof = True
        except ConnectionResetError:
            with_eof = True
        assert with_eof
    finally:
        stalled.close()


async def test_revoking_the_token_ends_its_open_stream(
    live: Any, pool: Any, tenants: Tenants
) -> None:
    reader = await open_stream(live, tenants.token_a)
    async with pool.acquire() as conn:
        await conn.execute("DELETE FROM api_tokens WHERE customer_id = $1", tenants.a)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(EOFError):
        for _ in range(20):
            await reader.message(timeout=3)
    assert loop.time() - started < 3  # checked every 0.5 s in these tests


async def test_an_event_committed_late_is_still_delivered(
    live: Any, pool: Any, tenants: Tenants
) -> None:
    """Ids come from a sequence: id N may commit after N+1. The stream still sends N,
    without an `id:` line, so the client's resumption point does not move back."""
    reader = await open_stream(live, tenants.admin)
    async with pool.acquire() as slow_conn:
        transaction = slow_conn.transaction()
        await transaction.start()
        early = await append_event(
            slow_conn, "phone.config_fetched", phone_id=tenants.phone_a.id, customer_id=tenants.a
        )
        later = await append(pool, "phone.registered", tenants.phone_a)
        first = await reader.event()
        assert first.id == str(later) and int(early.id) < later
        await transaction.commit()
    late = await reader.event()
    assert late.id is None and late.event == "phone.config_fetched"
    assert late.json["id"] == early.id
    await reader.no_event(0.5)


async def test_streams_survive_losing_the_listen_connection(
    live: Any, pool: Any, tenants: Tenants
) -> None:
    reader = await open_stream(live, tenants.admin)
    async with pool.acquire() as conn:
        killed = await conn.fetchval(
            """SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
               WHERE datname = current_database() AND pid <> pg_backend_pid()
                 AND query LIKE 'LISTEN%'"""
        )
    assert killed == 1
    event_id = await append(pool, "phone.registered", tenants.phone_a)
    message = await reader.event(timeout=8)  # caught up after reconnecting (or by polling)
    assert message.id == str(event_id)


async def test_a_reseller_sees_its_customers_only(live: Any, pool: Any, tenants: Tenants) -> None:
    async with pool.acquire() as conn:
        reseller = await factories.reseller(conn)
        await conn.execute(
            "UPDATE customers SET reseller_id = $1 WHERE id = $2", reseller, tenants.b
        )
        token = await insert_token(conn, "RESELLER", reseller_id=reseller)
    reader = await open_stream(live, token)
    await append(pool, "phone.registered", tenants.phone_a)
    mine = await append(pool, "phone.registered", tenants.phone_b)
    assert (await reader.event()).id == str(mine)
    await reader.no_event(0.3)


def test_encoding_is_shared_per_event_object_never_per_id() -> None:
    from datetime import UTC, datetime

    from db.events import Event
    from provisioning.live.stream import encoded

    now = datetime.now(UTC)
    first = Event(
        id=7, time=now, type="phone.registered", phone_id="p", customer_id="A", details={}
    )
    same_id = Event(
        id=7, time=now, type="phone.registered", phone_id="p", customer_id="B", details={}
    )
    assert encoded(first, True) is encoded(first, True)
    assert b'"customer":"B"' in encoded(same_id, True)
    assert encoded(first, False).startswith(b"event: phone.registered\n")


async def test_with_no_stream_open_the_log_is_read_in_pauses_and_a_new_stream_catches_up(
    live: Any, pool: Any, tenants: Tenants, fanout: EventFanout
) -> None:
    fanout.idle_fetch_seconds = 30.0  # a pause far longer than this test
    fanout._joined.set()  # ends a pause begun with the fixture's length
    first = await append(pool, "phone.registered", tenants.phone_a)
    for _ in range(100):  # read at once, then the fetch task pauses
        if fanout.last_id >= first:
            break
        await asyncio.sleep(0.02)
    before = metrics.EVENTS.labels("phone.config_fetched")._value.get()
    # events committed while nobody streams: not read one by one
    ids = [await append(pool, "phone.config_fetched", tenants.phone_a, n=i) for i in range(5)]
    await asyncio.sleep(0.3)
    assert fanout.last_id < ids[-1]
    # a stream opening now brings the fan-out up to date before it joins: none of those
    # (committed before it opened) reach it, and the events after it do, at once
    reader = await open_stream(live, tenants.admin)
    assert fanout.last_id >= ids[-1]
    assert metrics.EVENTS.labels("phone.config_fetched")._value.get() == before + 5
    later = await append(pool, "phone.registered", tenants.phone_a)
    message = await reader.event(timeout=2)
    assert (message.id, message.event) == (str(later), "phone.registered")
    await reader.no_event(0.3)
    # a stream resuming from an id gets the ones it missed from the log, once each
    resumed = await open_stream(live, tenants.admin, **{"Last-Event-ID": str(ids[2])})
    missed = await resumed.events(3)
    assert [int(m.id or 0) for m in missed] == [ids[3], ids[4], later]
    await resumed.no_event(0.3)
