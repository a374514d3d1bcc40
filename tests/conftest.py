"""Shared fixtures: one real PostgreSQL (pgserver) per test session, a fresh database per
test cloned from a migrated template, and an API client on a real app."""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import tempfile
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from db import migrate
from db.pool import create_pool
from provisioning.config import Settings
from provisioning.credentials import SecretBox
from tests.support.database import TEMPLATE_DB, database_uri, insert_token

_counter = itertools.count()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Any]:
    """A real PostgreSQL for the whole session, stopped at the end."""
    from db.embedded import start_embedded

    root = Path(tempfile.mkdtemp(prefix="sf-pg-"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        server = start_embedded(root)
    asyncio.run(_create_template(server.uri))
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


async def _create_template(uri: str) -> None:
    conn = await asyncpg.connect(uri)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {TEMPLATE_DB}")
        await conn.execute(f"CREATE DATABASE {TEMPLATE_DB}")
    finally:
        await conn.close()
    base, _, query = uri.partition("?")
    conn = await asyncpg.connect(base.rsplit("/", 1)[0] + f"/{TEMPLATE_DB}?{query}")
    try:
        await migrate.upgrade(conn)
    finally:
        await conn.close()


@pytest.fixture
def database_url(pg_server: Any) -> Iterator[str]:
    """A fresh, migrated database for one test (a clone of the template)."""
    name = f"t_{os.getpid()}_{next(_counter)}"

    async def create() -> None:
        conn = await asyncpg.connect(pg_server.uri)
        try:
            await conn.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE_DB}")
        finally:
            await conn.close()

    async def drop() -> None:
        conn = await asyncpg.connect(pg_server.uri)
        try:
            await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        finally:
            await conn.close()

    asyncio.run(create())
    yield database_uri(pg_server, name)
    asyncio.run(drop())


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool[Any]]:
    db_pool = await create_pool(database_url, max_size=10)
    yield db_pool
    try:
        await asyncio.wait_for(db_pool.close(), 10)
    except TimeoutError:
        db_pool.terminate()
        raise AssertionError("a test left database connections acquired") from None


@pytest.fixture
def secret_box() -> SecretBox:
    return SecretBox(bytes(range(32)))


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=str(tmp_path / "data"),
        database_url=database_url,
        sip_domain="sipfleet.test",
        http_listen="127.0.0.1:0",
        sip_listen="udp:127.0.0.1:0",
    )


@pytest.fixture
async def admin_token(pool: asyncpg.Pool[Any]) -> str:
    async with pool.acquire() as conn:
        return await insert_token(conn, "ADMIN")


@pytest.fixture
async def api(
    aiohttp_client: Any, pool: asyncpg.Pool[Any], settings: Settings, secret_box: SecretBox
) -> Any:
    """An aiohttp test client on the real app (every route module), real database."""
    from provisioning.app.http import create_app

    app = create_app(settings=settings, pool=pool, secret_box=secret_box)
    return await aiohttp_client(app)


@pytest.fixture
async def start_sip(pool: asyncpg.Pool[Any]) -> AsyncIterator[Callable[..., Any]]:
    """Start the SIP service in-process on the test's database (`start(**overrides)` of
    its config): a `Running`; stopped at the end."""
    from sipcore.server.service import SipService
    from tests.support.sip_service import Running, sip_test_config

    started: list[SipService] = []

    async def start(gate: Any = None, ssl_context: Any = None, **overrides: Any) -> Running:
        service = SipService(sip_test_config(**overrides), pool, gate)
        await service.start(ssl_context=ssl_context)
        started.append(service)
        return Running(service)

    yield start
    for service in started:
        await service.stop()
