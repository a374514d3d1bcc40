"""The /prov/ file server for the vendors' HTTP tests: the same app tests/prov runs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from provisioning.config import Settings
from provisioning.credentials import SecretBox


@pytest.fixture
async def prov(
    aiohttp_client: Any, pool: asyncpg.Pool[Any], settings: Settings, secret_box: SecretBox
) -> AsyncIterator[Any]:
    from tests.support.prov_app import running

    async with running(aiohttp_client, pool, settings, secret_box, with_sip=False) as client:
        yield client
