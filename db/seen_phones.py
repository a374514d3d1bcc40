"""Phones seen by the provisioning file server, by MAC (001: `/phones`).

A row is written the first time a MAC asks for a file (known or not) and updated on each
later fetch; `/api/phones` joins it with the SIP phones that carry the same MAC, so the
list holds every phone seen or known by MAC. `rejected` MACs get 403 from the file server.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg


@dataclass(frozen=True, slots=True, kw_only=True)
class Sighting:
    """One fetch as the file server saw it (no body, no credential)."""

    mac_address: str
    vendor: str | None
    model: str | None
    address: str
    user_agent: str | None
    file: str
    time: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class SeenPhone:
    """A MAC seen by provisioning and/or assigned to SIP phones."""

    mac_address: str
    vendor: str | None
    model: str | None
    address: str | None
    user_agent: str | None
    last_file: str | None
    fetch_count: int
    rejected: bool
    first_seen: datetime | None
    last_seen: datetime | None
    phone_id: str | None  # the first SIP phone with this MAC (handset 0 of a DECT base)
    customer_id: str | None
    extension_id: str | None
    model_name: str | None  # catalogue model of the assigned phone


@dataclass(frozen=True, slots=True, kw_only=True)
class Assignee:
    phone_id: str
    customer_id: str
    extension_id: str | None
    extension_number: str | None
    extension_name: str | None
    model_name: str
    handset_index: int | None


_UPSERT = """
INSERT INTO seen_phones AS s
    (mac_address, vendor, model, address, user_agent, last_file, fetch_count, first_seen, last_seen)
VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $7)
ON CONFLICT (mac_address) DO UPDATE SET
    vendor = coalesce(EXCLUDED.vendor, s.vendor),
    model = coalesce(EXCLUDED.model, s.model),
    address = EXCLUDED.address,
    user_agent = EXCLUDED.user_agent,
    last_file = EXCLUDED.last_file,
    fetch_count = s.fetch_count + 1,
    last_seen = greatest(s.last_seen, EXCLUDED.last_seen)
RETURNING (xmax = 0) AS inserted, rejected
"""
# Many sightings at once (the file server's batched writer). The rows are inserted and
# locked in MAC order (the ORDER BY feeds the insert): the batches of several worker
# processes, written at the same time, then wait for each other but never deadlock.
_UPSERT_MANY = """
INSERT INTO seen_phones AS s
    (mac_address, vendor, model, address, user_agent, last_file, fetch_count, first_seen, last_seen)
SELECT DISTINCT ON (mac) mac, vendor, model, address, ua, file, n, t, t
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
            $7::timestamptz[], $8::int[]) AS v(mac, vendor, model, address, ua, file, t, n)
ORDER BY mac, t DESC
ON CONFLICT (mac_address) DO UPDATE SET
    vendor = coalesce(EXCLUDED.vendor, s.vendor),
    model = coalesce(EXCLUDED.model, s.model),
    address = EXCLUDED.address,
    user_agent = EXCLUDED.user_agent,
    last_file = EXCLUDED.last_file,
    fetch_count = s.fetch_count + EXCLUDED.fetch_count,
    last_seen = greatest(s.last_seen, EXCLUDED.last_seen)
"""
_REJECTED = "SELECT rejected FROM seen_phones WHERE mac_address = $1"
_SET_REJECTED = """
INSERT INTO seen_phones AS s (mac_address, rejected) VALUES ($1, $2)
ON CONFLICT (mac_address) DO UPDATE SET rejected = EXCLUDED.rejected
"""
_PHONES_BY_MAC = """
SELECT DISTINCT ON (mac_address) mac_address, id, customer_id, extension_id, model_id
FROM sip_phones WHERE mac_address IS NOT NULL
ORDER BY mac_address, coalesce(handset_index, -1), id
"""
_SEEN_COLUMNS = f"""
SELECT coalesce(s.mac_address, p.mac_address) AS mac_address,
       s.vendor, s.model, s.address, s.user_agent, s.last_file,
       coalesce(s.fetch_count, 0) AS fetch_count, coalesce(s.rejected, false) AS rejected,
       s.first_seen, s.last_seen,
       p.id AS phone_id, p.customer_id, p.extension_id, m.name AS model_name
