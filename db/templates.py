"""Custom provisioning templates (`/api/templates/phones`).

A custom template overrides the built-in template of the same file name. Every write
notifies `sipfleet_templates` in the same transaction, so every node's file server drops
its cached copy once the change is committed (several nodes may share one database).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

TEMPLATES_CHANNEL = "sipfleet_templates"


@dataclass(frozen=True, slots=True, kw_only=True)
class CustomTemplate:
    filename: str
    content: str
    created: datetime
    updated: datetime


_COLUMNS = "filename, content, created, updated"
_LIST = f"SELECT {_COLUMNS} FROM phone_templates ORDER BY filename"
_GET = f"SELECT {_COLUMNS} FROM phone_templates WHERE filename = $1"
_INSERT = f"""
WITH written AS (
    INSERT INTO phone_templates (filename, content) VALUES ($1, $2)
    ON CONFLICT (filename) DO NOTHING
    RETURNING {_COLUMNS}
)
SELECT written.*, pg_notify('{TEMPLATES_CHANNEL}', written.filename) FROM written
"""
_UPDATE = f"""
WITH written AS (
    UPDATE phone_templates SET content = $2, updated = now() WHERE filename = $1
    RETURNING {_COLUMNS}
)
SELECT written.*, pg_notify('{TEMPLATES_CHANNEL}', written.filename) FROM written
"""
_DELETE = f"""
WITH gone AS (DELETE FROM phone_templates WHERE filename = $1 RETURNING filename)
SELECT pg_notify('{TEMPLATES_CHANNEL}', gone.filename) FROM gone
"""


def _template(row: asyncpg.Record) -> CustomTemplate:
    return CustomTemplate(
        filename=row["filename"],
        content=row["content"],
        created=row["created"],
        updated=row["updated"],
    )


async def list_templates(conn: asyncpg.Connection[Any]) -> list[CustomTemplate]:
    return [_template(row) for row in await conn.fetch(_LIST)]


async def get_template(conn: asyncpg.Connection[Any], filename: str) -> CustomTemplate | None:
    row = await conn.fetchrow(_GET, filename)
    return None if row is None else _template(row)


async def insert_template(
    conn: asyncpg.Connection[Any], filename: str, content: str
) -> CustomTemplate | None:
    """The new template, or None when one of that name exists already."""
    row = await conn.fetchrow(_INSERT, filename, content)
    return None if row is None else _template(row)


async def update_template(
    conn: asyncpg.Connection[Any], filename: str, content: str
) -> CustomTemplate | None:
    """The updated template, or None when there is no custom template of that name."""
    row = await conn.fetchrow(_UPDATE, filename, content)
    return None if row is None else _template(row)


async def delete_template(conn: asyncpg.Connection[Any], filename: str) -> bool:
    return len(await conn.fetch(_DELETE, filename)) == 1
