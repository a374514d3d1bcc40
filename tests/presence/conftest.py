"""Fixtures of the presence tests: an in-process SIP service with the presence service on
the per-test database, an HTTP client on an app that uses it, and phones to watch with."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import pytest

from provisioning.app.http import create_app
from provisioning.config import Settings
from provisioning.hub import ServiceHub
from tests.support import factories
from tests.support.sip_client import SipClient
from tests.support.sip_service import presence_sip_config


@dataclasses.dataclass
class Server:
    sip: Any
    presence: Any
    pool: asyncpg.Pool[Any]
    address: tuple[str, int]
    tcp: tuple[str, int] = ("127.0.0.1", 0)
    http: Any = None  # aiohttp test client on the app with this presence service
    customer: str = ""
    extensions: dict[str, str] = dataclasses.field(default_factory=dict)
    endpoints: list[SipClient] = dataclasses.field(default_factory=list)

    async def phone(self, number: str | None, *, local_ip: str = "127.0.0.1",
                    user_agent: str = "PresenceTest/1.0", customer: str | None = None,
                    transport: str = "udp") -> SipClient:  # fmt: skip
        async with self.pool.acquire() as conn:
            phone = await factories.phone(
                conn, customer or self.customer,
                extension_id=self.extensions.get(number) if number else None,
            )  # fmt: skip
        await self.sip.directory.refresh(phone.id)  # do not wait for its pg_notify
        server = self.tcp if transport == "tcp" else self.address
        endpoint = await SipClient(phone.username, phone.password, server, local_ip=local_ip,
                                  user_agent=user_agent, transport=transport,
                                   algorithm="MD5").open()  # fmt: skip
        self.endpoints.append(endpoint)
        return endpoint


@pytest.fixture
async def start_server(
    pool: asyncpg.Pool[Any], aiohttp_client: Any, settings: Settings, secret_box: Any
) -> AsyncIterator[Callable[..., Any]]:
    from sipcore.server.presence.service import PresenceConfig, PresenceService
    from sipcore.server.service import SipService

    started: list[Server] = []

    async def start(
        notify_min_interval: float = 0.0, node: str = "node-a", **limits: int
    ) -> Server:
        sip = SipService(presence_sip_config(), pool, None)
        await sip.start()
        presence = PresenceService(
            sip=sip,
            pool=pool,
            config=PresenceConfig(realm="sipfleet.test", node=node, min_expires=1,
                                  max_expires=3600, default_expires=3600,
                                  notify_min_interval=notify_min_interval, **limits),
        )  # fmt: skip
        await presence.start()
        address = next((h, p) for kind, h, p in sip.addresses() if kind == "udp")
        tcp = next((h, p) for kind, h, p in sip.addresses() if kind == "tcp")
        server = Server(sip=sip, presence=presence, pool=pool, address=address, tcp=tcp)
        started.append(server)
        app = create_app(settings=settings, pool=pool, secret_box=secret_box,
                         hub=ServiceHub(sip=sip, presence=presence))  # fmt: skip
        server.http = await aiohttp_client(app)
        async with pool.acquire() as conn:
            server.customer = await factories.customer(conn, "Acme")
            for number in ("101", "102", "103"):
                server.extensions[number] = await factories.extension(conn, server.customer, number)
        return server

    yield start
    for server in started:
        for endpoint in server.endpoints:
            endpoint.close()
        await server.presence.stop()
        await server.sip.stop()
