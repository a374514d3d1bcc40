"""A few database connections held by the file server for its one read per fetch.

Taking a connection from the shared pool and giving it back costs a second round trip
per fetch: asyncpg resets every released connection (`UNLISTEN *; RESET ALL; …`). The
file server's read needs no such reset (no session state, no transaction), so it keeps
`size` connections of the pool for itself and passes them from fetch to fetch. A
connection that fails is given back to the pool (which discards a closed one) and
replaced with a fresh one; so is one found closed before a fetch uses it (PostgreSQL
restarted meanwhile), so that the first fetches after an outage do not fail on it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from db.errors import DB_ERRORS


class ConnectionLease:
    def __init__(self, pool: asyncpg.Pool[Any], size: int = 3) -> None:
        self._pool = pool
        self._size = size
        self._idle: asyncio.Queue[asyncpg.Connection[Any]] = asyncio.Queue()
        self._held: list[asyncpg.Connection[Any]] = []

    @property
    def size(self) -> int:
        """How many connections it holds once started (0: it borrows from the pool)."""
        return self._size

    async def start(self) -> None:
        for _ in range(self._size):
            conn = await self._pool.acquire()
            self._held.append(conn)
            self._idle.put_nowait(conn)

    async def stop(self) -> None:
        held, self._held = self._held, []
        for conn in held:
            await self._pool.release(conn)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection[Any]]:
        if not self._held:  # not started (or stopped): use the pool
            async with self._pool.acquire() as conn:
                yield conn
            return
        conn = await self._idle.get()
        if _closed(conn):
            conn = await self._replace(conn)
        try:
            yield conn
        except (
            OSError,
            asyncpg.InterfaceError,
            asyncpg.PostgresConnectionError,
            asyncpg.InternalClientError,
        ) as exc:
            # A query that timed out (the database not answering: a network partition)
            # says nothing of the connection, and replacing it would first wait for a new
            # one (the pool's 10 s connect time-out) before the fetch is answered 503; if
            # it is broken, its next query says so and it is replaced then.
            if not isinstance(exc, TimeoutError):
                conn = await self._replace(conn)
            raise
        finally:
            self._idle.put_nowait(conn)

    async def _replace(self, broken: asyncpg.Connection[Any]) -> asyncpg.Connection[Any]:
        """A fresh connection for a broken one; the broken one again if none can be had
        (the next fetch then fails and tries again)."""
        try:
            fresh = await self._pool.acquire()
        except DB_ERRORS:
            return broken
        self._held[self._held.index(broken)] = fresh
        with contextlib.suppress(*DB_ERRORS):
            await self._pool.release(broken)
        return fresh


def _closed(conn: asyncpg.Connection[Any]) -> bool:
    """Whether `conn` can no longer be used: closed by the server, or (asyncpg gives a
    closed connection back to its pool by itself) no longer ours."""
    try:
        return bool(conn.is_closed())
    except asyncpg.InterfaceError:
        return True
