"""The file server's in-memory phone records: a warm fetch reads nothing, yet every change
made over the API (BLF target, extension number, the phone's keys, template, rejection)
reaches the next fetch; a lost notification connection drops them; `phone.config_fetched`
is written for the first fetch, a changed body, and otherwise once per interval."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

import provisioning.api.extensions
import provisioning.api.sipphones
from provisioning.config import Settings
from provisioning.credentials import SecretBox
from tests.support import factories
from tests.support.database import bearer
from tests.support.prov_app import OWN_ROUTE_MODULES, running

MAC = "0015654AA937"
URL = f"/prov/{MAC.lower()}.cfg"
UA = "Yealink SIP-T54W 96.86.0.100 00:15:65:4a:a9:37"
API_MODULES = [
    *OWN_ROUTE_MODULES,
    provisioning.api.sipphones.setup,
    provisioning.api.extensions.setup,
]


@pytest.fixture
async def prov_api(
    aiohttp_client: Any, pool: asyncpg.Pool[Any], settings: Settings, secret_box: SecretBox
) -> AsyncIterator[Any]:
    async with running(
        aiohttp_client, pool, settings, secret_box, with_sip=False, routes=API_MODULES
    ) as client:
        yield client


@dataclasses.dataclass
class Phone:
    id: str
    customer: str
    own: str
    watched: str


async def make_phone(pool: asyncpg.Pool[Any]) -> Phone:
    async with pool.acquire() as conn:
        customer = await factories.customer(conn, "Cache Co")
        own = await factories.extension(conn, customer, "101", "Alice")
        watched = await factories.extension(conn, customer, "102", "Bob")
        phone = await factories.phone(
            conn,
            customer,
            extension_id=own,
            model="yealink-t54w",
            mac_address=MAC,
            softkeys=[{"index": 0, "function": "BLF", "value": watched, "label": None}],
        )
    return Phone(id=phone.id, customer=customer, own=own, watched=watched)


async def body(client: Any) -> str:
    response = await client.get(URL, headers={"User-Agent": UA})
    assert response.status == 200, await response.text()
    return str(await response.text())


async def status(client: Any) -> int:
    response = await client.get(URL, headers={"User-Agent": UA})
    await response.read()
    return int(response.status)


async def fetched_events(pool: asyncpg.Pool[Any], phone_id: str) -> int:
    async with pool.acquire() as conn:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM events WHERE type = 'phone.config_fetched' AND phone_id = $1",
                phone_id,
            )
        )


async def test_api_changes_reach_the_next_fetch(
    prov_api: Any, pool: asyncpg.Pool[Any], admin_token: str
) -> None:
    phone = await make_phone(pool)
    server = prov_api.prov_server
    auth = bearer(admin_token)
    first = await body(prov_api)
    assert "linekey.1.value = 102" in first and "linekey.1.label = Bob" in first
    assert await body(prov_api) == first  # read again: the gate's lock changed the phone
    assert await body(prov_api) == first
    assert server.records.hits >= 1 and len(server.records) == 1  # served from memory

    # the BLF target's number and name (another table than the phone's)
    changed = await prov_api.post(
        f"/api/extensions/{phone.watched}", json={"number": "202", "name": "Robert"}, headers=auth
    )
    assert changed.status == 200, await changed.text()
    text = await body(prov_api)
    assert "linekey.1.value = 202" in text and "linekey.1.label = Robert" in text

    # the phone's own extension number
    changed = await prov_api.post(
        f"/api/extensions/{phone.own}", json={"number": "111", "name": "Alicia"}, headers=auth
    )
    assert changed.status == 200, await changed.text()
    assert "Alicia" in await body(prov_api)

    # the phone's keys, over the phone API
    keys = [{"index": 0, "function": "SPEEDDIAL", "value": "004599", "label": "Office"}]
    changed = await prov_api.post(
        f"/api/pbx/sipphone/{phone.id}", json={"softkeys": keys}, headers=auth
    )
    assert changed.status == 200, await changed.text()
    text = await body(prov_api)
    assert "linekey.1.value = 004599" in text and "linekey.1.label = Office" in text

    # a custom template
    template = "#!version:1.0.0.1\nmy.key = {{ phone.accounts[0].extension }}\n"
    changed = await prov_api.post(
        "/api/templates/phones/yealink.cfg", json={"content": template}, headers=auth
    )
    assert changed.status == 200, await changed.text()
    assert (await body(prov_api)).splitlines() == ["#!version:1.0.0.1", "my.key = 111"]

    # the rejection flag (seen_phones), both ways
    rejected = await prov_api.post(f"/api/phones/{MAC}/reject", headers=auth)
    assert rejected.status == 200, await rejected.text()
    assert await status(prov_api) == 403
    accepted = await prov_api.post(
        f"/api/phones/{MAC}/reject", json={"rejected": False}, headers=auth
    )
    assert accepted.status == 200, await accepted.text()
    assert await status(prov_api) == 200

    # deleted: an unknown MAC again
    deleted = await prov_api.delete(f"/api/pbx/sipphone/{phone.id}", headers=auth)
    assert deleted.status in (200, 204), await deleted.text()
    assert await status(prov_api) == 404


async def test_direct_writes_to_every_source_table_reach_the_next_fetch(
    prov: Any, pool: asyncpg.Pool[Any]
) -> None:
    """What the API does not cover: the catalogue, the customer's secret, a new phone."""
    phone = await make_phone(pool)
    assert "linekey.1.value = 102" in await body(prov)
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE customers SET provisioning_secret = 's3cr3t' WHERE id = $1", phone.customer
        )
    assert await status(prov) == 404  # the secret path segment is now required
    secret = await prov.get(f"/prov/s3cr3t/{MAC.lower()}.cfg", headers={"User-Agent": UA})
    assert secret.status == 200
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE customers SET provisioning_secret = NULL WHERE id = $1", phone.customer
        )
        await conn.execute(
            "UPDATE sip_phones SET ip_mode = 'LOCKED', ip_address = '192.0.2.1' WHERE id = $1",
            phone.id,
        )
    assert await status(prov) == 403  # the gate sees the new policy
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE sip_phones SET ip_mode = 'OPEN', ip_address = NULL WHERE id = $1", phone.id
        )
        await conn.execute("UPDATE sip_phone_models SET line_keys = 0 WHERE name = 'yealink-t54w'")
    assert "linekey.1.value" not in await body(prov)


