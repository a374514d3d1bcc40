"""Custom ringtones (`ringtones`): per customer, the WAV file kept in the row.

A phone refers to one by id in `sip_phones.ringer->>'tone'` (002 `ringer.tone`); the phone
service reads the ringtone `FOR SHARE` while it saves the phone and a delete takes it
`FOR UPDATE` and counts the phones using it, so a ringtone in use is never deleted from
under a phone that is being saved. Deleting one notifies `sipfleet_prov` (the file
server's cached records join the ringtone; migration of the table).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg


@dataclass(frozen=True, slots=True, kw_only=True)
class Ringtone:
    """A ringtone's description (its content is read on its own: `ringtone_content`)."""

    id: str
    customer_id: str
    name: str
    format: str
    duration_ms: int
    size: int
    sha256: str
    created: datetime


_COLUMNS = "id, customer_id, name, format, duration_ms, size, sha256, created"
_INSERT = f"""
INSERT INTO ringtones (customer_id, name, format, duration_ms, size, sha256, content)
VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {_COLUMNS}
"""
_BY_ID = f"SELECT {_COLUMNS} FROM ringtones WHERE id = $1"
_BY_ID_SHARE = _BY_ID + " FOR SHARE"
_BY_ID_UPDATE = _BY_ID + " FOR UPDATE"
_LIST = f"""
SELECT {_COLUMNS} FROM ringtones
WHERE ($1::text[] IS NULL OR customer_id = ANY($1::text[]))
  AND ($2::text IS NULL OR customer_id = $2) AND ($3::text IS NULL OR id > $3)
ORDER BY id LIMIT $4
"""
_CONTENT = "SELECT content FROM ringtones WHERE id = $1 AND customer_id = $2"
# the second clause is the partial index's predicate (migration 0014), so the index serves it
_USERS = """
SELECT count(*) FROM sip_phones
WHERE ringer->>'tone' = $1 AND ringer->>'tone' ~ '^[0-9a-f]{24}$'
"""
_DELETE = "DELETE FROM ringtones WHERE id = $1"


def _ringtone(row: asyncpg.Record) -> Ringtone:
    return Ringtone(**dict(row))


async def insert_ringtone(
    conn: asyncpg.Connection[Any],
    *,
    customer_id: str,
    name: str,
    format: str,
    duration_ms: int,
    sha256: str,
    content: bytes,
) -> Ringtone:
    row = await conn.fetchrow(
        _INSERT, customer_id, name, format, duration_ms, len(content), sha256, content
    )
    assert row is not None
    return _ringtone(row)


async def ringtone_by_id(
    conn: asyncpg.Connection[Any], ringtone_id: str, *, lock: str | None = None
) -> Ringtone | None:
    """`lock`: None, "share" (a phone being saved uses it) or "update" (to delete it)."""
    query = {None: _BY_ID, "share": _BY_ID_SHARE, "update": _BY_ID_UPDATE}[lock]
    row = await conn.fetchrow(query, ringtone_id)
    return None if row is None else _ringtone(row)


async def list_ringtones(
    conn: asyncpg.Connection[Any],
    scope: list[str] | None,
    *,
    customer_id: str | None = None,
    after: str | None = None,
    limit: int = 100,
) -> list[Ringtone]:
    rows = await conn.fetch(_LIST, scope, customer_id, after, limit)
    return [_ringtone(row) for row in rows]


async def ringtone_content(
    conn: asyncpg.Connection[Any], ringtone_id: str, customer_id: str
) -> bytes | None:
    """The WAV file of a ringtone of this customer; None for another customer's."""
    value = await conn.fetchval(_CONTENT, ringtone_id, customer_id)
    return None if value is None else bytes(value)


async def phones_using(conn: asyncpg.Connection[Any], ringtone_id: str) -> int:
    return int(await conn.fetchval(_USERS, ringtone_id))


async def delete_ringtone(conn: asyncpg.Connection[Any], ringtone_id: str) -> bool:
    return str(await conn.execute(_DELETE, ringtone_id)) == "DELETE 1"
