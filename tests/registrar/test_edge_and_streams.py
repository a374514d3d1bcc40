"""Trusted edge proxies, stream limits and idle connections."""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

import asyncpg

from tests.support.phones import new_phone
from tests.support.sip_client import SipClient


def _via_proxy(data: bytes, client: SipClient) -> bytes:
    """As an edge proxy relays it: its own Via on top, the phone's Via stamped received."""
    text = data.decode()
    phone_via = (
        "Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bKphone1;received=203.0.113.7;rport=40000"
    )
    proxy_via = f"Via: SIP/2.0/UDP {client.local_ip}:{client.local_port};branch=z9hG4bKproxy{client.cseq};rport"
    lines = [line for line in text.split("\r\n") if not line.startswith("Via:")]
    lines.insert(1, phone_via)
    lines.insert(1, proxy_via)
    return "\r\n".join(lines).encode()


async def test_trusted_proxy_client_address_is_the_phones(
    pool: asyncpg.Pool[Any], start_sip: Any, customer_id: str
) -> None:
    phone = await new_phone(pool, customer_id)
    sip = await start_sip(trusted_proxies=(ipaddress.ip_network("127.0.0.1/32"),))
    async with SipClient(server=sip.address("udp")) as proxy:
        proxy.send(_via_proxy(proxy.register_bytes(phone.username), proxy))
        challenge = await proxy.receive()
        assert challenge is not None and challenge.status == 401
        auth = proxy.credentials(challenge, phone.username, phone.password)
        proxy.send(_via_proxy(proxy.register_bytes(phone.username, authorization=auth), proxy))
        ok = await proxy.receive()
        assert ok is not None and ok.status == 200
        async with pool.acquire() as conn:
            public = await conn.fetchval(
                "SELECT public_ip FROM phone_status WHERE phone_id=$1", phone.id
            )
        assert public == "203.0.113.7"
        assert sip.service.bindings_of(phone.id)[0].source_ip == "127.0.0.1"  # the flow: the proxy


async def test_stream_over_64k_closed_and_idle_connection_closed(start_sip: Any) -> None:
    sip = await start_sip(tcp_idle_timeout=1)
    reader, writer = await asyncio.open_connection(*sip.address("tcp"))
    writer.write(b"REGISTER sip:x SIP/2.0\r\nX-Pad: " + b"a" * 70000 + b"\r\n")
    assert await asyncio.wait_for(reader.read(), 3) == b""  # closed by the server
    writer.close()
    reader, writer = await asyncio.open_connection(*sip.address("tcp"))
    assert await asyncio.wait_for(reader.read(), 4) == b""  # idle: closed after ~1 s
    writer.close()
    assert sip.address("udp")  # listeners still up
