"""The SQL of change barriers: who holds phone state in memory, and the two channels.

Every process that keeps phone state in memory (the SIP directory, the file server's
records) listens on `sipfleet_phones`/`sipfleet_prov` and on `SYNC_CHANNEL`, and marks
its listening connection with an `application_name` starting with `MEMBER_PREFIX`, so
that a writer can list every such member on every node sharing the database from
`pg_stat_activity`. PostgreSQL delivers notifications to each listener in commit order:
a barrier request sent after a change committed reaches every member after that change.
"""

from __future__ import annotations

from typing import Any

import asyncpg

SYNC_CHANNEL = "sipfleet_sync"
SYNC_ACK_CHANNEL = "sipfleet_sync_ack"
MEMBER_PREFIX = "sipfleet-sync "

_MEMBERS = """
SELECT application_name FROM pg_stat_activity
WHERE datname = current_database() AND application_name LIKE 'sipfleet-sync %'
"""


async def join(conn: asyncpg.Connection[Any], member: str) -> None:
    """Mark `conn` (already listening on `SYNC_CHANNEL`) as member `member`. A pool
    resets the name when the connection is released."""
    await conn.execute("SELECT set_config('application_name', $1, false)", MEMBER_PREFIX + member)


async def members(conn: asyncpg.Connection[Any]) -> set[str]:
    """The members connected now, on every node of this database."""
    return {row[0][len(MEMBER_PREFIX) :] for row in await conn.fetch(_MEMBERS)}


async def request(conn: asyncpg.Connection[Any], token: str) -> None:
    await conn.execute("SELECT pg_notify($1, $2)", SYNC_CHANNEL, token)


async def acknowledge(conn: asyncpg.Connection[Any], member: str, tokens: list[str]) -> None:
    """`member` has applied every change committed before these barrier requests."""
    await conn.execute("SELECT pg_notify($1, $2)", SYNC_ACK_CHANNEL, f"{member} {' '.join(tokens)}")
