"""The provisioning tests' app: the full app with the `/prov/` component (and the IP gate,
and optionally the SIP service) running on the test's database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import asyncpg

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
    with_gate: bool = True,
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
        gate = gate_component() if with_gate else None
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
