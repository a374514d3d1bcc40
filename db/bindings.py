"""Registrar bindings (RFC 3261 §10.3) in PostgreSQL: the durable side of the location
service.

The registrar answers 200 only after its binding changes are committed; it groups the
changes of many concurrent REGISTERs into one transaction, so the writes here take whole
batches (arrays through `unnest`, one statement per batch and kind). Callers own the
transaction.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import asyncpg

from db.phone_status import (
    EventWrite,
    StatusWrite,
    event_columns,
    events_cte,
    status_columns,
    status_refresh_columns,
    status_refresh_cte,
    statuses_cte,
)

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredBinding:
    phone_id: str
    contact: str
    call_id: str
    cseq: int
    expires_at: datetime
    q: float | None
    transport: str
    source_ip: str
    source_port: int
    local_ip: str | None
    user_agent: str | None
    instance_id: str | None
    reg_id: int | None
    node: str | None
    unreachable: bool = False
    path: str | None = None  # RFC 3327 Path values as one Route value (via an edge proxy)


_COLUMNS = (
    "phone_id, contact, call_id, cseq, expires_at, q, transport, source_ip, source_port, "
    "local_ip, user_agent, instance_id, reg_id, node, unreachable, path"
)
_UPDATE_ALL = """
    call_id = EXCLUDED.call_id, cseq = EXCLUDED.cseq, expires_at = EXCLUDED.expires_at,
    q = EXCLUDED.q, transport = EXCLUDED.transport, source_ip = EXCLUDED.source_ip,
    source_port = EXCLUDED.source_port, local_ip = EXCLUDED.local_ip,
    user_agent = EXCLUDED.user_agent, instance_id = EXCLUDED.instance_id,
    reg_id = EXCLUDED.reg_id, node = EXCLUDED.node, unreachable = EXCLUDED.unreachable,
    path = EXCLUDED.path, shape = EXCLUDED.shape, updated = now()"""
_LOAD = f"""
SELECT {_COLUMNS} FROM bindings
WHERE expires_at > now() AND (node = $1 OR node IS NULL OR $1::text IS NULL)
ORDER BY phone_id, contact
"""
_LOAD_PHONE = f"SELECT {_COLUMNS} FROM bindings WHERE phone_id = $1 AND expires_at > now()"
_UPSERT = f"""
INSERT INTO bindings ({_COLUMNS}, updated)
SELECT b.*, now() FROM unnest(
    $1::text[], $2::text[], $3::text[], $4::int[], $5::timestamptz[], $6::real[], $7::text[],
    $8::text[], $9::int[], $10::text[], $11::text[], $12::text[], $13::int[], $14::text[],
    $15::bool[], $16::text[]) AS b(phone_id, contact, call_id, cseq, expires_at, q, transport,
        source_ip, source_port, local_ip, user_agent, instance_id, reg_id, node, unreachable,
        path)
WHERE EXISTS (SELECT 1 FROM sip_phones p WHERE p.id = b.phone_id)
ON CONFLICT (phone_id, contact) DO UPDATE SET {_UPDATE_ALL}
"""
_DELETE_PHONE = "DELETE FROM bindings WHERE phone_id = $1"
_DELETE_ORPHANS = f"""
DELETE FROM bindings WHERE expires_at <= $1 RETURNING {_COLUMNS}
"""
_SET_UNREACHABLE = """
UPDATE bindings SET unreachable = $3, shape = NULL, updated = now()
WHERE phone_id = $1 AND contact = $2
"""


def _binding(row: asyncpg.Record) -> StoredBinding:
    return StoredBinding(**dict(row))


async def load_bindings(
    conn: asyncpg.Connection[Any], node: str | None = None
) -> list[StoredBinding]:
    """Unexpired bindings held by `node` (or every one when None): the start-up load after
    a restart or crash. Bindings of other nodes stay theirs (their flows are there)."""
    return [_binding(row) for row in await conn.fetch(_LOAD, node)]


async def load_binding_pages(
    conn: asyncpg.Connection[Any], node: str | None = None, *, page: int = 5000
) -> AsyncIterator[list[StoredBinding]]:
    """`load_bindings` a page at a time (a server-side cursor in a read-only transaction):
    100,000 rows fetched at once would leave the process's memory fragmented for good."""
    async with conn.transaction(readonly=True):
        cursor = await conn.cursor(_LOAD, node)
        while rows := await cursor.fetch(page):
            yield [_binding(row) for row in rows]


async def phone_bindings(conn: asyncpg.Connection[Any], phone_id: str) -> list[StoredBinding]:
    return [_binding(row) for row in await conn.fetch(_LOAD_PHONE, phone_id)]