async def test_lost_listener_drops_records_and_stops_caching_until_back(
    prov: Any, pool: asyncpg.Pool[Any]
) -> None:
    await make_phone(pool)
    server = prov.prov_server
    records = server.records
    await body(prov)
    await body(prov)  # after the gate's lock of the OPEN phone
    assert len(records) == 1
    listener = server.templates._listener
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_terminate_backend($1)", listener.get_server_pid())
    for _ in range(200):  # the close reaches the client a moment later
        if not records.active:
            break
        await asyncio.sleep(0.05)
    assert not records.active and len(records) == 0
    await body(prov)  # served from the database, not kept
    assert len(records) == 0
    for _ in range(200):  # reconnects after RECONNECT_SECONDS
        if records.active:
            break
        await asyncio.sleep(0.05)
    assert records.active
    async with pool.acquire() as conn:
        await conn.execute("UPDATE extensions SET number = '303' WHERE number = '102'")
    assert "linekey.1.value = 303" in await body(prov)


async def test_config_fetched_event_first_changed_and_interval(
    prov: Any, pool: asyncpg.Pool[Any]
) -> None:
    phone = await make_phone(pool)
    server = prov.prov_server
    for _ in range(3):
        await body(prov)
    await server.recorder.flush()
    assert await fetched_events(pool, phone.id) == 1  # the first fetch only
    async with pool.acquire() as conn:
        loaded = await conn.fetchval("SELECT config_loaded FROM sip_phones WHERE id = $1", phone.id)
        count = await conn.fetchval(
            "SELECT fetch_count FROM seen_phones WHERE mac_address = $1", MAC
        )
    assert loaded is not None and count == 3  # still written for every fetch
    async with pool.acquire() as conn:
        await conn.execute("UPDATE extensions SET name = 'Bobby' WHERE id = $1", phone.watched)
    await body(prov)
    await body(prov)
    await server.recorder.flush()
    assert await fetched_events(pool, phone.id) == 2  # the body changed: one more
    server._event_interval = 0.0  # the interval elapsed
    await body(prov)
    await server.recorder.flush()
    assert await fetched_events(pool, phone.id) == 3
