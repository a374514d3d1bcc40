"""Migrations against a real PostgreSQL: from empty, re-run, refusing a newer schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg
import pytest

from db import migrate
from db.errors import SchemaTooNewError


async def _empty_database(pg_server: Any, name: str) -> asyncpg.Connection[Any]:
    from tests.support.database import database_uri

    admin = await asyncpg.connect(pg_server.uri)
    await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    await admin.execute(f"CREATE DATABASE {name}")
    await admin.close()
    return await asyncpg.connect(database_uri(pg_server, name))


async def test_upgrade_from_empty_then_rerun_applies_nothing(pg_server: Any) -> None:
    conn = await _empty_database(pg_server, "mig_empty")
    try:
        applied = await migrate.upgrade(conn)
        known = [m.version for m in migrate.available_migrations()]
        assert applied == known
        assert await migrate.upgrade(conn) == []
        statuses = await migrate.status(conn)
        assert all(item.applied for item in statuses)
        tables = {
            row["tablename"]
            for row in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")
        }
        for table in (
            "customers",
            "extensions",
            "sip_phone_models",
            "sip_phones",
            "phone_status",
            "bindings",
            "phone_templates",
            "seen_phones",
            "api_tokens",
            "events",
            "dect_bases",
        ):
            assert table in tables
    finally:
        await conn.close()


async def test_failed_migration_leaves_nothing_half_applied(pg_server: Any, tmp_path: Path) -> None:
    conn = await _empty_database(pg_server, "mig_fail")
    (tmp_path / "0001_good.sql").write_text("CREATE TABLE good (id int);")
    (tmp_path / "0002_bad.sql").write_text("CREATE TABLE half (id int); SELECT nonsense FROM;")
    try:
        with pytest.raises(asyncpg.PostgresSyntaxError):
            await migrate.upgrade(conn, tmp_path)
        versions = [
            row["version"] for row in await conn.fetch("SELECT version FROM schema_migrations")
        ]
        assert versions == [1]
        assert await conn.fetchval("SELECT to_regclass('half')") is None
    finally:
        await conn.close()


async def test_refuses_database_newer_than_code(pg_server: Any) -> None:
    conn = await _empty_database(pg_server, "mig_newer")
    try:
        await migrate.upgrade(conn)
        await conn.execute("INSERT INTO schema_migrations (version, name) VALUES (9999, 'future')")
        with pytest.raises(SchemaTooNewError, match="9999"):
            await migrate.upgrade(conn)
    finally:
        await conn.close()


async def test_object_ids_are_24_hex(pool: asyncpg.Pool[Any]) -> None:
    async with pool.acquire() as conn:
        ids = {await conn.fetchval("SELECT new_object_id()") for _ in range(50)}
    assert len(ids) == 50
    assert all(len(i) == 24 and all(c in "0123456789abcdef" for c in i) for i in ids)
