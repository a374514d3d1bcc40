"""Presence state per extension, its publications (RFC 3903), and the look-ups the
presence service needs (extensions by number, whether an extension has a binding).

Ordering: `lock_state` takes the extension's row lock (creating the row on first use) and
`store_state` bumps its sequence in the same transaction and notifies
`sipfleet_presence` with `<extension id>:<seq>` after commit. Callers own the transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

PRESENCE_CHANNEL = "sipfleet_presence"


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredState:
    extension_id: str
    seq: int
    state: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class ExtensionRef:
    id: str
    customer_id: str
    number: str
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Publication:
    etag: str
    extension_id: str
    event: str
    phone_id: str | None
    document: dict[str, Any]
    expires_at: datetime


# One round trip: create the row on first use, and lock it either way (an upsert that
# updates takes the row lock until the transaction ends).
_LOCK = """
INSERT INTO presence_state (extension_id) VALUES ($1)
ON CONFLICT (extension_id) DO UPDATE SET extension_id = EXCLUDED.extension_id
RETURNING extension_id, seq, state
"""
# Compare-and-set in one statement (autocommit): store only if nobody stored since `seq`.
_STORE_IF_SEQ = f"""
WITH stored AS (
    UPDATE presence_state SET seq = seq + 1, state = $2, updated = now()
    WHERE extension_id = $1 AND seq = $3 RETURNING extension_id, seq
)
SELECT stored.seq, pg_notify('{PRESENCE_CHANNEL}', stored.extension_id || ':' || stored.seq)
FROM stored
"""
_LOAD = "SELECT extension_id, seq, state FROM presence_state WHERE extension_id = $1"
_STORE = f"""
WITH stored AS (
    UPDATE presence_state SET seq = seq + 1, state = $2, updated = now()
    WHERE extension_id = $1 RETURNING extension_id, seq
)
SELECT stored.seq, pg_notify('{PRESENCE_CHANNEL}', stored.extension_id || ':' || stored.seq)
FROM stored
"""
_ONLINE = """
SELECT EXISTS (
    SELECT 1 FROM bindings b JOIN sip_phones p ON p.id = b.phone_id
    WHERE p.extension_id = $1 AND b.expires_at > now() AND NOT b.unreachable
      AND ($2::text IS NULL OR p.id <> $2)
)
"""
# Batched forms for the registrar's binding changes (a boot storm brings hundreds a
# second): one statement each for a whole batch. Rows are locked in extension id order,
# so two workers' batches over the same extensions cannot deadlock.
_LOCK_MANY = """
INSERT INTO presence_state (extension_id)
SELECT id FROM unnest($1::text[]) AS v(id) ORDER BY id
ON CONFLICT (extension_id) DO UPDATE SET extension_id = EXCLUDED.extension_id
RETURNING extension_id, seq, state
"""
_ONLINE_MANY = """
SELECT v.extension_id, EXISTS (
    SELECT 1 FROM bindings b JOIN sip_phones p ON p.id = b.phone_id
    WHERE p.extension_id = v.extension_id AND b.expires_at > now() AND NOT b.unreachable
      AND (v.except_phone IS NULL OR p.id <> v.except_phone)
) AS online
FROM unnest($1::text[], $2::text[]) AS v(extension_id, except_phone)
"""
_STORE_MANY = f"""
WITH stored AS (
    UPDATE presence_state s SET seq = s.seq + 1, state = v.state::jsonb, updated = now()
    FROM unnest($1::text[], $2::text[]) AS v(extension_id, state)
    WHERE s.extension_id = v.extension_id RETURNING s.extension_id, s.seq
)
SELECT stored.extension_id, stored.seq,
       pg_notify('{PRESENCE_CHANNEL}', stored.extension_id || ':' || stored.seq)