async def upsert_bindings(conn: asyncpg.Connection[Any], items: Sequence[StoredBinding]) -> None:
    """Insert or replace bindings; those of phones deleted meanwhile are skipped."""
    if not items:
        return
    columns = _binding_columns(items)
    await conn.execute(_UPSERT, *columns)


async def delete_phone_bindings(conn: asyncpg.Connection[Any], phone_id: str) -> int:
    result = await conn.execute(_DELETE_PHONE, phone_id)
    return int(result.split()[-1])


async def delete_expired_bindings(
    conn: asyncpg.Connection[Any], before: datetime
) -> list[StoredBinding]:
    """Remove every binding (any node's) that expired at or before `before`; returns them.

    The safety net for bindings whose node is gone: each node expires its own in memory,
    and a periodic sweep with a grace period removes what no node did."""
    return [_binding(row) for row in await conn.fetch(_DELETE_ORPHANS, before)]


async def set_unreachable(
    conn: asyncpg.Connection[Any], phone_id: str, contact: str, unreachable: bool
) -> None:
    await conn.execute(_SET_UNREACHABLE, phone_id, contact, unreachable)


# --- one statement per batch ----------------------------------------------------------
# The registrar's group commit writes a whole batch — removals, expiries, upserts, the
# phones' status and the events — as ONE statement of data-modifying CTEs. Outside an
# explicit transaction a single statement is its own transaction: one round trip, one
# commit, no BEGIN/COMMIT messages, and asyncpg keeps it prepared on the writer's
# connection (one text per combination of parts present, so a handful in all). Every part
# touches distinct rows (the writer folds a batch to one final state per binding and per
# phone), which is what CTEs of one statement need: they all see the same snapshot.


def _removal_cte(name: str, first: int, by_node: bool) -> str:
    node = f"AND b.node IS NOT DISTINCT FROM ${first + 2}::text" if by_node else ""
    return f"""{name} AS (
    DELETE FROM bindings b USING unnest(${first}::text[], ${first + 1}::text[]) AS k(phone_id, contact)
    WHERE b.phone_id = k.phone_id AND b.contact = k.contact {node}
)"""  # noqa: E501


_UPSERT_TYPES = (
    "text", "text", "text", "int", "timestamptz", "real", "text", "text", "int", "text", "text",
    "text", "int", "text", "bool", "text",
)  # fmt: skip


def _upsert_cte(first: int) -> str:
    params = ", ".join(f"${first + i}::{kind}[]" for i, kind in enumerate(_UPSERT_TYPES))
    return f"""upserted AS (
INSERT INTO bindings ({_COLUMNS}, shape, updated)
SELECT b.*, now() FROM unnest({params}, ${first + 16}::bigint[]) AS b({_COLUMNS}, shape)
WHERE EXISTS (SELECT 1 FROM sip_phones p WHERE p.id = b.phone_id)
ON CONFLICT (phone_id, contact) DO UPDATE SET {_UPDATE_ALL}
)"""


def _refresh_cte(first: int) -> str:
    """Move Call-ID, CSeq and expiry of rows whose other columns are as this writer left
    them (same shape); returns the positions it updated — the others need a whole-row
    write. The Call-ID is written, not matched: a phone should keep it across refreshes,
    but many (and SIPp) start a new one for each."""
    return f"""refreshed AS (
UPDATE bindings b
SET call_id = k.call_id, cseq = k.cseq, expires_at = k.expires_at, updated = now()
FROM unnest(${first}::text[], ${first + 1}::text[], ${first + 2}::text[], ${first + 3}::int[],
            ${first + 4}::timestamptz[], ${first + 5}::bigint[])
    WITH ORDINALITY AS k(phone_id, contact, call_id, cseq, expires_at, shape, n)
WHERE b.phone_id = k.phone_id AND b.contact = k.contact AND b.shape = k.shape
RETURNING k.n
)"""


def shape_of(item: StoredBinding) -> int:
    """A hash of every column but call_id, cseq and expires_at (a signed 64-bit int, as bigint
    takes it). Python's string hash is seeded per process: after a restart no row
    matches and each binding's first refresh is a whole-row write — correct, just not
    narrow."""
    return hash(
        (item.phone_id, item.contact, item.q, item.transport, item.source_ip,
         item.source_port, item.local_ip, item.user_agent, item.instance_id, item.reg_id,
         item.node, item.unreachable, item.path)
    )  # fmt: skip


