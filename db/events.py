"""The event log behind /api/events: appended by every component, read by the stream.

Appending also sends `pg_notify('sipfleet_events', id)` in the same transaction, so every
node's event stream learns of an event once it is committed (multi-node setups).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

EVENTS_CHANNEL = "sipfleet_events"


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    id: int
    time: datetime
    type: str
    phone_id: str | None
    customer_id: str | None
    details: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "time": self.time.isoformat().replace("+00:00", "Z"),
            "phone": self.phone_id,
            "customer": self.customer_id,
            "details": self.details,
        }


_COLUMNS = "id, time, type, phone_id, customer_id, details"
_INSERT = f"""
WITH inserted AS (
    INSERT INTO events (type, phone_id, customer_id, details)
    VALUES ($1, $2, $3, $4) RETURNING {_COLUMNS}
)
SELECT inserted.*, pg_notify('{EVENTS_CHANNEL}', inserted.id::text) FROM inserted
"""
# Many events in one statement, one notification for the lot (the listeners read the log
# after their last id, so one wake-up is all they need).
_INSERT_MANY = f"""
WITH inserted AS (
    INSERT INTO events (type, phone_id, customer_id, details)
    SELECT type, phone_id, customer_id, details::jsonb
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
         AS v(type, phone_id, customer_id, details)
    RETURNING id
)
SELECT count(*) AS n, pg_notify('{EVENTS_CHANNEL}', max(id)::text) FROM inserted
"""
_AFTER = f"""
SELECT {_COLUMNS} FROM events
WHERE id > $1 AND ($2::text[] IS NULL OR customer_id = ANY($2::text[]))
ORDER BY id LIMIT $3
"""
_AFTER_BRIEF = "SELECT id, type FROM events WHERE id > $1 ORDER BY id LIMIT $2"
_LATEST = f"""
SELECT {_COLUMNS} FROM events
WHERE ($1::text[] IS NULL OR customer_id = ANY($1::text[]))
ORDER BY id DESC LIMIT $2
"""


def _event(row: asyncpg.Record) -> Event:
    return Event(
        id=row["id"],
        time=row["time"],
        type=row["type"],
        phone_id=row["phone_id"],
        customer_id=row["customer_id"],
        details=row["details"],
    )


async def append_event(
    conn: asyncpg.Connection[Any],
    event_type: str,
    *,
    phone_id: str | None = None,
    customer_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> Event:
    row = await conn.fetchrow(_INSERT, event_type, phone_id, customer_id, details or {})
    assert row is not None
    return _event(row)


async def append_events(
    conn: asyncpg.Connection[Any],
    events: list[tuple[str, str | None, str | None, dict[str, Any]]],
) -> None:
    """Append (type, phone id, customer id, details) events, in order, in one statement."""
    if events:
        await conn.execute(
            _INSERT_MANY,
            [e[0] for e in events],
            [e[1] for e in events],
            [e[2] for e in events],
            [json.dumps(e[3]) for e in events],
        )


async def events_after(
    conn: asyncpg.Connection[Any],
    after_id: int,
    customer_ids: list[str] | None,
    limit: int = 500,
) -> list[Event]:
    """Events with id > after_id, oldest first; `customer_ids=None` means all tenants."""
    return [_event(row) for row in await conn.fetch(_AFTER, after_id, customer_ids, limit)]


async def event_types_after(
    conn: asyncpg.Connection[Any], after_id: int, limit: int = 500
) -> list[tuple[int, str]]:
    """(id, type) of the events with id > after_id, oldest first: what a reader that
    only counts them needs (no details to decode)."""
    return [(row[0], row[1]) for row in await conn.fetch(_AFTER_BRIEF, after_id, limit)]


async def latest_events(
    conn: asyncpg.Connection[Any], customer_ids: list[str] | None, limit: int = 100
) -> list[Event]:
    rows = await conn.fetch(_LATEST, customer_ids, limit)
    return [_event(row) for row in reversed(rows)]
