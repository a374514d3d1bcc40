"""Registrar behaviour over real sockets: §10.3 cases, transactions, auth, bad input."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import asyncpg
import pytest

from tests.support.phones import new_phone
from tests.support.sip_client import SipClient
from tests.support.waiting import wait_until


async def test_tcp_register_two_contacts_and_star_removal(
    pool: asyncpg.Pool[Any], start_sip: Any, customer_id: str
) -> None:
    phone = await new_phone(pool, customer_id)
    sip = await start_sip()
    async with SipClient(server=sip.address("tcp"), transport="tcp") as client:
        first = await client.register(
            phone.username, phone.password, contact=client.contact_of("a")
        )
        assert first is not None and first.status == 200
        second = await client.register(
            phone.username, phone.password, contact=f"{client.contact_of('b')};q=0.5", expires=120
        )
        assert second is not None and second.status == 200
        contacts = second.all("Contact")
        assert len(contacts) == 2 and any("q=0.5" in c and "expires=120" in c for c in contacts)
        assert {b.transport for b in sip.service.bindings_of(phone.id)} == {"tcp"}
        # Contact: * needs Expires: 0
        bad = await client.register(phone.username, phone.password, contact="*", expires=60)
        assert bad is not None and bad.status == 400
        assert len(sip.service.bindings_of(phone.id)) == 2
        gone = await client.register(phone.username, phone.password, contact="*", expires=0)
        assert gone is not None and gone.status == 200
        assert sip.service.bindings_of(phone.id) == []
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM bindings") == 0


async def test_too_brief_gets_423_and_max_is_capped(
    pool: asyncpg.Pool[Any], start_sip: Any, customer_id: str
) -> None:
    phone = await new_phone(pool, customer_id)
    sip = await start_sip(min_expires=60, max_expires=600)
    async with SipClient(server=sip.address("udp")) as client:
        brief = await client.register(phone.username, phone.password, expires=10)
        assert brief is not None and brief.status == 423 and brief.h("Min-Expires") == "60"
        assert sip.service.bindings_of(phone.id) == []
        long = await client.register(phone.username, phone.password, expires=99999)
        assert long is not None and long.status == 200
        assert "expires=600" in long.all("Contact")[0]


async def test_stale_cseq_from_same_call_id_refused(
    pool: asyncpg.Pool[Any], start_sip: Any, customer_id: str
) -> None:
    phone = await new_phone(pool, customer_id)
    sip = await start_sip()
    async with SipClient(server=sip.address("udp")) as client:
        ok = await client.register(phone.username, phone.password)  # CSeq 1 challenged, 2 ok
        assert ok is not None and ok.status == 200
        challenge = await client.challenge(phone.username, cseq=1)
        assert challenge.status == 401
        auth = client.credentials(challenge, phone.username, phone.password, which=-1)
        client.send(client.register_bytes(phone.username, cseq=1, authorization=auth, expires=0))
        stale = await client.receive()
        assert stale is not None and stale.status == 500
        assert len(sip.service.bindings_of(phone.id)) == 1  # nothing changed


async def test_retransmission_gets_same_response_processed_once(
    pool: asyncpg.Pool[Any], start_sip: Any, customer_id: str
) -> None:
    phone = await new_phone(pool, customer_id)
    sip = await start_sip()
    async with SipClient(server=sip.address("udp")) as client:
        challenge = await client.challenge(phone.username)
        auth = client.credentials(challenge, phone.username, phone.password, which=-1)
        data = client.register_bytes(phone.username, authorization=auth)
        first, second, more = await client.retransmitted(data)
        assert more is None
        assert first is not None and second is not None
        assert first.status == second.status == 200
        assert first.to_bytes() == second.to_bytes()
        async with pool.acquire() as conn:
            events = await conn.fetchval(
                "SELECT count(*) FROM events WHERE type='phone.registered'"
            )
        assert events == 1  # processed once (the nc replay would otherwise fail it, too)


async def test_unknown_user_gets_the_same_challenge_shape(
    pool: asyncpg.Pool[Any], start_sip: Any, customer_id: str
) -> None:
    phone = await new_phone(pool, customer_id)
    sip = await start_sip()
    async with SipClient(server=sip.address("udp")) as client:
        shapes = []
        for username, password in ((phone.username, "wrong" * 6 + "xx"), ("U" * 32, "p" * 32)):
            challenge = await client.challenge(username)
            auth = client.credentials(challenge, username, password)
            client.send(client.register_bytes(username, authorization=auth))
            refusal = await client.receive()
            assert refusal is not None
            values = refusal.all("WWW-Authenticate")
            shapes.append(
                (
                    refusal.status,
                    [re.sub(r'nonce="[0-9a-f]+"', "N", v) for v in values],
                    [n for n, _ in refusal.pairs],
                )
            )
        assert shapes[0] == shapes[1]
        assert shapes[0][0] == 401


async def test_failures_rate_limited_then_ignored(
    pool: asyncpg.Pool[Any], start_sip: Any, customer_id: str
) -> None:
    phone = await new_phone(pool, customer_id)
    sip = await start_sip(auth_failure_limit=3, auth_failure_window=60, auth_ban_seconds=300)
    bad = await SipClient(server=sip.address("udp"), local_ip="127.0.3.9").open()
    good = await SipClient(server=sip.address("udp")).open()
    try:
        for _ in range(3):
            response = await bad.register(phone.username, "x" * 32)
            assert response is not None and response.status == 401
        # now ignored, even with the right password
        assert await bad.register(phone.username, phone.password, timeout=0.5) is None
        # other addresses are unaffected
        ok = await good.register(phone.username, phone.password)
        assert ok is not None and ok.status == 200
    finally:
        bad.close()
        good.close()


async def test_garbage_gets_400_or_dropped_and_listener_survives(
    pool: asyncpg.Pool[Any], start_sip: Any, customer_id: str
) -> None:
    phone = await new_phone(pool, customer_id)
    sip = await start_sip()
    async with SipClient(server=sip.address("udp")) as client:
        client.send(b"\x00\xff garbage \r\n\r\n")
        client.send(b"x" * 70000)
        broken = client.register_bytes(phone.username, cseq=1).replace(
            b"CSeq: 1 REGISTER", b"CSeq: one REGISTER"
        )
        client.send(broken)
        answer = await client.receive()
        assert answer is not None and answer.status == 400
        # an rport value written by the client means nothing: the source port replaces it
        client.send(
            client.register_bytes(phone.username, cseq=1).replace(b";rport", b";rport=:060")
        )
        challenged = await client.receive()
        assert challenged is not None and challenged.status == 401
        assert f"rport={client.local_port}" in (challenged.h("Via") or "")
        options = (
            client.register_bytes(phone.username, cseq=1)
            .replace(b"REGISTER sip:", b"OPTIONS sip:")
            .replace(b"1 REGISTER", b"2 OPTIONS")
        )
        client.send(options)
        pong = await client.receive()
        assert pong is not None and pong.status == 200 and "REGISTER" in (pong.h("Allow") or "")
        invite = options.replace(b"OPTIONS sip:", b"INVITE sip:").replace(b"2 OPTIONS", b"3 INVITE")
        client.send(invite)
        refused = await client.receive()
        assert refused is not None and refused.status == 405 and refused.h("Allow")
        weird = options.replace(b"OPTIONS sip:", b"FROBNICATE sip:").replace(
            b"2 OPTIONS", b"4 FROBNICATE"
        )
        client.send(weird)
        unknown = await client.receive()
        assert unknown is not None and unknown.status == 501
        ok = await client.register(phone.username, phone.password)
        assert ok is not None and ok.status == 200
        assert sip.service.dropped >= 2


async def test_forged_via_received_never_directs_an_answer(
    pool: asyncpg.Pool[Any], start_sip: Any, customer_id: str
) -> None:
    """RFC 3261 §18.2.1: the server adds `received`/`rport` from the packet's source. A
    client that writes `received=<victim>` itself (no rport) must get its 401 and its 400
    at its own address, not turn the registrar into a reflector towards the victim."""
    phone = await new_phone(pool, customer_id)
    sip = await start_sip()
    client = await SipClient(server=sip.address("udp")).open()
    victim = await SipClient(server=sip.address("udp"), local_ip="127.0.0.77").open()
    # the victim listens on the port the client names as its sent-by port
    victim_port = victim.local_port
    try:
        own_via = f"Via: SIP/2.0/UDP {client.local_ip}:{client.local_port};branch="

        def forged(data: bytes, received: str, port: int = victim_port) -> bytes:
            text = data.decode()
            start = text.index(own_via)
            end = text.index("\r\n", start)
            branch = text[start + len(own_via) : end].split(";")[0]
            via = f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch={branch};received={received}"
            return (text[:start] + via + text[end:]).encode()

        # §18.2.2 without rport: the sent-by port at the packet's source address
        client.send(forged(client.register_bytes(phone.username), "127.0.0.77"))
        assert await victim.receive(timeout=0.7) is None
        broken = client.register_bytes(phone.username).replace(b"CSeq: ", b"CSeq: x")
        client.send(forged(broken, "127.0.0.77"))
        assert await victim.receive(timeout=0.7) is None
        # the same forgery naming the client's own port: answered there, to the source
        client.send(forged(client.register_bytes(phone.username), "127.0.0.77", client.local_port))
        challenge = await client.receive()
        assert challenge is not None and challenge.status == 401
        assert "received=127.0.0.77" not in (challenge.h("Via") or "")
        # 2,000 digits in received: no exception; answered at the source like any other
        client.send(forged(client.register_bytes(phone.username), "1" * 2000, client.local_port))
        challenge = await client.receive()
        assert challenge is not None and challenge.status == 401
        ok = await client.register(phone.username, phone.password)
        assert ok is not None and ok.status == 200
        assert not victim.queue.qsize()
    finally:
        client.close()
        victim.close()


async def test_forged_via_received_answered_at_the_source(
    pool: asyncpg.Pool[Any], start_sip: Any, customer_id: str
) -> None:
    """With rport the answer goes to the packet's source whatever `received` claims."""
    phone = await new_phone(pool, customer_id)
    sip = await start_sip()
    client = await SipClient(server=sip.address("udp")).open()
    victim = await SipClient(server=sip.address("udp"), local_ip="127.0.0.77").open()
    try:
        data = client.register_bytes(phone.username).replace(
            b";rport", f";rport={victim.local_port};received=127.0.0.77".encode()
        )
        client.send(data)
        challenge = await client.receive()
        assert challenge is not None and challenge.status == 401
        via = challenge.h("Via") or ""
        assert f"rport={client.local_port}" in via and "received=127.0.0.1" in via
        assert "127.0.0.77" not in via
        assert await victim.receive(timeout=0.5) is None
    finally:
        client.close()
        victim.close()


