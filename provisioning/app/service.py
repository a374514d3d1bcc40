"""Assembling and running sipfleet: database, HTTP server, SIP listeners, shutdown.

Start order: data directory (locked) and secret key, database (embedded unless a URL is
given), migrations, first admin token, the components of `provisioning.app.components` (SIP
listeners, …), HTTP. Stop order is the reverse: stop accepting HTTP and let in-flight
requests finish, stop the components (SIP), close the pool, stop the embedded database.

`running_node` is one node's part (components and HTTP) on a ready database: the whole
service runs one; with `workers` > 1 `provisioning.app.serve` hands over to
`provisioning.app.workers`, whose supervisor owns the data directory, database and
sockets and runs one node per worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from aiohttp import web

from db import migrate
from db import tokens as token_queries
from db.embedded import EmbeddedPostgres, start_embedded
from db.errors import DatabaseError
from db.pool import create_pool
from provisioning.app import datadir
from provisioning.app.components import COMPONENTS
from provisioning.app.context import ComponentError, ServiceContext
from provisioning.app.http import create_app
from provisioning.app.httpserver import HttpRunner
from provisioning.auth import hash_token, new_token
from provisioning.config import ConfigError, Settings
from provisioning.credentials import SecretBox
from provisioning.hub import ServiceHub

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_SECONDS = 3.0
EMBEDDED_CHECK_SECONDS = 1.0  # how often the embedded PostgreSQL is checked (and restarted)
# Connections the kernel queues for a worker's HTTP socket while it is busy (the kernel caps
# it at net.core.somaxconn). aiohttp's default, 128, overflowed within a tenth of a second
# when a building's phones booted at once (two fetches each, each on a new connection); but
# a queue longer than a second or two of a worker's work only makes every phone in it wait
# until it times out (4,096: 9,337 fetch time-outs in a 10,000-phone storm). Beyond this,
# the kernel drops the SYN and the phone tries again a second later, at no cost here.
HTTP_BACKLOG = 1024


class StartupError(Exception):
    """sipfleet cannot start; the message is one line naming the setting at fault."""


@dataclass(slots=True)
class Database:
    pool: asyncpg.Pool[Any]
    embedded: EmbeddedPostgres | None


@asynccontextmanager
async def open_database(settings: Settings, *, upgrade: bool = True) -> AsyncIterator[Database]:
    """The configured database, migrated, with its pool; stops an embedded server after."""
    embedded = None
    dsn = settings.database_url
    if not dsn:
        datadir.prepare(settings.data_path)
        embedded = await asyncio.to_thread(start_embedded, settings.data_path)
        dsn = embedded.uri
    keeper = None
    try:
        pool = await create_pool(dsn, max_size=settings.database_pool_size)
        try:
            if upgrade:
                async with pool.acquire() as conn:
                    applied = await migrate.upgrade(conn)
                if applied:
                    log.info("applied migrations %s", applied)
            if embedded is not None:
                keeper = asyncio.get_running_loop().create_task(_keep_running(embedded))
            yield Database(pool=pool, embedded=embedded)
        finally:
            if keeper is not None:
                keeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await keeper
            await pool.close()
    finally:
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)


async def _keep_running(embedded: EmbeddedPostgres) -> None:
    """The embedded PostgreSQL is part of this service: when it stops under it (killed,
    the OOM killer, a crash), start it again — the same socket, so every pool reconnects
    by itself. Without this the service would answer 503 until restarted."""
    while True:
        await asyncio.sleep(EMBEDDED_CHECK_SECONDS)
        if await asyncio.to_thread(embedded.running):
            continue
        log.warning("the embedded PostgreSQL in %s is not running; starting it again",
                    embedded.pgdata)  # fmt: skip
        try:
            await asyncio.to_thread(embedded.start_again)
        except DatabaseError as exc:
            log.error("%s", exc)
            continue
        log.warning("the embedded PostgreSQL runs again")


async def ensure_admin_token(pool: asyncpg.Pool[Any], settings: Settings) -> Path | None:
    """On first start, create the first ADMIN token; return the file it was written to.

    `SIPFLEET_ADMIN_TOKEN` (or `admin_token`) supplies it; otherwise it is generated and
    written to `<data_dir>/admin-token` with mode 0600. The token itself is never logged.
    """
    async with pool.acquire() as conn:
        if settings.admin_token:
            if await token_queries.token_by_hash(conn, hash_token(settings.admin_token)) is None:
                await token_queries.insert_token(
                    conn,
                    token_hash=hash_token(settings.admin_token),
                    level="ADMIN",
                    name="configured admin token",
                )
            return None
        if await token_queries.count_admin_tokens(conn) > 0:
            return None
        path = settings.data_path / datadir.ADMIN_TOKEN_FILE
        datadir.prepare(settings.data_path)
        if path.exists():  # a data dir whose database was replaced: keep the same token
            token = path.read_text(encoding="utf-8").strip()
        else:
            token = new_token()
            datadir.write_private(path, token + "\n")
        await token_queries.insert_token(
            conn, token_hash=hash_token(token), level="ADMIN", name="first admin token"
        )
        return path


def ssl_context_for(settings: Settings) -> ssl.SSLContext | None:
    if not settings.tls_cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(settings.tls_cert, settings.tls_key)
    except (ssl.SSLError, OSError) as exc:
        raise StartupError(f"tls_cert: cannot load certificate and key ({exc})") from None
    return context


def os_error_reason(exc: OSError) -> str:
    """An OSError as the short lower-case phrase a startup error line ends with."""
    return os.strerror(exc.errno).lower() if exc.errno else str(exc)


@dataclass(slots=True)
class RunningService:
    """Handles of a started service, for tests and for shutdown."""

    settings: Settings
    database: Database
    runner: web.AppRunner
    hub: ServiceHub
    app: web.Application
    http_port: int
    admin_token_path: Path | None


@contextlib.contextmanager
def data_dir_locked(settings: Settings) -> Iterator[None]:
    """The data directory, created if need be and locked for this server while the block
    runs (another server on it is a StartupError naming it)."""
    datadir.prepare(settings.data_path)
    try:
        lock_fd = datadir.lock_data_dir(settings.data_path)
    except datadir.DataDirInUse as exc:
        raise StartupError(str(exc)) from None
    try:
        yield
    finally:
        datadir.unlock_data_dir(lock_fd)


@asynccontextmanager
async def running_service(settings: Settings) -> AsyncIterator[RunningService]:
    """Start everything; on exit, stop it in reverse order."""
    with data_dir_locked(settings):
        async with _running_service(settings) as service:
            yield service


@asynccontextmanager
async def _running_service(settings: Settings) -> AsyncIterator[RunningService]:
    key = datadir.load_or_create_secret_key(settings.data_path, settings.secret_key)
    box = SecretBox(key)
    ssl_context = ssl_context_for(settings)
    try:
        database_cm = open_database(settings)
        database = await database_cm.__aenter__()
    except DatabaseError as exc:
        raise StartupError(str(exc)) from None
    try:
        admin_path = await ensure_admin_token(database.pool, settings)
        async with running_node(settings, database.pool, box, ssl_context) as node:
            yield RunningService(
                settings=settings,
                database=database,
                runner=node.runner,
                hub=node.hub,
                app=node.app,
                http_port=node.http_port,
                admin_token_path=admin_path,
            )
    finally:
        await database_cm.__aexit__(None, None, None)


@dataclass(slots=True)
class RunningNode:
    """One node's live parts: hub, HTTP application and its runner."""

    hub: ServiceHub
    app: web.Application
    runner: web.AppRunner
    http_port: int


