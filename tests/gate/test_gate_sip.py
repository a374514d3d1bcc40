"""End to end: `sipfleet serve` as a subprocess with a test GeoIP database, pjsua2 phones
registering from 127.0.1.x (DK) and 127.0.2.x (SE) on the real database."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import asyncpg
import pytest

from tests.support import factories
from tests.support import pjsua as pj_phone
from tests.support.phones import ip_state, new_phone
from tests.support.processes import SipfleetProcess
from tests.support.sip_client import SipClient

pytestmark = pytest.mark.pjsua


ADMIN_TOKEN = "gate-e2e-admin-token-0123456789abcdef"


@pytest.fixture
def server(start_server: Callable[..., SipfleetProcess]) -> SipfleetProcess:
    return start_server(admin_token=ADMIN_TOKEN)


def register(
    server: SipfleetProcess, phone: factories.TestPhone, local_ip: str, user_agent: str = ""
) -> int | None:
    """REGISTER from `local_ip`; a 401 is retried for a moment, since a phone just written
    to the database reaches the registrar's directory by a notification."""
    deadline = time.monotonic() + 3.0
    code = register_once(server, phone, local_ip, user_agent)
    while code == 401 and time.monotonic() < deadline:
        time.sleep(0.1)
        code = register_once(server, phone, local_ip, user_agent)
    return code


def register_once(
    server: SipfleetProcess, phone: factories.TestPhone, local_ip: str, user_agent: str = ""
) -> int | None:
    client = pj_phone.PjPhone(
        phone.username,
        phone.password,
        f"sip:127.0.0.1:{server.sip_port}",
        local_ip=local_ip,
        expires=120,
        user_agent=user_agent,
    )
    try:
        return int(client.register(timeout=5.0) or 0) or None
    finally:
        client.close()


async def event_types(pool: asyncpg.Pool[Any], phone_id: str) -> list[str]:
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT type FROM events WHERE phone_id = $1 ORDER BY id", phone_id)
    return [row["type"] for row in rows]


async def bindings(pool: asyncpg.Pool[Any], phone_id: str) -> int:
    async with pool.acquire() as conn:
        return int(
            await conn.fetchval("SELECT count(*) FROM bindings WHERE phone_id = $1", phone_id)
        )


async def test_roaming_by_country_over_sip(
    pool: asyncpg.Pool[Any], server: SipfleetProcess
) -> None:
    phone = await new_phone(pool, ip_mode="ROAMING", ip_countries="DK")
    assert register(server, phone, "127.0.2.5") == 403  # SE
    assert register(server, phone, "127.0.0.1") == 403  # loopback: no country
    assert await bindings(pool, phone.id) == 0  # a denial changes nothing
    assert (await ip_state(pool, phone.id))["ip_mode"] == "ROAMING"
    assert register(server, phone, "127.0.1.5") == 200  # DK
    types = await event_types(pool, phone.id)
    assert types.count("phone.denied") == 2


async def test_open_locks_on_first_register_and_locked_changes_apply_at_once(
    pool: asyncpg.Pool[Any], server: SipfleetProcess
) -> None:
    phone = await new_phone(pool)
    assert register(server, phone, "127.0.1.6") == 200
    state = await ip_state(pool, phone.id)
    assert (state["ip_mode"], state["ip_address"]) == ("LOCKED", "127.0.1.6")
    assert register(server, phone, "127.0.2.6") == 403
    assert register(server, phone, "127.0.1.6") == 200

    # The operator moves the lock through the REST API; it reaches the SIP side's cache by
    # a database notification.
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{server.base_url}/api/pbx/sipphone/{phone.id}",
            json={"ip": {"mode": "LOCKED", "address": "127.0.2.6"}},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        ) as response,
    ):
        assert response.status == 200, await response.text()
        assert (await response.json())["ip"]["address"] == "127.0.2.6"
    deadline = time.monotonic() + 3.0
    code = register(server, phone, "127.0.2.6")
    while code != 200 and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        code = register(server, phone, "127.0.2.6")
    assert code == 200
    assert register(server, phone, "127.0.1.6") == 403
    types = await event_types(pool, phone.id)
    assert types.count("phone.ip_locked") == 1
    assert types.count("phone.denied") == 2


async def test_forged_via_from_an_untrusted_peer_is_ignored(
    pool: asyncpg.Pool[Any], server: SipfleetProcess
) -> None:
    """A REGISTER from 127.0.2.x (SE) whose Vias claim 127.0.1.5 (DK), as an edge proxy's
    would: the peer is no trusted proxy, so the packet's own address decides."""
    phone = await new_phone(pool, ip_mode="ROAMING", ip_countries="DK")
    async with SipClient(server=("127.0.0.1", server.sip_port), local_ip="127.0.2.11") as client:
        claimed = "127.0.1.5"

        def forged(**kwargs: Any) -> bytes:
            real = f"Via: SIP/2.0/UDP 127.0.2.11:{client.local_port}"
            data = client.register_bytes(
                phone.username,
                extra=f"Via: SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bK-ph;received={claimed}",
                **kwargs,
            )
            return data.replace(real.encode(), f"Via: SIP/2.0/UDP {claimed}:5060".encode())

        deadline = time.monotonic() + 3.0
        while True:
            client.send(forged())
            challenge = await client.receive(3.0)
            assert challenge is not None and challenge.status == 401
            auth = client.credentials(challenge, phone.username, phone.password)
            client.send(forged(authorization=auth))
            final = await client.receive(3.0)
            assert final is not None
            if final.status != 401 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)  # the phone has not reached the directory yet
        assert final.status == 403
    assert await bindings(pool, phone.id) == 0
    async with pool.acquire() as conn:
        details = await conn.fetchval(
            "SELECT details FROM events WHERE phone_id = $1 AND type = 'phone.denied'", phone.id
        )
    assert details["address"] == "127.0.2.11"


ZOIPER = "Zoiper rv2.10.8.2"


async def test_softphone_with_a_desk_phones_credentials(
    pool: asyncpg.Pool[Any], start_server: Callable[..., SipfleetProcess]
) -> None:
    """A Yealink's credentials used from a softphone (pjsua saying it is Zoiper): recorded
    as phone.mismatch, and refused with strict_identity."""
    server = start_server()
    phone = await new_phone(pool, model="yealink-t54w", mac_address="805EC0123456")
    assert register(server, phone, "127.0.1.20", ZOIPER) == 200
    async with pool.acquire() as conn:
        details = await conn.fetchval(
            "SELECT details FROM events WHERE phone_id = $1 AND type = 'phone.mismatch'", phone.id
        )
    assert details is not None and details["fields"] == ["vendor"]
    assert details["userAgent"] == ZOIPER
    server.stop()

    strict = start_server(strict_identity="true")
    other = await new_phone(pool, model="yealink-t54w", mac_address="805EC0654321")
    assert register(strict, other, "127.0.1.21", ZOIPER) == 403
    assert (await ip_state(pool, other.id))["ip_mode"] == "OPEN"  # not captured
    assert "phone.denied" in await event_types(pool, other.id)