@functools.cache
def _batch_sql(parts: tuple[bool, bool, bool, bool, bool, bool, bool]) -> str:
    """The statement for the parts present (removals, expiries, refreshes, upserts,
    status refreshes, statuses, events), parameters in that order. It returns the events
    notified and the 1-based positions of the binding and status refreshes it made."""
    ctes: list[str] = []
    first = 1
    removals, expired, refreshes, upserts, status_refreshes, statuses, events = parts
    if removals:
        ctes.append(_removal_cte("removed", first, by_node=False))
        first += 2
    if expired:
        ctes.append(_removal_cte("expired", first, by_node=True))
        first += 3
    if refreshes:
        ctes.append(_refresh_cte(first))
        first += 6
    if upserts:
        ctes.append(_upsert_cte(first))
        first += 17
    if status_refreshes:
        ctes.append(status_refresh_cte(first))
        first += 3
    if statuses:
        ctes.append(statuses_cte(first))
        first += 9
    if events:
        ctes.append(events_cte(first))
        first += 4
    notify = (
        "(SELECT count(pg_notify('sipfleet_events', inserted.id::text)) FROM inserted)"
        if events
        else "0"
    )
    done = "ARRAY(SELECT n FROM refreshed)" if refreshes else "NULL::bigint[]"
    status_done = "ARRAY(SELECT n FROM status_refreshed)" if status_refreshes else "NULL::bigint[]"
    return "WITH " + ",\n".join(ctes) + f"\nSELECT {notify}, {done}, {status_done}"


def _binding_columns(items: Sequence[StoredBinding]) -> list[list[Any]]:
    columns: list[list[Any]] = [[] for _ in range(16)]
    for item in items:
        values = (
            item.phone_id,
            item.contact,
            item.call_id,
            item.cseq,
            item.expires_at,
            item.q,
            item.transport,
            item.source_ip,
            item.source_port,
            item.local_ip,
            item.user_agent,
            item.instance_id,
            item.reg_id,
            item.node,
            item.unreachable,
            item.path,
        )
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    return columns


@dataclass(frozen=True, slots=True)
class Missed:
    """The refreshes `write_batch` could not make: write them whole."""

    bindings: list[StoredBinding]
    statuses: list[StatusWrite]

    def __bool__(self) -> bool:
        return bool(self.bindings or self.statuses)


def _missed(items: Sequence[_T], done: list[int] | None) -> list[_T]:
    if not items or done is None or len(done) == len(items):
        return []
    made = set(done)
    return [item for n, item in enumerate(items, 1) if n not in made]


async def write_batch(
    conn: asyncpg.Connection[Any],
    *,
    removals: Sequence[tuple[str, str]] = (),
    expired: Sequence[tuple[str, str]] = (),
    node: str | None = None,
    refreshes: Sequence[StoredBinding] = (),
    upserts: Sequence[StoredBinding] = (),
    status_refreshes: Sequence[StatusWrite] = (),
    statuses: Sequence[StatusWrite] = (),
    events: Sequence[EventWrite] = (),
) -> Missed:
    """Write one folded batch in a single statement (atomic on its own; also fine inside
    a transaction the caller holds). Returns the refreshes it could not make.

    `removals` are deleted whoever holds them; `expired` only if `node` still holds them
    (any holder when `node` is None); `upserts` replace whole rows (phones deleted
    meanwhile are skipped); `refreshes` are upserts expected to differ from the stored
    row in cseq and expiry only: written narrowly when the row's shape says so, returned
    otherwise (moved, deleted, written by someone else) for the caller to write as
    upserts. `statuses` and `events` as `upsert_statuses` and `append_events` write them;
    `status_refreshes` are statuses that move the expiry only (`status_shape` not None),
    returned when the row is not as this writer left it. The keys of removals, expired,
    refreshes and upserts are distinct, and so are the phones of both status lists.
    """
    parts = (
        bool(removals), bool(expired), bool(refreshes), bool(upserts),
        bool(status_refreshes), bool(statuses), bool(events),
    )  # fmt: skip
    if not any(parts):
        return Missed([], [])
    args: list[Any] = []
    if removals:
        args += [[key[0] for key in removals], [key[1] for key in removals]]
    if expired:
        args += [[key[0] for key in expired], [key[1] for key in expired], node]
    if refreshes:
        args += [
            [item.phone_id for item in refreshes],
            [item.contact for item in refreshes],
            [item.call_id for item in refreshes],
            [item.cseq for item in refreshes],
            [item.expires_at for item in refreshes],
            [shape_of(item) for item in refreshes],
        ]
    if upserts:
        args += _binding_columns(upserts)
        args.append([shape_of(item) for item in upserts])
    if status_refreshes:
        args += status_refresh_columns(status_refreshes)
    if statuses:
        args += status_columns(statuses)
    if events:
        args += event_columns(events)
    row = await conn.fetchrow(_batch_sql(parts), *args)
    assert row is not None
    return Missed(_missed(refreshes, row[1]), _missed(status_refreshes, row[2]))
