"""REGISTER end to end over real sockets against the SIP service on the real database."""

from __future__ import annotations

from typing import Any

import asyncpg

from db import phone_status
from tests.support.phones import new_phone
from tests.support.sip_client import SipClient


async def test_register_refresh_unregister(
    pool: asyncpg.Pool[Any], start_sip: Any, customer_id: str
) -> None:
    phone = await new_phone(pool, customer_id)
    sip = await start_sip()
    async with SipClient(server=sip.address("udp")) as client:
        response = await client.register(phone.username, phone.password, expires=300)
        assert response is not None and response.status == 200
        contacts = response.all("Contact")
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
        assert response.all("Contact") == []
        assert sip.service.online_phones() == set()
        async with pool.acquire() as conn:
            status = await phone_status.phone_status(conn, phone.id)
            count = await conn.fetchval("SELECT count(*) FROM bindings WHERE phone_id=$1", phone.id)
        assert status is not None and not status.online and count == 0
