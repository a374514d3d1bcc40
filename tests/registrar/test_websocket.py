"""SIP over WebSocket (RFC 7118) at /ws: an aiohttp WebSocket client registers."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from aiohttp import web

from sipcore.message import SipResponse
from sipcore.parser import parse_message
from sipcore.server.transport.websocket import websocket_handler
from tests.support.phones import new_phone
from tests.support.sip_client import REALM, SipClient, authorization


async def _response(ws: Any) -> SipResponse:
    message = await ws.receive(timeout=3)
    parsed = parse_message(message.data.encode() if isinstance(message.data, str) else message.data)
    assert isinstance(parsed, SipResponse)
    return parsed


async def test_websocket_client_registers(
    pool: asyncpg.Pool[Any], start_sip: Any, customer_id: str, aiohttp_client: Any
) -> None:
    phone = await new_phone(pool, customer_id)
    sip = await start_sip()
    app = web.Application()
    app.router.add_get(
        "/ws", websocket_handler(sip.service, sip.service.connections, idle_timeout=600.0)
    )
    http = await aiohttp_client(app)
    # a missing 'sip' subprotocol is refused (RFC 7118 §4.1)
    plain = await http.get(
        "/ws",
        headers={
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version": "13",
        },
    )
    assert plain.status == 400
    async with http.ws_connect("/ws", protocols=("sip",)) as ws:
        assert ws.protocol == "sip"
        client = SipClient(server=("127.0.0.1", 0), transport="ws", local_ip="df7jal23ls0d.invalid")
        client.local_port = 0
        contact = "<sip:ws-phone@df7jal23ls0d.invalid;transport=ws>"
        await ws.send_str(client.register_bytes(phone.username, contact=contact).decode())
        challenge = await _response(ws)
        assert challenge.status == 401
        auth = authorization(
            challenge.headers.get_all("WWW-Authenticate")[0],
            phone.username,
            phone.password,
            "REGISTER",
            f"sip:{REALM}",
        )
        await ws.send_str(
            client.register_bytes(phone.username, contact=contact, authorization=auth).decode()
        )
        ok = await _response(ws)
        assert ok.status == 200
        bindings = sip.service.bindings_of(phone.id)
        assert [b.transport for b in bindings] == ["ws"]
        # the binding's flow is this WebSocket: a request to the phone comes over it
        await ws.send_str("\r\n")  # not SIP: dropped, the socket stays open
        task = asyncio.ensure_future(sip.service.check_sync(phone.id, reboot=True))
        message = await ws.receive(timeout=3)
        notify = parse_message(message.data.encode())
        assert getattr(notify, "method", None) == "NOTIFY"
        assert notify.headers.get("Event") == "check-sync;reboot=true"
        reply = ["SIP/2.0 200 OK"] + [
            f"{n}: {v}"
            for n, v in notify.headers
            if n.lower() in ("via", "from", "to", "call-id", "cseq")
        ]
        await ws.send_str("\r\n".join(reply) + "\r\nContent-Length: 0\r\n\r\n")
        outcomes = await task
        assert [(o.transport, o.status, o.outcome) for o in outcomes] == [("ws", 200, "ok")]


async def test_check_sync_over_udp_and_unregistered(
    pool: asyncpg.Pool[Any], start_sip: Any, customer_id: str
) -> None:
    phone = await new_phone(pool, customer_id)
    sip = await start_sip()
    assert await sip.service.check_sync(phone.id, reboot=False) == []
    async with SipClient(server=sip.address("udp")) as client:
        ok = await client.register(phone.username, phone.password)
        assert ok is not None and ok.status == 200
        task = asyncio.ensure_future(sip.service.check_sync(phone.id, reboot=False))
        # the client answers requests it receives while waiting
        while not task.done():
            await client.receive(timeout=0.2)
        outcomes = task.result()
        assert [(o.transport, o.status, o.outcome) for o in outcomes] == [("udp", 200, "ok")]
        assert client.requests[0].h("Event") == "check-sync"
        # a phone that does not answer: retransmitted, then timeout
        client.answer_requests = False
        client.requests.clear()
        task = asyncio.ensure_future(
            sip.service.check_sync_notifier.check_sync(phone.id, reboot=False, timeout=1.0)
        )
        while not task.done():
            await client.receive(timeout=0.2)
        assert [o.outcome for o in task.result()] == ["timeout"]
        assert len(client.requests) >= 3  # Timer E retransmissions (T1=0.1 in tests)
