"""The asyncpg pool.

`database_url` may name several hosts (`postgresql://user@db1:5432,db2:5432/sipfleet?
target_session_attrs=read-write`): asyncpg tries them in order and keeps the one that
takes writes, so after a fail-over every new connection goes to the promoted server.
Connections to a server that went away are dropped by the pool and made again on the
next acquire; nothing here waits for the database to come back.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import asyncpg

from db.errors import DB_ERRORS, DatabaseError


class _OneLine(logging.Filter):
    """asyncpg's pool logs every failed attempt to keep its minimum of connections with
    a traceback (every 1-60 s while the database is down): one line is enough."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            record.msg = f"{record.getMessage()} ({type(exc).__name__}: {exc})"
            record.args = ()
            record.exc_info = None
            record.exc_text = None
        return True


logging.getLogger("asyncpg.pool").addFilter(_OneLine())


async def _init_connection(conn: asyncpg.Connection[Any]) -> None:
    """jsonb columns travel as Python objects."""
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


class _PooledConnection(asyncpg.Connection):  # type: ignore[misc]
    """A connection that remembers whether it ever changed session state that outlives
    a transaction (a LISTEN; the connections that LISTEN are also the only ones that set
    a session variable), so that releasing it to the pool costs a database round trip
    only when there is something to undo."""

    _session_changed = False

    async def add_listener(self, channel: str, callback: Any) -> None:
        self._session_changed = True
        await super().add_listener(channel, callback)


async def _reset_connection(conn: asyncpg.Connection[Any]) -> None:
    """What the pool does when a connection comes back. asyncpg's default runs
    `pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL` on every release — one
    more statement for PostgreSQL per query a request makes (a boot storm's fetches and
    first registrations acquire a connection a dozen times a phone). The pool has already
    rolled back any open transaction and dropped the Python-side listeners; cursors and
    transaction-level advisory locks end with their transaction and session-level advisory
    locks are released where they are taken (migrations), so only a connection that
    LISTENed (and may have set `application_name`) needs the full reset."""
    if getattr(conn, "_session_changed", True):
        await conn.execute(conn.get_reset_query())
        if isinstance(conn, _PooledConnection):
            conn._session_changed = False


async def create_pool(dsn: str, *, max_size: int = 10) -> asyncpg.Pool[Any]:
    """Open a pool, turning connection failures into one clear line."""
    try:
        pool = await asyncpg.create_pool(
            dsn,
            min_size=1,
            max_size=max_size,
            init=_init_connection,
            reset=_reset_connection,
            connection_class=_PooledConnection,
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
    except DB_ERRORS:
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
