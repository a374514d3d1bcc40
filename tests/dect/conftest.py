"""Fixtures of the DECT / user-phone tests: the app with the route modules these tests
use (others' may be mid-change in the shared tree), optionally with the real `/prov/`
file server and SIP service."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import asyncpg
import pytest

import provisioning.api.customers
import provisioning.api.dect
import provisioning.api.extensions
import provisioning.api.qrcode
import provisioning.api.sipphones
import provisioning.api.user_phones
from provisioning.app.context import ServiceContext
from provisioning.config import Settings
from provisioning.credentials import SecretBox
from provisioning.hub import ServiceHub
from tests import factories
from tests.conftest import bearer, insert_token

ROUTE_MODULES = [
    provisioning.api.customers.setup,
    provisioning.api.extensions.setup,
    provisioning.api.sipphones.setup,
    provisioning.api.dect.setup,
    provisioning.api.user_phones.setup,
    provisioning.api.qrcode.setup,
]


async def _client(
    aiohttp_client: Any,
    pool: asyncpg.Pool[Any],
    settings: Settings,
    secret_box: SecretBox,
    stack: AsyncExitStack,
    *,
    with_prov: bool,
    with_sip: bool,
) -> Any:
    from provisioning.app.http import create_app

    hub = ServiceHub(node_id="test")
    app = create_app(
        settings=settings, pool=pool, secret_box=secret_box, hub=hub, routes=ROUTE_MODULES
    )
    ctx = ServiceContext(
        settings=settings, pool=pool, secret_box=secret_box, hub=hub, app=app, ssl_context=None
    )
    if with_sip:
        from provisioning.app.components import sip as sip_component

        await stack.enter_async_context(sip_component.run(ctx))
    if with_prov:
        from provisioning.app.components import fileserver as prov_component

        await stack.enter_async_context(prov_component.run(ctx))
    client = await aiohttp_client(app)
    client.hub = hub
    return client


@pytest.fixture
async def client(
    aiohttp_client: Any, pool: asyncpg.Pool[Any], settings: Settings, secret_box: SecretBox
) -> AsyncIterator[Any]:
    async with AsyncExitStack() as stack:
        yield await _client(
            aiohttp_client, pool, settings, secret_box, stack, with_prov=False, with_sip=False
        )


@pytest.fixture
async def full(
    aiohttp_client: Any, pool: asyncpg.Pool[Any], settings: Settings, secret_box: SecretBox
) -> AsyncIterator[Any]:
    """The app plus `/prov/` and the SIP service on UDP loopback."""
    sip_settings = dataclasses.replace(settings, sip_listen="udp:127.0.0.1:0", keepalive_interval=0)
    async with AsyncExitStack() as stack:
        yield await _client(
            aiohttp_client, pool, sip_settings, secret_box, stack, with_prov=True, with_sip=True
        )


@dataclasses.dataclass
class Tenant:
    customer: str
    headers: dict[str, str]  # a MANAGER token of the customer
    owner: dict[str, str]
    viewer: dict[str, str]
    extensions: dict[str, str]  # number -> id


@pytest.fixture
async def tenant(pool: asyncpg.Pool[Any]) -> Tenant:
    async with pool.acquire() as conn:
        customer = await factories.customer(conn)
        extensions = {
            number: await factories.extension(conn, customer, number, f"User {number}")
            for number in ("101", "102", "103", "104", "105")
        }
        return Tenant(
            customer=customer,
            headers=bearer(await insert_token(conn, "MANAGER", customer_id=customer)),
            owner=bearer(await insert_token(conn, "OWNER", customer_id=customer)),
            viewer=bearer(await insert_token(conn, "VIEWER", customer_id=customer)),
            extensions=extensions,
        )


def base_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Warehouse",
        "mac": "80:5E:C0:11:22:33",
        "template": "yealink-dect.cfg",
        "vendor": "yealink",
        "model": "W60B",
        "password": "admin-secret-1",
        "user_password": "user-secret-2",
        "timezone": "Europe/Copenhagen",
        "language": "GERMAN",
        "handset_language": "FRENCH",
        "tone": "Denmark",
        "rps": False,
        "https": False,
        "codecs": ["g722", "pcma"],
        "interface": "WEB_DOMAIN",
        "preferred_transport": "UDP",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`provisioning.app.http.authenticate` stores the principal under a str request key, which
    this aiohttp warns about (NotAppKeyWarning); not ours to fix, so not an error here."""
    for item in items:
        if "tests/dect/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(
                pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")
            )
