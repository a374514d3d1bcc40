"""Fixtures of the provisioning tests: the full app with the `/prov/` component running."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import asyncpg
import pytest

import provisioning.api.phone_models
import provisioning.api.prov_templates
import provisioning.api.seen_phones
from provisioning.app.context import ServiceContext
from provisioning.app.http import RouteSetup
from provisioning.config import Settings
from provisioning.credentials import SecretBox
from provisioning.hub import ServiceHub

# Ours, whether or not provisioning/app/http.py lists them yet (others' may be mid-change).
OWN_ROUTE_MODULES = [
    provisioning.api.seen_phones.setup,
    provisioning.api.prov_templates.setup,
    provisioning.api.phone_models.setup,
]


def gate_component() -> Any:
    """The real IP gate component when it exists, else None (the server then allows all)."""
    try:
        from provisioning.app.components import gate as module
    except ImportError:
        return None
    return module


def synced_prov_fetches(client: Any, server: Any, pool: asyncpg.Pool[Any]) -> None:
    """Make every `/prov/` request of `client` wait until the server's in-memory phone
    records have seen every change committed before it (`PhoneRecords.sync`: one
    notification round trip). The server learns of changes by notification, a moment
    after the writer's commit; a test that writes and then fetches at once must not race
    that moment."""
    original = client._request

    async def request(method: str, path: Any, **kwargs: Any) -> Any:
        if str(path).startswith("/prov/"):
            await server.records.sync(pool)
        return await original(method, path, **kwargs)

    client._request = request


@asynccontextmanager
async def running(
    aiohttp_client: Any,
    pool: asyncpg.Pool[Any],
    settings: Settings,
    secret_box: SecretBox,
    *,
    with_sip: bool,
    routes: list[RouteSetup] | None = None,
) -> AsyncIterator[Any]:
    from provisioning.app.components import fileserver as prov_component
    from provisioning.app.http import create_app

    hub = ServiceHub(node_id="test")
    # only our route modules: others' may be mid-change in the shared tree
    app = create_app(
        settings=settings,
        pool=pool,
        secret_box=secret_box,
        hub=hub,
        routes=OWN_ROUTE_MODULES if routes is None else routes,
    )
    ctx = ServiceContext(
        settings=settings, pool=pool, secret_box=secret_box, hub=hub, app=app, ssl_context=None
    )
    async with AsyncExitStack() as stack:
        gate = gate_component()
        if gate is not None:
            await stack.enter_async_context(gate.run(ctx))
        if with_sip:
            from provisioning.app.components import sip as sip_component

            await stack.enter_async_context(sip_component.run(ctx))
        server = await stack.enter_async_context(prov_component.run(ctx))
        client = await aiohttp_client(app)
        synced_prov_fetches(client, server, pool)
        client.prov_server = server
        client.hub = hub
        yield client


@pytest.fixture
async def prov(
    aiohttp_client: Any, pool: asyncpg.Pool[Any], settings: Settings, secret_box: SecretBox
) -> AsyncIterator[Any]:
    """An aiohttp test client on the app with our route modules, the real IP gate and the
    /prov/ component; `client.prov_server` is the running `FileServer`."""
    async with running(aiohttp_client, pool, settings, secret_box, with_sip=False) as client:
        yield client


@pytest.fixture
async def prov_sip(
    aiohttp_client: Any, pool: asyncpg.Pool[Any], settings: Settings, secret_box: SecretBox
) -> AsyncIterator[Any]:
    """`prov` plus the real SIP service (registrar, check-sync) on UDP and TCP loopback
    ports; `client.hub.sip.addresses()` lists them."""
    sip_settings = dataclasses.replace(
        settings, sip_listen="udp:127.0.0.1:0,tcp:127.0.0.1:0", keepalive_interval=0
    )
    async with running(aiohttp_client, pool, sip_settings, secret_box, with_sip=True) as client:
        yield client


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`provisioning.app.http.authenticate` stores the principal under a str request key, which
    this aiohttp warns about (NotAppKeyWarning); not ours to fix, so not an error here."""
    for item in items:
        if "tests/prov/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(
                pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")
            )
