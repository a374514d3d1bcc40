"""Fixtures of the live-view tests: an app with the live routes and a fast fan-out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from provisioning.app.http import create_app
from provisioning.config import Settings
from provisioning.credentials import SecretBox
from provisioning.hub import ServiceHub
from provisioning.live.fanout import EventFanout
from tests.support import factories
from tests.support.database import insert_token
from tests.support.live import LIVE_ROUTES, Tenants, start_fanout


@pytest.fixture
async def tenants(pool: asyncpg.Pool[Any]) -> Tenants:
    async with pool.acquire() as conn:
        a = await factories.customer(conn, "Alpha")
        b = await factories.customer(conn, "Bravo")
        ext_a = await factories.extension(conn, a, "101", "Alice")
        ext_b = await factories.extension(conn, b, "201", "Bob")
        phone_a = await factories.phone(conn, a, extension_id=ext_a, mac_address="0015650000A1")
        phone_b = await factories.phone(conn, b, extension_id=ext_b, mac_address="0015650000B1")
        return Tenants(
            a=a,
            b=b,
            phone_a=phone_a,
            phone_b=phone_b,
            token_a=await insert_token(conn, "VIEWER", customer_id=a),
            token_b=await insert_token(conn, "VIEWER", customer_id=b),
            admin=await insert_token(conn, "ADMIN"),
        )


@pytest.fixture
async def fanout(pool: asyncpg.Pool[Any]) -> AsyncIterator[EventFanout]:
    running = await start_fanout(pool, queue_limit=32)
    yield running
    await running.stop()


@pytest.fixture
async def live(
    aiohttp_client: Any,
    pool: asyncpg.Pool[Any],
    settings: Settings,
    secret_box: SecretBox,
    fanout: EventFanout,
) -> Any:
    """A test client on an app with the live routes and the fixture's fan-out."""
    app = create_app(
        settings=settings,
        pool=pool,
        secret_box=secret_box,
        hub=ServiceHub(node_id="test", events=fanout),
        routes=LIVE_ROUTES,
    )
    return await aiohttp_client(app)
