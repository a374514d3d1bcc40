"""The DECT tests' app (its route modules, optionally with /prov/ and the SIP service),
their tenant and a DECT base's request body."""

from __future__ import annotations

import dataclasses
from contextlib import AsyncExitStack
from typing import Any

import asyncpg

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
from tests.support import factories
from tests.support.database import bearer, insert_token

ROUTE_MODULES = [
    provisioning.api.customers.setup,
    provisioning.api.extensions.setup,
    provisioning.api.sipphones.setup,
    provisioning.api.dect.setup,
    provisioning.api.user_phones.setup,
    provisioning.api.qrcode.setup,
]


async def dect_client(
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


@dataclasses.dataclass
class Tenant:
    customer: str
    headers: dict[str, str]  # a MANAGER token of the customer
    owner: dict[str, str]
    viewer: dict[str, str]
    extensions: dict[str, str]  # number -> id


async def make_tenant(
    pool: asyncpg.Pool[Any], numbers: tuple[str, ...] = ("101", "102", "103", "104", "105")
) -> Tenant:
    """A customer with extensions `numbers` (named "User <number>") and a MANAGER, an
    OWNER and a VIEWER token."""
    async with pool.acquire() as conn:
        customer = await factories.customer(conn)
        extensions = {
            number: await factories.extension(conn, customer, number, f"User {number}")
            for number in numbers
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


async def base_with_members(
    client: Any, tenant: Tenant, body: dict[str, Any], numbers: tuple[str, ...] | list[str] = ("101",),
    address: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """A DECT base created through the API (201), with a handset on each extension of
    `numbers` (200; at handset `address` when given): the created base."""
    created = await client.post("/api/dect_phones", json=body, headers=tenant.headers)
    assert created.status == 201, await created.text()
    base = dict(await created.json())
    members = [{"extension_number": n, "handset_address": address} for n in numbers]
    response = await client.post(
        f"/api/dect_phones/{base['_id']}/members",
        json={"members": [{k: v for k, v in m.items() if v} for m in members]},
        headers=tenant.headers,
    )
    assert response.status == 200, await response.text()
    return base
