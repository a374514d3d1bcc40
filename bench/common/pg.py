"""A fresh database on a running PostgreSQL (the embedded one of db.embedded)."""

from __future__ import annotations

import asyncpg


async def fresh_database(admin_uri: str, name: str) -> str:
    """Drop NAME if it exists, create it; its URI (ADMIN_URI with NAME as the database)."""
    conn = await asyncpg.connect(admin_uri)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    base, _, query = admin_uri.partition("?")
    return base.rsplit("/", 1)[0] + f"/{name}" + (f"?{query}" if query else "")