FROM stored
"""
_EXT_COLUMNS = "e.id, e.customer_id, e.number, e.name"
_BY_NUMBER = f"""
SELECT {_EXT_COLUMNS} FROM extensions e JOIN customers c ON c.id = e.customer_id
WHERE e.number = $1 AND ($2::text[] IS NULL OR e.customer_id = ANY($2::text[]))
ORDER BY e.customer_id
"""
_BY_ID = f"SELECT {_EXT_COLUMNS} FROM extensions e WHERE e.id = $1"
# (phone, extension or NULL) pairs -> the extension: the given one, else the phone's
_OF_BINDINGS = f"""
SELECT v.ord, {_EXT_COLUMNS}
FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS v(phone_id, extension_id, ord)
LEFT JOIN sip_phones p ON v.extension_id IS NULL AND p.id = v.phone_id
JOIN extensions e ON e.id = coalesce(v.extension_id, p.extension_id)
"""
_PUB_COLUMNS = "etag, extension_id, event, phone_id, document, expires_at"
_PUB_INSERT = f"""
INSERT INTO presence_publications (etag, extension_id, event, phone_id, document, expires_at)
VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_PUB_COLUMNS}
"""
_PUB_GET = f"SELECT {_PUB_COLUMNS} FROM presence_publications WHERE etag = $1 FOR UPDATE"
_PUB_UPDATE = f"""
UPDATE presence_publications SET etag = $2, document = $3, expires_at = $4
WHERE etag = $1 RETURNING {_PUB_COLUMNS}
"""
_PUB_DELETE = f"DELETE FROM presence_publications WHERE etag = $1 RETURNING {_PUB_COLUMNS}"
_PUB_EXPIRED = f"""
DELETE FROM presence_publications WHERE etag IN (
    SELECT etag FROM presence_publications WHERE expires_at <= now()
    ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED
) RETURNING {_PUB_COLUMNS}
"""
_PUB_LIVE = f"""
SELECT {_PUB_COLUMNS} FROM presence_publications
WHERE extension_id = $1 AND event = $2 AND expires_at > now() ORDER BY expires_at DESC
"""


def _stored(row: asyncpg.Record) -> StoredState:
    return StoredState(extension_id=row["extension_id"], seq=row["seq"], state=row["state"])


def _ext(row: asyncpg.Record) -> ExtensionRef:
    return ExtensionRef(
        id=row["id"], customer_id=row["customer_id"], number=row["number"], name=row["name"]
    )


def _pub(row: asyncpg.Record) -> Publication:
    return Publication(**dict(row))


async def lock_state(conn: asyncpg.Connection[Any], extension_id: str) -> StoredState:
    """The extension's state, row-locked until the caller's transaction ends."""
    row = await conn.fetchrow(_LOCK, extension_id)
    assert row is not None
    return _stored(row)


async def store_state(
    conn: asyncpg.Connection[Any], extension_id: str, state: dict[str, Any]
) -> int:
    """Store the new state with the next sequence number; returns that number."""
    row = await conn.fetchrow(_STORE, extension_id, state)
    assert row is not None
    return int(row["seq"])


async def store_state_if_seq(
    conn: asyncpg.Connection[Any], extension_id: str, state: dict[str, Any], seq: int
) -> int | None:
    """Store the new state if the stored sequence is still `seq` (one round trip, no
    explicit transaction); the new sequence number, or None when another writer won."""
    row = await conn.fetchrow(_STORE_IF_SEQ, extension_id, state, seq)
    return None if row is None else int(row["seq"])


async def load_state(conn: asyncpg.Connection[Any], extension_id: str) -> StoredState | None:
    row = await conn.fetchrow(_LOAD, extension_id)
    return None if row is None else _stored(row)


async def extension_online(
    conn: asyncpg.Connection[Any], extension_id: str, *, except_phone: str | None = None
) -> bool:
    """True when any phone of the extension (but `except_phone`) has a live binding."""
    return bool(await conn.fetchval(_ONLINE, extension_id, except_phone))


async def lock_states(
    conn: asyncpg.Connection[Any], extension_ids: list[str]
) -> dict[str, StoredState]:
    """`lock_state` for many extensions in one statement (rows created on first use),
    locked in id order."""
    rows = await conn.fetch(_LOCK_MANY, extension_ids)
    return {row["extension_id"]: _stored(row) for row in rows}


async def extensions_online_except(
    conn: asyncpg.Connection[Any], pairs: Sequence[tuple[str, str | None]]
) -> dict[str, bool]:
    """`extension_online` for many (extension, phone to leave out) pairs at once."""
    rows = await conn.fetch(_ONLINE_MANY, [p[0] for p in pairs], [p[1] for p in pairs])
    return {row["extension_id"]: bool(row["online"]) for row in rows}


async def store_states(
    conn: asyncpg.Connection[Any], states: dict[str, dict[str, Any]]
) -> dict[str, int]:
    """`store_state` for many extensions in one statement; their new sequence numbers."""
    ids = list(states)
    rows = await conn.fetch(_STORE_MANY, ids, [json.dumps(states[i]) for i in ids])
    return {row["extension_id"]: int(row["seq"]) for row in rows}


async def extensions_of_bindings(
    conn: asyncpg.Connection[Any], changes: list[tuple[str, str | None]]
) -> list[ExtensionRef | None]:
    """For each (phone id, extension id or None) pair, in order: the extension (the
    phone's own when none is given), None for a phone without one."""
    rows = await conn.fetch(_OF_BINDINGS, [c[0] for c in changes], [c[1] for c in changes])
    found: list[ExtensionRef | None] = [None] * len(changes)
    for row in rows:
        found[row["ord"] - 1] = _ext(row)
    return found


async def extensions_by_number(
    conn: asyncpg.Connection[Any], number: str, customer_ids: list[str] | None
) -> list[ExtensionRef]:
    """Extensions with this number among the customers (None: all customers)."""
    return [_ext(row) for row in await conn.fetch(_BY_NUMBER, number, customer_ids)]


async def extension_by_id(conn: asyncpg.Connection[Any], extension_id: str) -> ExtensionRef | None:
    row = await conn.fetchrow(_BY_ID, extension_id)
    return None if row is None else _ext(row)


async def insert_publication(
    conn: asyncpg.Connection[Any],
    *,
    etag: str,
    extension_id: str,
    event: str,
    phone_id: str | None,
    document: dict[str, Any],
    expires_at: datetime,
) -> Publication:
    row = await conn.fetchrow(
        _PUB_INSERT, etag, extension_id, event, phone_id, document, expires_at
    )
    assert row is not None
    return _pub(row)


async def lock_publication(conn: asyncpg.Connection[Any], etag: str) -> Publication | None:
    row = await conn.fetchrow(_PUB_GET, etag)
    return None if row is None else _pub(row)


async def update_publication(
    conn: asyncpg.Connection[Any],
    etag: str,
    *,
    new_etag: str,
    document: dict[str, Any],
    expires_at: datetime,
) -> Publication | None:
    """RFC 3903 §6 refresh/modify: a new entity tag for every accepted PUBLISH."""
    row = await conn.fetchrow(_PUB_UPDATE, etag, new_etag, document, expires_at)
    return None if row is None else _pub(row)


async def delete_publication(conn: asyncpg.Connection[Any], etag: str) -> Publication | None:
    row = await conn.fetchrow(_PUB_DELETE, etag)
    return None if row is None else _pub(row)


async def take_expired_publications(
    conn: asyncpg.Connection[Any], limit: int = 500
) -> list[Publication]:
    """Remove and return expired publications (each node may sweep; SKIP LOCKED)."""
    return [_pub(row) for row in await conn.fetch(_PUB_EXPIRED, limit)]


async def live_publications(
    conn: asyncpg.Connection[Any], extension_id: str, event: str
) -> list[Publication]:
    return [_pub(row) for row in await conn.fetch(_PUB_LIVE, extension_id, event)]
