"""Every vendor's fake redirect service on loopback, settings with an account on each, and
the app plus a runner wired to them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from provisioning.config import Settings
from provisioning.credentials import SecretBox
from tests.support import redirect_fakes as fakes
from tests.support.redirect import (
    GDMS_SITE,
    POLY_PROFILE,
    SECRETS,
    Stack,
    Tenant,
    Vendors,
    make_stack,
    vendor_settings,
)


@pytest.fixture
async def vendors(aiohttp_server: Any) -> Vendors:
    states = {name: fakes.FakeState() for name in SECRETS}
    apps = {
        "yealink": fakes.yealink_app(states["yealink"], *SECRETS["yealink"]),
        "snom": fakes.snom_app(states["snom"], *SECRETS["snom"]),
        "gigaset": fakes.gigaset_app(states["gigaset"], *SECRETS["gigaset"]),
        "fanvil": fakes.fanvil_app(states["fanvil"], *SECRETS["fanvil"]),
        "gdms": fakes.gdms_app(states["gdms"], *SECRETS["gdms"], site_id=GDMS_SITE),
        "poly": fakes.poly_app(states["poly"], *SECRETS["poly"], profiles={POLY_PROFILE}),
    }
    urls = {}
    for name, app in apps.items():
        server = await aiohttp_server(app, host="127.0.0.1")
        urls[name] = f"http://127.0.0.1:{server.port}"
    return Vendors(**states, urls=urls)


@pytest.fixture
async def stack(
    aiohttp_client: Any,
    pool: asyncpg.Pool[Any],
    settings: Settings,
    secret_box: SecretBox,
    vendors: Vendors,
) -> AsyncIterator[Stack]:
    configured = vendor_settings(settings, vendors)
    made = await make_stack(aiohttp_client, pool, configured, secret_box)
    await made.runner.open()
    try:
        yield made
    finally:
        await made.runner.stop()


@pytest.fixture
async def tenant(pool: asyncpg.Pool[Any]) -> Tenant:
    from tests.support import factories
    from tests.support.database import bearer, insert_token

    async with pool.acquire() as conn:
        customer = await factories.customer(conn)
        return Tenant(
            customer=customer,
            headers=bearer(await insert_token(conn, "MANAGER", customer_id=customer)),
            viewer=bearer(await insert_token(conn, "VIEWER", customer_id=customer)),
            extension=await factories.extension(conn, customer, "101", "Reception"),
        )
