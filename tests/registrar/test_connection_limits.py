"""SIP stream connections are rationed (each holds a file descriptor): an address may have
a few unauthenticated connections open at once, more are closed as soon as they are
accepted (counted in a metric); authenticated ones do not count; an unauthenticated
connection is closed after a short idle time, keep-alive pings notwithstanding, while an
authenticated one stays; the process-wide budget refuses beyond it. TCP and WebSocket,
on real sockets, with the SIP service started in-process on the real database."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import asyncpg
from aiohttp import web

from sipcore import metrics
from sipcore.server.transport.websocket import websocket_handler
from tests.support.phones import new_phone
from tests.support.sip_client import SipClient
from tests.support.waiting import wait_until


def _refused(transport: str, reason: str) -> float:
    value = metrics.REGISTRY.get_sample_value(
        "sipfleet_sip_connections_refused_total", {"transport": transport, "reason": reason}
    )
    return value or 0.0


def _idle_closed(state: str) -> float:
    value = metrics.REGISTRY.get_sample_value(
        "sipfleet_sip_connections_idle_closed_total", {"state": state}
    )
    return value or 0.0


async def _connect(address: tuple[str, int], local_ip: str = "127.0.0.1") -> Any:
    return await asyncio.open_connection(*address, local_addr=(local_ip, 0))


async def _closed_by_server(reader: asyncio.StreamReader, timeout: float = 3.0) -> bool:
    """True when the server closes (or resets) the connection within `timeout`."""
    try:
        data = await asyncio.wait_for(reader.read(1024), timeout)
    except ConnectionError:
        return True
    except TimeoutError:
        return False
    return data == b""


async def _turned_away(address: tuple[str, int], local_ip: str = "127.0.0.1") -> bool:
    """Connect and see the server close (or reset) it at once; a reset can come before
    the client's connect call has even returned."""
    try:
        reader, writer = await _connect(address, local_ip)
    except ConnectionResetError:
        return True
    try:
        return await _closed_by_server(reader)
    finally:
        writer.close()


async def test_unauthenticated_connections_per_address_are_capped(
    pool: asyncpg.Pool[Any], start_sip: Any, customer_id: str
) -> None:
    phone = await new_phone(pool, customer_id)
    sip = await start_sip(connections_per_address=3)
    table = sip.service.connections
    address = sip.address("tcp")
    refused_before = _refused("tcp", "per_address")
    held = [await _connect(address) for _ in range(3)]
    await wait_until(lambda: table.unauthenticated("127.0.0.1") == 3, timeout=3.0)
    assert await _turned_away(address)  # closed at once, nothing asked of it
    assert _refused("tcp", "per_address") == refused_before + 1
    for _, writer in held:  # the first three are untouched
        assert not writer.is_closing()
    # another address has its own share
    other_reader, other_writer = await _connect(address, "127.0.0.2")
    assert not await _closed_by_server(other_reader, 0.3)
    other_writer.close()

    # a phone that registers over one of them frees its place: authenticated connections
    # do not count, so phones behind one NAT address are not limited by this
    for _, writer in held:
        writer.close()
    await wait_until(lambda: table.unauthenticated("127.0.0.1") == 0, timeout=3.0)
    async with SipClient(server=address, transport="tcp") as client:
        ok = await client.register(phone.username, phone.password)
        assert ok is not None and ok.status == 200
        await wait_until(lambda: table.unauthenticated("127.0.0.1") == 0, timeout=3.0)
        more = [await _connect(address) for _ in range(3)]
        await wait_until(lambda: table.unauthenticated("127.0.0.1") == 3, timeout=3.0)
        for reader, _ in more:
            assert not await _closed_by_server(reader, 0.1)
        for _, writer in more:
            writer.close()


async def test_unauthenticated_connection_closed_after_its_idle_time(
    pool: asyncpg.Pool[Any], start_sip: Any, customer_id: str
) -> None:
    phone = await new_phone(pool, customer_id)
    sip = await start_sip(unauthenticated_timeout=1, tcp_idle_timeout=600)
    address = sip.address("tcp")
    closed_before = _idle_closed("unauthenticated")
    silent_reader, silent_writer = await _connect(address)
    pinging_reader, pinging_writer = await _connect(address)
    client = await SipClient(server=address, transport="tcp").open()
    try:
        ok = await client.register(phone.username, phone.password, expires=0)  # no binding
        assert ok is not None and ok.status == 200
        started = time.monotonic()
        pongs = 0
        while time.monotonic() - started < 2.5 and not pinging_writer.is_closing():
            pinging_writer.write(b"\r\n\r\n")  # keep-alive pings keep no stranger's open
            try:
                pong = await asyncio.wait_for(pinging_reader.read(16), 0.3)
            except (TimeoutError, ConnectionError):
                pong = b""
            pongs += pong.count(b"\r\n")
            if pong == b"":
                break
            await asyncio.sleep(0.2)
        assert pongs > 0  # answered all the same (RFC 5626)
        assert await _closed_by_server(pinging_reader, 3)
        assert await _closed_by_server(silent_reader, 1)
        assert _idle_closed("unauthenticated") >= closed_before + 2
        # the authenticated connection, idle as long, is still served
        client.send(client.register_bytes(phone.username, expires=0))
        answer = await client.receive()
        assert answer is not None and answer.status == 401
    finally:
        client.close()
        silent_writer.close()
        pinging_writer.close()


async def test_process_budget_refuses_beyond_it(start_sip: Any) -> None:
    sip = await start_sip()
    table = sip.service.connections
    assert table.total > 0
    table.total = table.open + 2
    address = sip.address("tcp")
    refused_before = _refused("tcp", "total")
    first = await _connect(address, "127.0.0.3")
    second = await _connect(address, "127.0.0.4")
    await wait_until(lambda: table.open == table.total, timeout=3.0)
    assert await _turned_away(address, "127.0.0.5")
    assert _refused("tcp", "total") == refused_before + 1
    for _, writer in (first, second):
        writer.close()
    await wait_until(lambda: table.open == 0, timeout=3.0)  # every close gave its place back


async def test_websocket_capped_and_idle_closed_like_tcp(
    start_sip: Any, aiohttp_client: Any
) -> None:
    sip = await start_sip(connections_per_address=2, unauthenticated_timeout=1)
    table = sip.service.connections
    app = web.Application()
    app.router.add_get(
        "/ws", websocket_handler(sip.service, sip.service.connections, idle_timeout=600.0)
    )
    http = await aiohttp_client(app)
    refused_before = _refused("ws", "per_address")
    first = await http.ws_connect("/ws", protocols=("sip",))
    second = await http.ws_connect("/ws", protocols=("sip",))
    assert table.unauthenticated("127.0.0.1") == 2
    try:
        await http.ws_connect("/ws", protocols=("sip",))
    except aiohttp.WSServerHandshakeError as exc:
        assert exc.status == 503
    else:
        raise AssertionError("a third unauthenticated WebSocket was accepted")
    assert _refused("ws", "per_address") == refused_before + 1
    # idle and never authenticated: closed by the server within about a second
    message = await first.receive(timeout=4)
    assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    await second.close()
    await first.close()
    await wait_until(
        lambda: table.unauthenticated("127.0.0.1") == 0 and table.open == 0, timeout=3.0
    )
