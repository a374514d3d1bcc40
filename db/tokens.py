"""API tokens: only a SHA-256 hash of each token is stored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenRecord:
    id: str
    level: str
    customer_id: str | None
    reseller_id: str | None
    name: str
    created: datetime
    last_used: datetime | None


_COLUMNS = "id, level, customer_id, reseller_id, name, created, last_used"
_INSERT = f"""
INSERT INTO api_tokens (token_hash, level, customer_id, reseller_id, name)
VALUES ($1, $2, $3, $4, $5) RETURNING {_COLUMNS}
"""
_BY_HASH = f"SELECT {_COLUMNS} FROM api_tokens WHERE token_hash = $1"
_BY_ID = f"SELECT {_COLUMNS} FROM api_tokens WHERE id = $1"
_LIST = f"SELECT {_COLUMNS} FROM api_tokens ORDER BY created, id"
_DELETE = "DELETE FROM api_tokens WHERE id = $1"
_COUNT_ADMIN = "SELECT count(*) FROM api_tokens WHERE level = 'ADMIN'"


def _record(row: asyncpg.Record) -> TokenRecord:
    return TokenRecord(**dict(row))


async def insert_token(
    conn: asyncpg.Connection[Any],
    *,
    token_hash: str,
    level: str,
    customer_id: str | None = None,
    reseller_id: str | None = None,
    name: str = "",
) -> TokenRecord:
    row = await conn.fetchrow(_INSERT, token_hash, level, customer_id, reseller_id, name)
    assert row is not None
    return _record(row)


async def token_by_hash(conn: asyncpg.Connection[Any], token_hash: str) -> TokenRecord | None:
    row = await conn.fetchrow(_BY_HASH, token_hash)
    return None if row is None else _record(row)


async def token_by_id(conn: asyncpg.Connection[Any], token_id: str) -> TokenRecord | None:
    row = await conn.fetchrow(_BY_ID, token_id)
    return None if row is None else _record(row)


async def list_tokens(conn: asyncpg.Connection[Any]) -> list[TokenRecord]:
    return [_record(row) for row in await conn.fetch(_LIST)]


async def delete_token(conn: asyncpg.Connection[Any], token_id: str) -> bool:
    return str(await conn.execute(_DELETE, token_id)) == "DELETE 1"


async def count_admin_tokens(conn: asyncpg.Connection[Any]) -> int:
    return int(await conn.fetchval(_COUNT_ADMIN))


_RESELLER_CUSTOMERS = "SELECT id FROM customers WHERE reseller_id = $1 ORDER BY id"


async def reseller_customer_ids(conn: asyncpg.Connection[Any], reseller_id: str) -> list[str]:
    return [row["id"] for row in await conn.fetch(_RESELLER_CUSTOMERS, reseller_id)]
