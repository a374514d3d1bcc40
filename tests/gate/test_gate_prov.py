"""Provisioning fetches obey the gate: real HTTP from 127.0.1.x (DK) and 127.0.2.x (SE),
and X-Forwarded-For believed from a trusted proxy only (127.0.3.0/24 here)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from provisioning.app.components import fileserver as prov_component
from provisioning.app.context import ServiceContext
from provisioning.config import Settings
from provisioning.credentials import SecretBox
from provisioning.hub import ServiceHub
from tests.support.geodb import write_geo_db
from tests.support.phones import new_phone

MAC = "805EC0123456"
DESK = {"extension": "101", "model": "yealink-t54w", "mac_address": MAC}  # the phone made
UA = "Yealink SIP-T54W 96.85.0.5 80:5e:c0:12:34:56"


@pytest.fixture
async def prov_url(
    pool: asyncpg.Pool[Any],
    settings: Settings,
    secret_box: SecretBox,
    tmp_path: Path,
    aiohttp_server: Any,
) -> AsyncIterator[str]:
    """The app with the gate, the file server and read-your-writes components (as the
    service runs them), on a real port."""
    from provisioning.app.components import change_sync as change_sync_component
    from provisioning.app.components import gate as gate_component
    from provisioning.app.http import create_app

    configured = replace(
        settings,
        geoip_database=str(write_geo_db(tmp_path / "geo.mmdb")),
        trusted_proxies="127.0.3.0/24",
    )
    app = create_app(settings=configured, pool=pool, secret_box=secret_box)
    ctx = ServiceContext(
        settings=configured,
        pool=pool,
        secret_box=secret_box,
        hub=ServiceHub(),
        app=app,
        ssl_context=None,
    )
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(gate_component.run(ctx))
        await stack.enter_async_context(prov_component.run(ctx))
        await stack.enter_async_context(change_sync_component.run(ctx))
        server = await aiohttp_server(app, host="127.0.0.1")
        yield f"http://127.0.0.1:{server.port}/prov/{MAC.lower()}.cfg"


async def fetch(url: str, local_ip: str, **headers: str) -> int:
    connector = aiohttp.TCPConnector(local_addr=(local_ip, 0), force_close=True)
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.get(url, headers={"User-Agent": UA, **headers}) as response,
    ):
        await response.read()
        return response.status


async def state(pool: asyncpg.Pool[Any], phone_id: str) -> tuple[str, str | None]:
    async with pool.acquire() as conn:
        found = await conn.fetchrow(
            "SELECT ip_mode, ip_address FROM sip_phones WHERE id = $1", phone_id
        )
    assert found is not None
    return found["ip_mode"], found["ip_address"]


async def test_roaming_fetch_and_forwarded_trust(pool: asyncpg.Pool[Any], prov_url: str) -> None:
    await new_phone(
        pool,
        **DESK,
        ip_mode="ROAMING",
        ip_countries="DK",
    )
    assert await fetch(prov_url, "127.0.2.9") == 403  # SE
    # a forged header from an untrusted peer changes nothing
    assert await fetch(prov_url, "127.0.2.9", **{"X-Forwarded-For": "127.0.1.9"}) == 403
    assert await fetch(prov_url, "127.0.1.9") == 200  # DK
    # through the trusted proxy: the forwarded client counts, both ways
    assert await fetch(prov_url, "127.0.3.1", **{"X-Forwarded-For": "127.0.1.9"}) == 200
    assert await fetch(prov_url, "127.0.3.1", **{"X-Forwarded-For": "127.0.2.9"}) == 403
    assert await fetch(prov_url, "127.0.3.1", **{"X-Forwarded-For": "127.0.2.9, 127.0.1.9"}) == 200


async def test_open_phone_locks_on_first_fetch(pool: asyncpg.Pool[Any], prov_url: str) -> None:
    item = await new_phone(pool, **DESK)
    assert await fetch(prov_url, "127.0.2.4") == 200
    assert await state(pool, item.id) == ("LOCKED", "127.0.2.4")
    assert await fetch(prov_url, "127.0.1.4") == 403
    assert await fetch(prov_url, "127.0.2.4") == 200
    async with pool.acquire() as conn:
        types = [
            row["type"]
            for row in await conn.fetch(
                "SELECT type FROM events WHERE phone_id = $1 AND type LIKE 'phone.%' ORDER BY id",
                item.id,
            )
        ]
    assert "phone.ip_locked" in types and "phone.denied" in types


async def test_policy_change_over_the_api_applies_to_the_next_fetch(
    pool: asyncpg.Pool[Any], prov_url: str, admin_token: str
) -> None:
    """The gate caches its decisions per (policy, address); an operator's edit through the
    REST API is a new policy, so the very next fetch is decided on it."""
    item = await new_phone(
        pool,
        **DESK,
        ip_mode="ROAMING",
        ip_countries="DK",
    )
    assert await fetch(prov_url, "127.0.1.8") == 200  # DK
    assert await fetch(prov_url, "127.0.1.8") == 200  # the cached decision
    assert await fetch(prov_url, "127.0.2.8") == 403  # SE
    base = prov_url.split("/prov/", 1)[0]
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{base}/api/pbx/sipphone/{item.id}",
            json={"ip": {"mode": "ROAMING", "countries": "SE"}},
            headers={"Authorization": f"Bearer {admin_token}"},
        ) as response,
    ):
        assert response.status == 200, await response.text()
    assert await fetch(prov_url, "127.0.2.8") == 200  # SE now
    assert await fetch(prov_url, "127.0.1.8") == 403  # DK no longer


async def test_a_user_agent_without_the_mac_neither_fetches_nor_locks_an_open_phone(
    pool: asyncpg.Pool[Any], prov_url: str
) -> None:
    """A stranger who knows an OPEN Yealink's MAC asks first, with a Yealink User-Agent
    that (unlike every real Yealink fetch) carries no MAC: refused, recorded, the phone
    stays OPEN; the real phone then gets its file and locks it to its own address."""
    item = await new_phone(pool, **DESK)
    forged = "Yealink SIP-T54W 96.86.0.100"
    for user_agent in (forged, "curl/8.5.0", "Yealink SIP-T54W 96.86.0.100 80:5e:c0:00:00:01"):
        assert await fetch(prov_url, "127.0.2.66", **{"User-Agent": user_agent}) == 403
    assert await state(pool, item.id) == ("OPEN", None)
    async with pool.acquire() as conn:
        events = await conn.fetch(
            "SELECT type, details FROM events WHERE phone_id = $1 ORDER BY id", item.id
        )
    assert [row["type"] for row in events] == ["phone.mismatch"] * 3
    first = events[0]["details"]
    assert first["address"] == "127.0.2.66" and first["userAgent"] == forged
    assert first["channel"] == "prov" and first["fields"] == ["mac"]
    assert "MAC" in first["reason"]
    assert await fetch(prov_url, "127.0.1.5") == 200  # the real phone: UA with its MAC
    assert await state(pool, item.id) == ("LOCKED", "127.0.1.5")
    assert await fetch(prov_url, "127.0.2.66", **{"User-Agent": forged}) == 403
