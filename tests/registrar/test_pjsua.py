"""pjsua2 (the PJSIP user agent) registers phones from the inventory over UDP, TCP, TLS."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import asyncpg
import pytest
import trustme

from sipcore.server.config import ListenerSpec
from tests.support.phones import new_phone
from tests.support.pjsua import PjPhone
from tests.support.waiting import wait_until

pytestmark = pytest.mark.pjsua

LISTENERS = (
    ListenerSpec(transport="udp", host="127.0.0.1", port=0),
    ListenerSpec(transport="tcp", host="127.0.0.1", port=0),
    ListenerSpec(transport="tls", host="127.0.0.1", port=0),
)


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, str]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "sipfleet.test")
    root = tmp_path_factory.mktemp("tls")
    ca_path = root / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return context, str(ca_path)


@pytest.mark.parametrize("transport", ["udp", "tcp", "tls"])
async def test_pjsua_registers_unregisters_and_wrong_password_fails(
    pool: asyncpg.Pool[Any],
    start_sip: Any,
    customer_id: str,
    transport: str,
    tls_files: tuple[ssl.SSLContext, str],
) -> None:
    phone = await new_phone(pool, customer_id)
    other = await new_phone(pool, customer_id)
    context, ca_path = tls_files
    sip = await start_sip(listeners=LISTENERS, ssl_context=context)
    host, port = sip.address(transport)
    local_ip = {"udp": "127.0.1.5", "tcp": "127.0.1.6", "tls": "127.0.0.1"}[transport]
    good = PjPhone(
        phone.username,
        phone.password,
        f"sip:{host}:{port}",
        transport=transport,
        local_ip=local_ip,
        ca_file=ca_path if transport == "tls" else "",
    )
    bad = PjPhone(
        other.username,
        "x" * 32,
        f"sip:{host}:{port}",
        transport=transport,
        local_ip=local_ip,
        ca_file=ca_path if transport == "tls" else "",
    )
    try:
        assert await asyncio.to_thread(good.register, 10) == 200
        bindings = sip.service.bindings_of(phone.id)
        assert [b.transport for b in bindings] == [transport]
        if transport != "tls":
            assert bindings[0].source_ip == local_ip
        async with pool.acquire() as conn:
            status = await conn.fetchrow(
                "SELECT online, local_ip, transport FROM phone_status WHERE phone_id=$1", phone.id
            )
        assert status["online"] and status["transport"] == transport
        assert await asyncio.to_thread(bad.register, 10) in (401, 403)
        assert other.id not in sip.service.online_phones()
        assert await asyncio.to_thread(good.unregister, 10) == 200
        await wait_until(lambda: phone.id not in sip.service.online_phones())
    finally:
        await asyncio.to_thread(good.close)
        await asyncio.to_thread(bad.close)


async def test_pjsua_reregisters_with_new_contact(
    pool: asyncpg.Pool[Any], start_sip: Any, customer_id: str
) -> None:
    phone = await new_phone(pool, customer_id)
    sip = await start_sip()
    host, port = sip.address("udp")
    first = PjPhone(phone.username, phone.password, f"sip:{host}:{port}", local_ip="127.0.1.7")
    try:
        assert await asyncio.to_thread(first.register, 10) == 200
        old = sip.service.bindings_of(phone.id)
        assert len(old) == 1
    finally:
        await asyncio.to_thread(first.close)  # pjsua unregisters on delete
    await wait_until(lambda: not sip.service.bindings_of(phone.id))
    second = PjPhone(phone.username, phone.password, f"sip:{host}:{port}", local_ip="127.0.1.8")
    try:
        assert await asyncio.to_thread(second.register, 10) == 200
        new = sip.service.bindings_of(phone.id)
        assert (
            len(new) == 1 and new[0].contact != old[0].contact and new[0].source_ip == "127.0.1.8"
        )
    finally:
        await asyncio.to_thread(second.close)
