"""The SQL of bans shared across nodes (migration 0011): an address ignored until a time,
for a reason. Written by the node whose limit the address reached, read by every node.

Times travel as Unix seconds (floats): the limiters compare them with `time.time()`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

KEEP_AFTER_END = 86400  # seconds a row stays after its ban ended (then pruned)

_UPSERT = """
INSERT INTO bans (address, until, reason, node) VALUES ($1, to_timestamp($2), $3, $4)
ON CONFLICT (address) DO UPDATE SET
    until = GREATEST(bans.until, EXCLUDED.until), reason = EXCLUDED.reason,
    node = EXCLUDED.node, changed = clock_timestamp()
"""
_ACTIVE = """
SELECT address, extract(epoch FROM until)::float8 AS until, extract(epoch FROM now())::float8
    AS now
FROM bans WHERE until > now() ORDER BY until DESC LIMIT $1
"""
_CHANGED = """
SELECT address, extract(epoch FROM until)::float8 AS until, extract(epoch FROM now())::float8
    AS now
FROM bans WHERE changed >= to_timestamp($1) AND until > now() ORDER BY changed LIMIT $2
"""
_NOW = "SELECT extract(epoch FROM now())::float8"
_PRUNE = "DELETE FROM bans WHERE until < now() - make_interval(secs => $1)"


@dataclass(frozen=True, slots=True)
class Ban:
    address: str
    until: float  # Unix seconds


async def upsert(
    conn: asyncpg.Connection[Any], address: str, until: float, reason: str, node: str
) -> None:
    """Ban `address` until `until` (a longer ban already there is kept)."""
    await conn.execute(_UPSERT, address, until, reason, node)


async def active(conn: asyncpg.Connection[Any], limit: int) -> tuple[list[Ban], float]:
    """Bans not yet ended (the longest first, at most `limit`), and the database's time."""
    rows = await conn.fetch(_ACTIVE, limit)
    now = rows[0]["now"] if rows else await conn.fetchval(_NOW)
    return [Ban(row["address"], row["until"]) for row in rows], float(now)


async def changed_since(
    conn: asyncpg.Connection[Any], since: float, limit: int
) -> tuple[list[Ban], float]:
    """Bans not yet ended written at or after `since` (Unix seconds, the database's
    clock), oldest write first, and the database's time."""
    rows = await conn.fetch(_CHANGED, since, limit)
    now = rows[0]["now"] if rows else await conn.fetchval(_NOW)
    return [Ban(row["address"], row["until"]) for row in rows], float(now)


async def prune(conn: asyncpg.Connection[Any]) -> int:
    """Delete the rows of bans that ended more than KEEP_AFTER_END seconds ago."""
    result = await conn.execute(_PRUNE, float(KEEP_AFTER_END))
    return int(result.split()[-1])
