"""Versioned SQL migrations: `db/migrations/NNNN_name.sql`, applied in order.

Each file runs in its own transaction and is recorded in `schema_migrations`, so running
the migrations again applies only what is missing. An advisory lock keeps two nodes that
start at once from migrating together. A database that records a version this code does
not know was migrated by a newer sipfleet, and we refuse to run against it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from db.errors import SchemaTooNewError

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK_KEY = 0x5157_F1EE7  # arbitrary, constant: "sipfleet"

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""
_APPLIED = "SELECT version, name, applied_at FROM schema_migrations ORDER BY version"
_RECORD = "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)"


@dataclass(frozen=True, slots=True, kw_only=True)
class Migration:
    version: int
    name: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")


@dataclass(frozen=True, slots=True, kw_only=True)
class MigrationStatus:
    version: int
    name: str
    applied: bool


def available_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    migrations = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise ValueError(f"migration file name {path.name!r} is not NNNN_name.sql")
        migrations.append(Migration(version=int(match[1]), name=match[2], path=path))
    versions = [item.version for item in migrations]
    if len(set(versions)) != len(versions):
        raise ValueError("two migration files share a version number")
    return migrations


async def _applied_versions(conn: asyncpg.Connection[Any]) -> dict[int, str]:
    await conn.execute(_CREATE_TABLE)
    return {row["version"]: row["name"] for row in await conn.fetch(_APPLIED)}


def _refuse_newer(applied: dict[int, str], known: list[Migration]) -> None:
    unknown = sorted(set(applied) - {item.version for item in known})
    if unknown:
        raise SchemaTooNewError(
            f"database_url: the database has schema version {max(unknown)}, newer than this "
            f"sipfleet knows ({max((m.version for m in known), default=0)}); upgrade sipfleet"
        )


async def upgrade(conn: asyncpg.Connection[Any], directory: Path = MIGRATIONS_DIR) -> list[int]:
    """Apply every missing migration; return the versions applied now."""
    known = available_migrations(directory)
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        applied = await _applied_versions(conn)
        _refuse_newer(applied, known)
        done = []
        for migration in known:
            if migration.version in applied:
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(_RECORD, migration.version, migration.name)
            done.append(migration.version)
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)


async def status(
    conn: asyncpg.Connection[Any], directory: Path = MIGRATIONS_DIR
) -> list[MigrationStatus]:
    known = available_migrations(directory)
    applied = await _applied_versions(conn)
    _refuse_newer(applied, known)
    return [
        MigrationStatus(version=m.version, name=m.name, applied=m.version in applied) for m in known
    ]
