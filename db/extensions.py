"""Extensions: a customer's numbers (`[0-9]{3,64}`, unique per customer) with a name."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg


class DuplicateNumberError(Exception):
    """The customer already has an extension with this number."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Extension:
    id: str
    customer_id: str
    number: str
    name: str
    created: datetime


_COLUMNS = "id, customer_id, number, name, created"
_INSERT = f"""
INSERT INTO extensions (customer_id, number, name) VALUES ($1, $2, $3) RETURNING {_COLUMNS}
"""
_BY_ID = f"SELECT {_COLUMNS} FROM extensions WHERE id = $1"
_BY_IDS = f"SELECT {_COLUMNS} FROM extensions WHERE id = ANY($1::text[])"
_LIST = f"""
SELECT {_COLUMNS} FROM extensions
WHERE ($1::text[] IS NULL OR customer_id = ANY($1::text[]))
  AND ($2::text IS NULL OR customer_id = $2)
  AND ($3::text IS NULL OR number = $3)
  AND ($4::text IS NULL OR id > $4)
ORDER BY id LIMIT $5
"""
_UPDATE = f"""
UPDATE extensions SET number = $2, name = $3 WHERE id = $1 RETURNING {_COLUMNS}
"""
_DELETE = "DELETE FROM extensions WHERE id = $1"


def _record(row: asyncpg.Record) -> Extension:
    return Extension(**dict(row))


async def insert_extension(
    conn: asyncpg.Connection[Any], *, customer_id: str, number: str, name: str
) -> Extension:
    """Raises DuplicateNumberError when the number is taken in that customer."""
    try:
        row = await conn.fetchrow(_INSERT, customer_id, number, name)
    except asyncpg.UniqueViolationError:
        raise DuplicateNumberError(number) from None
    assert row is not None
    return _record(row)


async def extension_by_id(conn: asyncpg.Connection[Any], extension_id: str) -> Extension | None:
    row = await conn.fetchrow(_BY_ID, extension_id)
    return None if row is None else _record(row)


async def extensions_by_ids(
    conn: asyncpg.Connection[Any], extension_ids: list[str]
) -> dict[str, Extension]:
    return {row["id"]: _record(row) for row in await conn.fetch(_BY_IDS, extension_ids)}


async def list_extensions(
    conn: asyncpg.Connection[Any],
    scope: list[str] | None,
    *,
    customer_id: str | None = None,
    number: str | None = None,
    after: str | None = None,
    limit: int = 100,
) -> list[Extension]:
    rows = await conn.fetch(_LIST, scope, customer_id, number, after, limit)
    return [_record(row) for row in rows]


async def update_extension(
    conn: asyncpg.Connection[Any], extension_id: str, *, number: str, name: str
) -> Extension | None:
    """Raises DuplicateNumberError when the new number is taken in that customer."""
    try:
        row = await conn.fetchrow(_UPDATE, extension_id, number, name)
    except asyncpg.UniqueViolationError:
        raise DuplicateNumberError(number) from None
    return None if row is None else _record(row)


async def delete_extension(conn: asyncpg.Connection[Any], extension_id: str) -> bool:
    return str(await conn.execute(_DELETE, extension_id)) == "DELETE 1"
