"""Customers: the tenants that own extensions, SIP phones, groups and queues."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg


@dataclass(frozen=True, slots=True, kw_only=True)
class Customer:
    id: str
    name: str
    reseller_id: str | None
    active: bool
    created: datetime


_COLUMNS = "id, name, reseller_id, active, created"
_INSERT = f"""
INSERT INTO customers (name, reseller_id, active) VALUES ($1, $2, $3) RETURNING {_COLUMNS}
"""
_BY_ID = f"SELECT {_COLUMNS} FROM customers WHERE id = $1"
_LIST = f"""
SELECT {_COLUMNS} FROM customers
WHERE ($1::text[] IS NULL OR id = ANY($1::text[])) AND ($2::text IS NULL OR id > $2)
ORDER BY id LIMIT $3
"""
_UPDATE = f"""
UPDATE customers SET name = $2, active = $3 WHERE id = $1 RETURNING {_COLUMNS}
"""
_DELETE = "DELETE FROM customers WHERE id = $1"
_RESELLER_EXISTS = "SELECT EXISTS (SELECT 1 FROM resellers WHERE id = $1)"


def _record(row: asyncpg.Record) -> Customer:
    return Customer(**dict(row))


async def insert_customer(
    conn: asyncpg.Connection[Any], *, name: str, reseller_id: str | None, active: bool = True
) -> Customer:
    row = await conn.fetchrow(_INSERT, name, reseller_id, active)
    assert row is not None
    return _record(row)


async def customer_by_id(conn: asyncpg.Connection[Any], customer_id: str) -> Customer | None:
    row = await conn.fetchrow(_BY_ID, customer_id)
    return None if row is None else _record(row)


async def list_customers(
    conn: asyncpg.Connection[Any], scope: list[str] | None, *, after: str | None, limit: int
) -> list[Customer]:
    """Customers in `scope` (None: all), ordered by id, after the cursor id."""
    return [_record(row) for row in await conn.fetch(_LIST, scope, after, limit)]


async def update_customer(
    conn: asyncpg.Connection[Any], customer_id: str, *, name: str, active: bool
) -> Customer | None:
    row = await conn.fetchrow(_UPDATE, customer_id, name, active)
    return None if row is None else _record(row)


async def delete_customer(conn: asyncpg.Connection[Any], customer_id: str) -> bool:
    return str(await conn.execute(_DELETE, customer_id)) == "DELETE 1"


async def reseller_exists(conn: asyncpg.Connection[Any], reseller_id: str) -> bool:
    return bool(await conn.fetchval(_RESELLER_EXISTS, reseller_id))
