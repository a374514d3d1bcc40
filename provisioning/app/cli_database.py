"""How a CLI command (`token create`, `db status`, `db upgrade`) reaches the database
without harming a running server.

With `database_url` set the command connects to it, as every node does. With the
embedded PostgreSQL of the data directory:

- the data directory must already exist and hold the database: the CLI never creates one
  (`sipfleet serve` does on first start), so a missing or mistyped `data_dir` is one line
  naming the path, not a second, empty PostgreSQL somewhere else;
- when a server holds the data directory (its lock), the command connects to the
  server's running PostgreSQL and never stops it, and applies no migration on its own
  (only `db upgrade`, asked for, changes the schema under a running server);
- otherwise the command takes the lock for as long as it runs (a server starting
  meanwhile waits for it), starts the PostgreSQL if it is not running, and afterwards
  stops it only if it started it: one found running (left by a killed server) is left.

Every error names the data directory (or the database, without its password) used.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg

from db import migrate
from db.embedded import EmbeddedPostgres, running_embedded, start_embedded
from db.errors import DatabaseError
from db.pool import create_pool
from provisioning.app import datadir
from provisioning.config import Settings

# How long to wait for the PostgreSQL of a server that holds the data directory to be
# ready (the server may be starting: it takes the lock before it starts PostgreSQL).
SERVER_POSTGRES_WAIT_SECONDS = 15.0
_POOL_SIZE = 2


class CliDatabaseError(Exception):
    """The command cannot use the database; one line naming the data directory."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CliDatabase:
    """The pool a command works on, and where it is (for messages)."""

    pool: asyncpg.Pool[Any]
    where: str
    beside_server: bool


def describe_target(settings: Settings) -> str:
    """`data_dir /path`, or `database_url postgresql://user@host/db` (no password)."""
    if not settings.database_url:
        return f"data_dir {settings.data_path}"
    parts = urlsplit(settings.database_url)
    # every host:port as given (a fail-over URL names several; `.port` refuses those)
    hosts = parts.netloc.rpartition("@")[2]
    user = f"{parts.username}@" if parts.username else ""
    return f"database_url {parts.scheme}://{user}{hosts}{parts.path}"


def _check_data_dir(data_dir: Path) -> None:
    if not data_dir.exists():
        raise CliDatabaseError(
            f"data_dir: {data_dir} does not exist (set SIPFLEET_DATA_DIR or --data-dir to "
            "the server's data directory; `sipfleet serve` creates it on first start)"
        )
    if not data_dir.is_dir():
        raise CliDatabaseError(f"data_dir: {data_dir} is not a directory")
    if not (data_dir / "postgres" / "PG_VERSION").is_file():
        raise CliDatabaseError(
            f"data_dir: {data_dir} holds no embedded database (`sipfleet serve` creates it "
            "on first start; a server on database_url needs the same database_url here)"
        )


@asynccontextmanager
async def _pool(uri: str, data_dir: Path) -> AsyncIterator[asyncpg.Pool[Any]]:
    try:
        pool = await create_pool(uri, max_size=_POOL_SIZE)
    except DatabaseError as exc:
        reason = exc.__context__ or exc  # the connection's own error
        raise CliDatabaseError(
            f"data_dir: cannot connect to the embedded PostgreSQL of {data_dir} ({reason})"
        ) from None
    try:
        yield pool
    finally:
        await pool.close()


async def _server_postgres(data_dir: Path, pid: int | None) -> EmbeddedPostgres:
    """The running PostgreSQL of the server holding `data_dir`, waiting while it starts."""
    deadline = time.monotonic() + SERVER_POSTGRES_WAIT_SECONDS
    while True:
        found = await asyncio.to_thread(running_embedded, data_dir)
        if found is not None:
            return found
        if time.monotonic() >= deadline:
            server = f"the running sipfleet (pid {pid})" if pid else "a running sipfleet"
            raise CliDatabaseError(
                f"data_dir: {data_dir} is held by {server} but its embedded PostgreSQL is "
                "not running (does that server use database_url? give this command the same)"
            )
        await asyncio.sleep(0.2)


async def _upgrade(pool: asyncpg.Pool[Any]) -> None:
    async with pool.acquire() as conn:
        await migrate.upgrade(conn)


@asynccontextmanager
async def open_cli_database(settings: Settings, *, upgrade: bool) -> AsyncIterator[CliDatabase]:
    """The database a CLI command works on; `upgrade` applies pending migrations unless
    a running server holds the data directory."""
    where = describe_target(settings)
    if settings.database_url:
        async with _url_pool(settings.database_url) as pool:
            if upgrade:
                await _upgrade(pool)
            yield CliDatabase(pool=pool, where=where, beside_server=False)
        return
    data_dir = settings.data_path
    _check_data_dir(data_dir)
    try:
        lock_fd = await asyncio.to_thread(datadir.lock_data_dir, data_dir, datadir.HOLDER_CLI)
    except datadir.DataDirInUse as exc:
        if exc.holder == datadir.HOLDER_CLI:
            raise CliDatabaseError(
                f"data_dir: {data_dir} is still in use by another sipfleet command"
                + (f" (pid {exc.pid})" if exc.pid else "")
            ) from None
        server = await _server_postgres(data_dir, exc.pid)
        async with _pool(server.uri, data_dir) as pool:  # never stopped from here
            yield CliDatabase(pool=pool, where=where, beside_server=True)
        return
    except OSError as exc:
        reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
        raise CliDatabaseError(f"data_dir: cannot lock {data_dir} ({reason})") from None
    try:
        try:
            embedded = await asyncio.to_thread(start_embedded, data_dir)
        except DatabaseError as exc:
            raise CliDatabaseError(str(exc).replace("database_url:", "data_dir:", 1)) from None
        try:
            async with _pool(embedded.uri, data_dir) as pool:
                if upgrade:
                    await _upgrade(pool)
                yield CliDatabase(pool=pool, where=where, beside_server=False)
        finally:
            if embedded.started:  # only what this command started, and no server holds it
                await asyncio.to_thread(embedded.stop)
    finally:
        datadir.unlock_data_dir(lock_fd)


@asynccontextmanager
async def _url_pool(dsn: str) -> AsyncIterator[asyncpg.Pool[Any]]:
    pool = await create_pool(dsn, max_size=_POOL_SIZE)
    try:
        yield pool
    finally:
        await pool.close()
