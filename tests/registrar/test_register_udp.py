"""REGISTER end to end over real sockets against the SIP service on the real database."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import asyncpg

from db import phone_status
from tests.registrar.conftest import new_phone
from tests.registrar.sipclient import SipClient


async def wait_until(predicate: Callable[[], Any], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.02)


async def test_register_refresh_unregister(
    pool: asyncpg.Pool[Any], start_sip: Any, customer_id: str
) -> None:
    phone = await new_phone(pool, customer_id)
    sip = await start_sip()
    client = await SipClient(server=sip.address("udp")).open()
    try:
        response = await client.register(phone.username, phone.password, expires=300)
        assert response is not None and response.status == 200
        contacts = response.headers.get_all("Contact")
        assert len(contacts) == 1 and "expires=300" in contacts[0]
        assert sip.service.online_phones() == {phone.id}
        async with pool.acquire() as conn:
            status = await phone_status.phone_status(conn, phone.id)
            rows = await conn.fetch(
                "SELECT contact, transport FROM bindings WHERE phone_id=$1", phone.id
            )
            events = await conn.fetch(
                "SELECT type FROM events WHERE phone_id=$1 ORDER BY id", phone.id
            )
        assert status is not None and status.online and status.public_ip == "127.0.0.1"
        assert status.user_agent == "sipclient-test/1.0" and status.transport == "udp"
        assert [r["transport"] for r in rows] == ["udp"]
        assert [e["type"] for e in events] == ["phone.registered"]
        response = await client.register(phone.username, phone.password, expires=0)
        assert response is not None and response.status == 200
        assert response.headers.get_all("Contact") == []
        assert sip.service.online_phones() == set()
        async with pool.acquire() as conn:
            status = await phone_status.phone_status(conn, phone.id)
            count = await conn.fetchval("SELECT count(*) FROM bindings WHERE phone_id=$1", phone.id)
        assert status is not None and not status.online and count == 0
    finally:
        client.close()
