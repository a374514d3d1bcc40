"""Test data for the phone API tests: tenants with tokens, models from the catalogue and
test-only models (for DECT slot rules the catalogue does not exercise)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

from tests import factories
from tests.conftest import bearer, insert_token


@dataclass(frozen=True)
class Tenant:
    customer_id: str
    viewer: dict[str, str]
    manager: dict[str, str]
    owner: dict[str, str]
    extension_ids: dict[str, str]  # number -> id


async def tenant(
    conn: asyncpg.Connection[Any], name: str, numbers: tuple[str, ...] = ("101", "102")
) -> Tenant:
    customer_id = await factories.customer(conn, name)
    extensions = {n: await factories.extension(conn, customer_id, n) for n in numbers}
    return Tenant(
        customer_id=customer_id,
        viewer=bearer(await insert_token(conn, "VIEWER", customer_id)),
        manager=bearer(await insert_token(conn, "MANAGER", customer_id)),
        owner=bearer(await insert_token(conn, "OWNER", customer_id)),
        extension_ids=extensions,
    )


async def test_model(conn: asyncpg.Connection[Any], name: str, **columns: Any) -> str:
    """A model row made for a test (name prefixed 'test-')."""
    values = {"vendor": "generic", "model": name, "kind": "desk", **columns}
    names = ["name", *values]
    params = ", ".join(f"${i + 1}" for i in range(len(names)))
    return str(
        await conn.fetchval(
            f"INSERT INTO sip_phone_models ({', '.join(names)}) VALUES ({params}) RETURNING id",
            f"test-{name}",
            *values.values(),
        )
    )


async def model(conn: asyncpg.Connection[Any], name: str) -> str:
    return await factories.model_id(conn, name)