FROM seen_phones s
FULL JOIN ({_PHONES_BY_MAC}) p ON p.mac_address = s.mac_address
LEFT JOIN sip_phone_models m ON m.id = p.model_id
"""
# Tenants see the MACs of their own phones; unassigned sightings only with scope NULL.
_LIST = f"""
SELECT * FROM ({_SEEN_COLUMNS}) x
WHERE ($1::text[] IS NULL OR x.customer_id = ANY($1::text[]))
  AND ($2::text IS NULL OR x.mac_address > $2)
ORDER BY x.mac_address LIMIT $3
"""
_GET = f"""
SELECT * FROM ({_SEEN_COLUMNS}) x
WHERE x.mac_address = $1 AND ($2::text[] IS NULL OR x.customer_id = ANY($2::text[]))
"""
_ASSIGNEES = """
SELECT p.id AS phone_id, p.customer_id, p.extension_id, e.number AS extension_number,
       e.name AS extension_name, m.name AS model_name, p.handset_index
FROM sip_phones p
JOIN sip_phone_models m ON m.id = p.model_id
LEFT JOIN extensions e ON e.id = p.extension_id
WHERE p.mac_address = $1 AND ($2::text[] IS NULL OR p.customer_id = ANY($2::text[]))
ORDER BY coalesce(p.handset_index, -1), p.id
"""


def _seen(row: asyncpg.Record) -> SeenPhone:
    return SeenPhone(**dict(row))


async def record_sighting(conn: asyncpg.Connection[Any], sighting: Sighting) -> tuple[bool, bool]:
    """Upsert one sighting; returns (first time this MAC was seen, MAC is rejected)."""
    row = await conn.fetchrow(
        _UPSERT,
        sighting.mac_address,
        sighting.vendor,
        sighting.model,
        sighting.address,
        sighting.user_agent,
        sighting.file,
        sighting.time,
    )
    assert row is not None
    return bool(row["inserted"]), bool(row["rejected"])


async def record_sightings(conn: asyncpg.Connection[Any], sightings: Sequence[Sighting]) -> None:
    """Upsert many sightings in one statement (the latest per MAC wins, counts add up)."""
    if not sightings:
        return
    counts: dict[str, int] = {}
    for item in sightings:
        counts[item.mac_address] = counts.get(item.mac_address, 0) + 1
    await conn.execute(
        _UPSERT_MANY,
        [s.mac_address for s in sightings],
        [s.vendor for s in sightings],
        [s.model for s in sightings],
        [s.address for s in sightings],
        [s.user_agent for s in sightings],
        [s.file for s in sightings],
        [s.time for s in sightings],
        [counts[s.mac_address] for s in sightings],
    )


async def is_rejected(conn: asyncpg.Connection[Any], mac_address: str) -> bool:
    return bool(await conn.fetchval(_REJECTED, mac_address))


async def set_rejected(conn: asyncpg.Connection[Any], mac_address: str, rejected: bool) -> None:
    await conn.execute(_SET_REJECTED, mac_address, rejected)


async def list_seen(
    conn: asyncpg.Connection[Any],
    scope: list[str] | None,
    *,
    after: str | None = None,
    limit: int = 100,
) -> list[SeenPhone]:
    """By MAC, from `after` on; `scope` = visible customer ids (None: all, incl. unassigned)."""
    return [_seen(row) for row in await conn.fetch(_LIST, scope, after, limit)]


async def get_seen(
    conn: asyncpg.Connection[Any], mac_address: str, scope: list[str] | None
) -> SeenPhone | None:
    row = await conn.fetchrow(_GET, mac_address, scope)
    return None if row is None else _seen(row)


async def assignees(
    conn: asyncpg.Connection[Any], mac_address: str, scope: list[str] | None
) -> list[Assignee]:
    return [Assignee(**dict(row)) for row in await conn.fetch(_ASSIGNEES, mac_address, scope)]
