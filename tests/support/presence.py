"""Presence tests' shared steps: the seeded customer of the two-node tests, a MANAGER
token, a PBX push through the REST route, and the `<basic>` of a PIDF NOTIFY."""

from __future__ import annotations

import re
from typing import Any

import asyncpg

from tests.support import factories
from tests.support.database import bearer, insert_token


async def seed(database_url: str) -> dict[str, Any]:
    """Customer Acme with extensions 101 (a desk phone) and 102 (a watcher's phone), and
    a MANAGER token."""
    conn = await asyncpg.connect(database_url)
    try:
        customer = await factories.customer(conn, "Acme")
        ext101 = await factories.extension(conn, customer, "101")
        ext102 = await factories.extension(conn, customer, "102")
        desk = await factories.phone(conn, customer, extension_id=ext101)
        watcher = await factories.phone(conn, customer, extension_id=ext102)
        token = await insert_token(conn, "MANAGER", customer_id=customer)
    finally:
        await conn.close()
    return {"desk": desk, "watcher": watcher, "token": token}


async def manager_token(server: Any) -> str:
    async with server.pool.acquire() as conn:
        return await insert_token(conn, "MANAGER", customer_id=server.customer)


async def push(server: Any, token: str, number: str, **body: Any) -> Any:
    """`POST /api/presence/<number>` (the PBX push); asserts 200, returns the JSON."""
    response = await server.http.post(f"/api/presence/{number}", json=body, headers=bearer(token))
    assert response.status == 200, await response.text()
    return await response.json()


def basic(msg: Any) -> str | None:
    """The `<basic>` status of a PIDF NOTIFY's body, or None."""
    found = re.search(rb"<basic>(\w+)</basic>", msg.body)
    return found.group(1).decode() if found else None
