"""Fixtures of the provisioning tests: the full app with the `/prov/` component running."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from provisioning.config import Settings
from provisioning.credentials import SecretBox
from tests.support.prov_app import running


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
