"""Fixtures: the SIP service started in-process on the real (per-test) database."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import pytest

from provisioning.app.components.sip import sip_config
from provisioning.config import Settings
from sipcore.server.config import ListenerSpec
from sipcore.server.service import SipService
from tests import factories

SECRET = bytes(range(32))


def make_config(**overrides: Any):  # type: ignore[no-untyped-def]
    settings = Settings(
        data_dir="/tmp/unused", sip_domain="sipfleet.test", sip_listen="udp:127.0.0.1:0"
    )
    config = sip_config(settings, secret_key=SECRET, node_id="test-node")
    listeners = overrides.pop(
        "listeners",
        (
            ListenerSpec(transport="udp", host="127.0.0.1", port=0),
            ListenerSpec(transport="tcp", host="127.0.0.1", port=0),
        ),
    )
    defaults: dict[str, Any] = {
        "expires_spread_percent": 0,
        "keepalive_interval": 0,
        "sweep_interval": 0.2,
        "timer_t1": 0.1,
        "timer_t2": 0.4,
    }
    defaults.update(overrides)
    return dataclasses.replace(config, listeners=listeners, **defaults)


class Running:
    def __init__(self, service: SipService) -> None:
        self.service = service

    def address(self, transport: str = "udp") -> tuple[str, int]:
        for kind, host, port in self.service.addresses():
            if kind == transport:
                return host, port
        raise LookupError(transport)


@pytest.fixture
async def start_sip(pool: asyncpg.Pool[Any]) -> AsyncIterator[Callable[..., Any]]:
    started: list[SipService] = []

    async def start(gate: Any = None, ssl_context: Any = None, **overrides: Any) -> Running:
        service = SipService(make_config(**overrides), pool, gate)
        await service.start(ssl_context=ssl_context)
        started.append(service)
        return Running(service)

    yield start
    for service in started:
        await service.stop()


@pytest.fixture
async def customer_id(pool: asyncpg.Pool[Any]) -> str:
    async with pool.acquire() as conn:
        return await factories.customer(conn)


async def new_phone(pool: asyncpg.Pool[Any], customer: str, **kwargs: Any) -> factories.TestPhone:
    async with pool.acquire() as conn:
        return await factories.phone(conn, customer, **kwargs)
