"""The reference's `status` block of a phone, kept current by the registrar.

One row per phone in `phone_status`; `upsert_status` writes every registrar field at once
so the row always describes one consistent registration state. `config_loaded` and
`config_saved` live on `sip_phones` and belong to the provisioning file server.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg


@dataclass(frozen=True, slots=True, kw_only=True)
class PhoneStatus:
    phone_id: str
    online: bool
    expires_at: datetime | None
    local_ip: str | None
    public_ip: str | None
    user_agent: str | None
    transport: str | None
    unreachable: bool
    updated: datetime


_COLUMNS = (
    "phone_id, online, expires_at, local_ip, public_ip, user_agent, transport, unreachable, updated"
)
_UPSERT = """
INSERT INTO phone_status
    (phone_id, online, expires_at, local_ip, public_ip, user_agent, transport, unreachable,
     updated)
SELECT $1, $2, $3, $4, $5, $6, $7, $8, now()
WHERE EXISTS (SELECT 1 FROM sip_phones WHERE id = $1)
ON CONFLICT (phone_id) DO UPDATE SET
    online = EXCLUDED.online, expires_at = EXCLUDED.expires_at,
    local_ip = coalesce(EXCLUDED.local_ip, phone_status.local_ip),
    public_ip = coalesce(EXCLUDED.public_ip, phone_status.public_ip),
    user_agent = coalesce(EXCLUDED.user_agent, phone_status.user_agent),
    transport = coalesce(EXCLUDED.transport, phone_status.transport),
    unreachable = EXCLUDED.unreachable, shape = NULL, updated = now()
"""
_GET = f"SELECT {_COLUMNS} FROM phone_status WHERE phone_id = $1"
_OFFLINE_ALL = """
UPDATE phone_status SET online = false, expires_at = NULL, shape = NULL, updated = now()
WHERE online AND NOT EXISTS (SELECT 1 FROM bindings b WHERE b.phone_id = phone_status.phone_id)
"""


async def upsert_status(
    conn: asyncpg.Connection[Any],
    *,
    phone_id: str,
    online: bool,
    expires_at: datetime | None,
    local_ip: str | None,
    public_ip: str | None,
    user_agent: str | None,
    transport: str | None,
    unreachable: bool = False,
) -> None:
    """Write the registrar's fields; None keeps the last known address/agent/transport.

    A phone deleted meanwhile is skipped (no row is created for it).
    """
    await conn.execute(
        _UPSERT,
        phone_id,
        online,
        expires_at,
        local_ip,
        public_ip,
        user_agent,
        transport,
        unreachable,
    )


async def phone_status(conn: asyncpg.Connection[Any], phone_id: str) -> PhoneStatus | None:
    row = await conn.fetchrow(_GET, phone_id)
    return None if row is None else PhoneStatus(**dict(row))


_OFFLINE_PHONES = """
UPDATE phone_status
SET online = false, expires_at = NULL, unreachable = false, shape = NULL, updated = now()
WHERE phone_id = ANY($1::text[]) AND online
  AND NOT EXISTS (SELECT 1 FROM bindings b WHERE b.phone_id = phone_status.phone_id)
"""


async def offline_if_unbound(conn: asyncpg.Connection[Any], phone_ids: list[str]) -> None:
    """These phones lost bindings: offline unless some binding of theirs is left."""
    await conn.execute(_OFFLINE_PHONES, phone_ids)


async def offline_without_bindings(conn: asyncpg.Connection[Any]) -> int:
    """At start: phones marked online that have no binding left are offline."""
    result = await conn.execute(_OFFLINE_ALL)
    return int(result.split()[-1])


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusWrite:
    """One phone's registrar status, as `upsert_statuses` writes it in a batch."""

    phone_id: str
    online: bool
    expires_at: datetime | None
    local_ip: str | None
    public_ip: str | None
    user_agent: str | None
    transport: str | None
    unreachable: bool = False


_UPSERT_MANY = """
INSERT INTO phone_status
    (phone_id, online, expires_at, local_ip, public_ip, user_agent, transport, unreachable,
     shape, updated)
SELECT s.*, now() FROM unnest(
    $1::text[], $2::bool[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], $7::text[],
    $8::bool[], $9::bigint[]) AS s(phone_id, online, expires_at, local_ip, public_ip,
        user_agent, transport, unreachable, shape)
WHERE EXISTS (SELECT 1 FROM sip_phones p WHERE p.id = s.phone_id)
ON CONFLICT (phone_id) DO UPDATE SET
    online = EXCLUDED.online, expires_at = EXCLUDED.expires_at,
    local_ip = coalesce(EXCLUDED.local_ip, phone_status.local_ip),
    public_ip = coalesce(EXCLUDED.public_ip, phone_status.public_ip),
    user_agent = coalesce(EXCLUDED.user_agent, phone_status.user_agent),
    transport = coalesce(EXCLUDED.transport, phone_status.transport),
    unreachable = EXCLUDED.unreachable, shape = EXCLUDED.shape, updated = now()
"""