WORKER_HEADER = "X-Sipfleet-Worker"


@asynccontextmanager
async def running_node(
    settings: Settings,
    pool: asyncpg.Pool[Any],
    box: SecretBox,
    ssl_context: ssl.SSLContext | None,
    *,
    worker_index: int = 0,
    worker_count: int = 1,
    http_socket: socket.socket | None = None,
) -> AsyncIterator[RunningNode]:
    """The components and the HTTP site on a migrated database: one node of sipfleet (the
    whole service, or one of `worker_count` processes sharing the ports, which serves HTTP
    on the bound `http_socket` its supervisor gave it)."""
    hub = ServiceHub(node_id=f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}")
    app = create_app(settings=settings, pool=pool, secret_box=box, hub=hub)
    shared = worker_count > 1
    if shared:
        app.on_response_prepare.append(_worker_header(str(worker_index)))
    ctx = ServiceContext(
        settings=settings,
        pool=pool,
        secret_box=box,
        hub=hub,
        app=app,
        ssl_context=ssl_context,
        worker_index=worker_index,
        worker_count=worker_count,
    )
    async with AsyncExitStack() as components:
        for component in COMPONENTS:
            try:
                await components.enter_async_context(component(ctx))
            except ComponentError as exc:
                raise StartupError(str(exc)) from None
        runner = HttpRunner(app, shutdown_timeout=SHUTDOWN_GRACE_SECONDS)
        await runner.setup()
        try:
            host, port = settings.http_address
            site: web.BaseSite
            if http_socket is not None:
                site = web.SockSite(
                    runner, http_socket, ssl_context=ssl_context, backlog=HTTP_BACKLOG
                )
            else:
                site = web.TCPSite(
                    runner,
                    host,
                    port,
                    ssl_context=ssl_context,
                    reuse_address=True,
                    reuse_port=shared or None,
                    backlog=HTTP_BACKLOG,
                )
            try:
                await site.start()
            except OSError as exc:
                raise StartupError(
                    f"http_listen: cannot listen on {host}:{port}: {os_error_reason(exc)}"
                ) from None
            http_port = runner.addresses[0][1] if runner.addresses else port
            yield RunningNode(hub=hub, app=app, runner=runner, http_port=http_port)
        finally:
            # stop accepting HTTP and finish in-flight requests, then the components
            await runner.cleanup()


def _worker_header(
    value: str,
) -> Callable[[web.Request, web.StreamResponse], Awaitable[None]]:
    """Which worker process answered (several share the port): for operators and tests."""

    async def add_header(request: web.Request, response: web.StreamResponse) -> None:
        response.headers[WORKER_HEADER] = value

    return add_header


__all__ = [
    "ConfigError",
    "StartupError",
    "data_dir_locked",
    "open_database",
    "os_error_reason",
    "running_node",
    "running_service",
    "ssl_context_for",
]