async def test_tcp_keepalive_ping_gets_pong(pool: asyncpg.Pool[Any], start_sip: Any) -> None:
    sip = await start_sip()
    reader, writer = await asyncio.open_connection(*sip.address("tcp"))
    try:
        writer.write(b"\r\n\r\n")
        assert await asyncio.wait_for(reader.readexactly(2), 2) == b"\r\n"
    finally:
        writer.close()


async def test_short_expiry_lapses_and_phone_goes_offline(
    pool: asyncpg.Pool[Any], start_sip: Any, customer_id: str
) -> None:
    phone = await new_phone(pool, customer_id)
    sip = await start_sip(min_expires=1)
    changes: list[tuple[str, bool]] = []
    sip.service.add_binding_listener(lambda p, e, online: changes.append((p, online)))
    async with SipClient(server=sip.address("udp")) as client:
        ok = await client.register(phone.username, phone.password, expires=1)
        assert ok is not None and ok.status == 200
        await wait_until(lambda: not sip.service.bindings_of(phone.id), timeout=4)
        await asyncio.sleep(0.3)
        async with pool.acquire() as conn:
            types = [r["type"] for r in await conn.fetch("SELECT type FROM events ORDER BY id")]
            online = await conn.fetchval(
                "SELECT online FROM phone_status WHERE phone_id=$1", phone.id
            )
        assert types == ["phone.registered", "phone.expired"]
        assert online is False
        assert changes == [(phone.id, True), (phone.id, False)]