def status_shape(item: StatusWrite) -> int | None:
    """A hash of what a refresh keeps (all but the expiry), for a status that leaves
    nothing to coalesce — online, reachable, every address known — else None: only such
    a row can be refreshed by moving its expiry alone. Seeded per process like
    db.bindings.shape_of: another process's rows never match."""
    if (
        not item.online
        or item.unreachable
        or item.local_ip is None
        or item.public_ip is None
        or item.user_agent is None
        or item.transport is None
    ):
        return None
    return hash((item.phone_id, item.local_ip, item.public_ip, item.user_agent, item.transport))


def status_refresh_cte(first: int) -> str:
    """Move the expiry of phones whose row is as this writer left it (same shape, still
    online and reachable: the offline writes clear the shape or the flag); returns the
    1-based positions it updated, the others need `statuses_cte`."""
    return f"""status_refreshed AS (
UPDATE phone_status s SET expires_at = k.expires_at, updated = now()
FROM unnest(${first}::text[], ${first + 1}::timestamptz[], ${first + 2}::bigint[])
    WITH ORDINALITY AS k(phone_id, expires_at, shape, n)
WHERE s.phone_id = k.phone_id AND s.shape = k.shape AND s.online AND NOT s.unreachable
RETURNING k.n
)"""


def status_refresh_columns(items: Sequence[StatusWrite]) -> list[list[Any]]:
    return [
        [item.phone_id for item in items],
        [item.expires_at for item in items],
        [status_shape(item) for item in items],
    ]


def status_columns(items: Sequence[StatusWrite]) -> list[list[Any]]:
    """`items` as the nine arrays `_UPSERT_MANY` and `statuses_cte` take."""
    return [
        [item.phone_id for item in items],
        [item.online for item in items],
        [item.expires_at for item in items],
        [item.local_ip for item in items],
        [item.public_ip for item in items],
        [item.user_agent for item in items],
        [item.transport for item in items],
        [item.unreachable for item in items],
        [status_shape(item) for item in items],
    ]


def statuses_cte(first: int) -> str:
    """`_UPSERT_MANY` as a CTE named `statuses` whose parameters start at `$first`, for
    db.bindings.write_batch's one statement per batch."""
    sql = _UPSERT_MANY.strip()
    for n in range(9, 0, -1):  # $9 before $1: the new numbers are never rewritten
        sql = sql.replace(f"${n}::", f"${first + n - 1}::")
    return f"statuses AS (\n{sql}\n)"


async def upsert_statuses(conn: asyncpg.Connection[Any], items: list[StatusWrite]) -> None:
    """Write several phones' status in one statement (one item per phone)."""
    if not items:
        return
    await conn.execute(_UPSERT_MANY, *status_columns(items))


# The registrar's events are appended in the same transaction as the binding changes they
# describe, a whole batch per statement; like db.events.append_event, each row is announced
# on 'sipfleet_events' so every node's event stream sees it after commit.
_APPEND_EVENTS = """
WITH inserted AS (
    INSERT INTO events (type, phone_id, customer_id, details)
    SELECT e.type, e.phone_id, e.customer_id, e.details
    FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[])
        WITH ORDINALITY AS e(type, phone_id, customer_id, details, n)
    ORDER BY e.n
    RETURNING id
)
SELECT count(pg_notify('sipfleet_events', inserted.id::text)) FROM inserted
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class EventWrite:
    type: str
    phone_id: str
    customer_id: str | None
    details: dict[str, Any]


def event_columns(items: Sequence[EventWrite]) -> list[list[Any]]:
    """`items` as the four arrays `_APPEND_EVENTS` and `events_cte` take."""
    return [
        [item.type for item in items],
        [item.phone_id for item in items],
        [item.customer_id for item in items],
        [item.details for item in items],
    ]


def events_cte(first: int) -> str:
    """The insert of `_APPEND_EVENTS` as a CTE named `inserted` whose parameters start at
    `$first`; the statement's main query must notify each id (write_batch does)."""
    sql = _APPEND_EVENTS.split("WITH inserted AS (", 1)[1].split("\n)\nSELECT", 1)[0]
    for n in range(4, 0, -1):
        sql = sql.replace(f"${n}::", f"${first + n - 1}::")
    return f"inserted AS ({sql}\n)"


async def append_events(conn: asyncpg.Connection[Any], items: list[EventWrite]) -> None:
    """Append registrar events (phone.registered, …) in order, notifying each."""
    if not items:
        return
    await conn.fetchval(_APPEND_EVENTS, *event_columns(items))
