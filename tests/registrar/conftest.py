"""Fixtures of the registrar tests: a customer in the per-test database (the in-process
SIP service is the root conftest's `start_sip`)."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from tests.support import factories


@pytest.fixture
async def customer_id(pool: asyncpg.Pool[Any]) -> str:
    async with pool.acquire() as conn:
        return await factories.customer(conn)
