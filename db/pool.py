"""The asyncpg pool."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from db.errors import DatabaseError


async def _init_connection(conn: asyncpg.Connection[Any]) -> None:
    """jsonb columns travel as Python objects."""
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(dsn: str, *, max_size: int = 10) -> asyncpg.Pool[Any]:
    """Open a pool, turning connection failures into one clear line."""
    try:
        pool = await asyncpg.create_pool(
            dsn,
            min_size=1,
            max_size=max_size,
            init=_init_connection,
            timeout=10,
            command_timeout=30,
        )
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        raise DatabaseError(f"database_url: cannot connect to the database ({exc})") from None
    assert pool is not None
    return pool


async def ping(pool: asyncpg.Pool[Any]) -> bool:
    """True when the database answers a trivial query."""
    try:
        async with pool.acquire(timeout=2) as conn:
            return bool(await conn.fetchval("SELECT 1", timeout=2) == 1)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
        return False


_CONNECTION_LIMIT = """
SELECT current_setting('max_connections')::int
       - current_setting('superuser_reserved_connections')::int
       - coalesce(current_setting('reserved_connections', true)::int, 0)
"""


async def connection_limit(conn: asyncpg.Connection[Any]) -> int:
    """The connections PostgreSQL allows roles without reserved slots, all clients
    together (max_connections less the reserved ones)."""
    return int(await conn.fetchval(_CONNECTION_LIMIT))