async def test_credentials_reset_drops_bindings(
    pool: asyncpg.Pool[Any], start_sip: Any, customer_id: str
) -> None:
    phone = await new_phone(pool, customer_id)
    sip = await start_sip()
    async with SipClient(server=sip.address("udp")) as client:
        ok = await client.register(phone.username, phone.password)
        assert ok is not None and ok.status == 200
        async with pool.acquire() as conn:
            await conn.execute(
                "UPDATE sip_phones SET username=$2, ha1_md5='0', ha1_sha256='0' WHERE id=$1",
                phone.id,
                "N" * 32,
            )
        await wait_until(lambda: not sip.service.bindings_of(phone.id))
        await asyncio.sleep(0.3)
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM bindings") == 0
        again = await client.register(phone.username, phone.password)
        assert again is not None and again.status == 401


async def test_required_extension_refused_with_420(
    pool: asyncpg.Pool[Any], start_sip: Any, customer_id: str
) -> None:
    phone = await new_phone(pool, customer_id)
    sip = await start_sip()
    async with SipClient(server=sip.address("udp")) as client:
        # path and gruu are the registrar's own extensions; 100rel is not supported
        client.send(client.register_bytes(phone.username, extra="Require: path, 100rel, gruu"))
        refused = await client.receive()
        assert refused is not None and refused.status == 420
        assert refused.h("Unsupported") == "100rel"


async def test_failed_auth_log_carries_phone_and_call_id_never_the_password(
    pool: asyncpg.Pool[Any], start_sip: Any, customer_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    phone = await new_phone(pool, customer_id)
    sip = await start_sip()
    client = await SipClient(server=sip.address("udp")).open()
    wrong = "wrong" * 6 + "xx"
    try:
        with caplog.at_level(logging.INFO, logger="sipcore.server.registrar.auth"):
            challenge = await client.challenge(phone.username)
            auth = client.credentials(challenge, phone.username, wrong)
            client.send(client.register_bytes(phone.username, authorization=auth))
            assert (await client.receive()) is not None
    finally:
        client.close()
    [record] = [r for r in caplog.records if r.getMessage().startswith("auth failed")]
    assert getattr(record, "phone", None) == phone.id
    assert getattr(record, "call_id", None) == challenge.call_id
    assert wrong not in caplog.text and phone.password not in caplog.text
