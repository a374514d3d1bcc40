"""Making a phone for a test, straight into the test database (fresh credentials, returned
in clear): the one factory the areas share."""

from __future__ import annotations

from typing import Any

import asyncpg

from tests.support import factories
from tests.support.factories import TestPhone


async def new_phone(
    pool: asyncpg.Pool[Any],
    customer: str | None = None,
    *,
    customer_name: str | None = None,
    extension: str | None = None,
    extension_name: str = "",
    **columns: Any,
) -> TestPhone:
    """A SIP phone of `customer`, else of a new customer (named `customer_name`); on a
    new extension numbered `extension` when given; the other keyword arguments
    (model, mac_address, ip_mode, ip_countries, ip_address, table columns) go to
    `factories.phone`."""
    async with pool.acquire() as conn:
        if customer is None:
            names = () if customer_name is None else (customer_name,)
            customer = await factories.customer(conn, *names)
        if extension is not None:
            columns["extension_id"] = await factories.extension(
                conn, customer, extension, extension_name
            )
        return await factories.phone(conn, customer, **columns)


async def new_phones(pool: asyncpg.Pool[Any], count: int, **options: Any) -> list[TestPhone]:
    """`count` phones of one new customer."""
    async with pool.acquire() as conn:
        customer = await factories.customer(conn)
    return [await new_phone(pool, customer, **options) for _ in range(count)]


async def ip_state(pool: asyncpg.Pool[Any], phone_id: str) -> asyncpg.Record:
    """The phone's stored IP policy and version: ip_mode, ip_address, version."""
    async with pool.acquire() as conn:
        found = await conn.fetchrow(
            "SELECT ip_mode, ip_address, version FROM sip_phones WHERE id = $1", phone_id
        )
    assert found is not None
    return found
