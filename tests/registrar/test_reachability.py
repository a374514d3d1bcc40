"""Reachability (keep-alive OPTIONS / connection watch), storm control, and the API that
other components call (register_method, authenticate, send_request, binding listeners)."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from sipcore.message import SipRequest, make_response
from sipcore.server.context import RequestContext
from tests.support.phones import new_phone
from tests.support.sip_client import REALM, SipClient, authorization
from tests.support.waiting import wait_until


async def test_silent_udp_phone_goes_unreachable_and_back(
    pool: asyncpg.Pool[Any], start_sip: Any, customer_id: str
) -> None:
    phone = await new_phone(pool, customer_id)
    sip = await start_sip(keepalive_interval=1, keepalive_max_missed=2)
    changes: list[bool] = []
    sip.service.add_binding_listener(lambda p, e, online: changes.append(online))
    async with SipClient(server=sip.address("udp")) as client:
        ok = await client.register(phone.username, phone.password, expires=600)
        assert ok is not None and ok.status == 200
        # while it answers OPTIONS it stays online, and an RTT is recorded
        for _ in range(15):
            await client.receive(timeout=0.1)
        assert any(r.method == "OPTIONS" for r in client.requests)
        binding = sip.service.bindings_of(phone.id)[0]
        assert sip.service.keepalive.rtt(phone.id, binding.contact) is not None
        assert sip.service.online_phones() == {phone.id}
        # pulled from the wall: no more answers
        client.answer_requests = False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 8
        while phone.id in sip.service.online_phones() and loop.time() < deadline:
            await client.receive(timeout=0.1)
        assert phone.id not in sip.service.online_phones()
        assert sip.service.bindings_of(phone.id)[0].unreachable  # still bound until expiry
        await asyncio.sleep(0.3)
        async with pool.acquire() as conn:
            status = await conn.fetchrow(
                "SELECT online, unreachable FROM phone_status WHERE phone_id=$1", phone.id
            )
            types = [r["type"] for r in await conn.fetch("SELECT type FROM events ORDER BY id")]
        assert (status["online"], status["unreachable"]) == (False, True)
        assert types == ["phone.registered", "phone.unreachable"]
        # plugged back in: it answers again (or re-registers) and is online
        client.answer_requests = True
        deadline = loop.time() + 5
        while phone.id not in sip.service.online_phones() and loop.time() < deadline:
            await client.receive(timeout=0.1)
        assert phone.id in sip.service.online_phones()
        assert changes == [True, False, True]


async def test_unreachable_phone_is_online_again_when_it_re_registers(
    pool: asyncpg.Pool[Any], start_sip: Any, customer_id: str
) -> None:
    """A refresh of the phone's one binding (the registrar's refresh lane) ends the
    unreachable state at once: listeners told, status row online."""
    phone = await new_phone(pool, customer_id)
    sip = await start_sip(keepalive_interval=1, keepalive_max_missed=2)
    changes: list[bool] = []
    sip.service.add_binding_listener(lambda p, e, online: changes.append(online))
    async with SipClient(server=sip.address("udp")) as client:
        client.answer_requests = False
        ok = await client.register(phone.username, phone.password, expires=600)
        assert ok is not None and ok.status == 200
        await wait_until(lambda: changes == [True, False], timeout=8)
        assert phone.id not in sip.service.online_phones()
        again = await client.register(phone.username, phone.password, expires=600)
        assert again is not None and again.status == 200
        assert phone.id in sip.service.online_phones()
        assert not sip.service.bindings_of(phone.id)[0].unreachable
        assert changes == [True, False, True]
        async with pool.acquire() as conn:
            status = await conn.fetchrow(
                "SELECT online, unreachable FROM phone_status WHERE phone_id=$1", phone.id
            )
        assert (status["online"], status["unreachable"]) == (True, False)


async def test_tcp_binding_unreachable_when_connection_gone(
    pool: asyncpg.Pool[Any], start_sip: Any, customer_id: str
) -> None:
    phone = await new_phone(pool, customer_id)
    sip = await start_sip(keepalive_interval=1, keepalive_max_missed=2)
    client = await SipClient(server=sip.address("tcp"), transport="tcp").open()
    ok = await client.register(phone.username, phone.password, expires=600)
    assert ok is not None and ok.status == 200
    client.close()
    await wait_until(lambda: phone.id not in sip.service.online_phones(), timeout=6)


async def test_saturated_queue_sheds_new_registrations_only(
    pool: asyncpg.Pool[Any], start_sip: Any, customer_id: str
) -> None:
    known = await new_phone(pool, customer_id)
    newcomer = await new_phone(pool, customer_id)
    sip = await start_sip(write_queue_limit=1)
    a = await SipClient(server=sip.address("udp")).open()
    b = await SipClient(server=sip.address("udp"), local_ip="127.0.5.2").open()
    try:
        ok = await a.register(known.username, known.password)
        assert ok is not None and ok.status == 200
        async with pool.acquire() as conn, conn.transaction():
            # hold the writer: lock the bindings table so the next batch waits
            await conn.execute("LOCK TABLE bindings IN EXCLUSIVE MODE")
            first = asyncio.ensure_future(a.register(known.username, known.password))  # refresh
            await wait_until(lambda: sip.service.writer.saturated, timeout=3)
            shed = await b.register(newcomer.username, newcomer.password, timeout=2)
            assert shed is not None and shed.status == 503
            assert 5 <= int(shed.h("Retry-After") or 0) <= 30
        refreshed = await first
        assert refreshed is not None and refreshed.status == 200
    finally:
        a.close()
        b.close()


async def test_plugged_in_method_uses_authenticate_and_send_request(
    pool: asyncpg.Pool[Any], start_sip: Any, customer_id: str
) -> None:
    phone = await new_phone(pool, customer_id)
    sip = await start_sip()
    seen: list[str] = []
    sent: list[Any] = []

    async def subscribe(request: SipRequest, ctx: RequestContext) -> Any:
        outcome = await sip.service.authenticate(request, ctx)
        if outcome.phone is None:
            return outcome.response
        seen.append(outcome.phone.phone_id)
        sip.service.send_response(
            request, ctx, make_response(request, 202, headers=[("Expires", "60")])
        )
        notify = SipRequest(
            method="NOTIFY",
            uri=request.header("Contact").strip("<>"),
            headers=request.headers.without("Authorization")
            .without("Contact")
            .replaced("CSeq", "1 NOTIFY"),
        )
        sent.append(
            asyncio.ensure_future(
                sip.service.send_request(notify, binding_or_target=ctx, timeout=2)
            )
        )
        return None

    sip.service.register_method("SUBSCRIBE", subscribe)
    async with SipClient(server=sip.address("udp")) as client:

        def subscribe_bytes(auth: str | None) -> bytes:
            data = client.register_bytes(phone.username, authorization=auth).decode()
            data = data.replace("REGISTER sip:", "SUBSCRIBE sip:").replace(
                " REGISTER\r\n", " SUBSCRIBE\r\n"
            )
            return data.replace("Expires: 300", "Event: dialog\r\nExpires: 300").encode()

        client.send(subscribe_bytes(None))
        challenge = await client.receive()
        assert challenge is not None and challenge.status == 401
        auth = authorization(
            challenge.all("WWW-Authenticate")[0],
            phone.username,
            phone.password,
            "SUBSCRIBE",
            f"sip:{REALM}",
        )
        client.send(subscribe_bytes(auth))
        accepted = await client.receive()
        assert accepted is not None and accepted.status == 202
        await client.receive(timeout=0.5)
        assert seen == [phone.id]
        assert [r.method for r in client.requests] == ["NOTIFY"]
        options = await SipClient(server=sip.address("udp")).open()
        data = (
            client.register_bytes(phone.username, cseq=9)
            .decode()
            .replace("REGISTER sip:", "OPTIONS sip:")
            .replace("9 REGISTER", "9 OPTIONS")
        )
        options.send(data.encode())
        answer = await options.receive()
        options.close()
        assert answer is not None and "SUBSCRIBE" in (answer.h("Allow") or "")
