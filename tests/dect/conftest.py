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

from provisioning.config import Settings
from provisioning.credentials import SecretBox
from tests.support.dect import Tenant, dect_client, make_tenant


@pytest.fixture
async def client(
    aiohttp_client: Any, pool: asyncpg.Pool[Any], settings: Settings, secret_box: SecretBox
) -> AsyncIterator[Any]:
    async with AsyncExitStack() as stack:
        yield await dect_client(
            aiohttp_client, pool, settings, secret_box, stack, with_prov=False, with_sip=False
        )


@pytest.fixture
async def full(
    aiohttp_client: Any, pool: asyncpg.Pool[Any], settings: Settings, secret_box: SecretBox
) -> AsyncIterator[Any]:
    """The app plus `/prov/` and the SIP service on UDP loopback."""
    sip_settings = dataclasses.replace(settings, sip_listen="udp:127.0.0.1:0", keepalive_interval=0)
    async with AsyncExitStack() as stack:
        yield await dect_client(
            aiohttp_client, pool, sip_settings, secret_box, stack, with_prov=True, with_sip=True
        )


@pytest.fixture
async def tenant(pool: asyncpg.Pool[Any]) -> Tenant:
    return await make_tenant(pool, ("101", "102", "103", "104", "105"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`provisioning.app.http.authenticate` stores the principal under a str request key, which
    this aiohttp warns about (NotAppKeyWarning); not ours to fix, so not an error here."""
    for item in items:
        if "tests/dect/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(
                pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")
            )
