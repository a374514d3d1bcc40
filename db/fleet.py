"""Fleet views for the operators' dashboard: counts per customer and phones with status.

A phone's live state is one of `online`, `unreachable` (registered, but keep-alive probes
went unanswered) or `offline` (no live registration; an expiry in the past counts as
offline even before the registrar's sweep removes it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

STATES = ("online", "offline", "unreachable")

# The state expression, shared by the summary and the list.
_STATE = """
CASE
    WHEN ps.online AND (ps.expires_at IS NULL OR ps.expires_at > now())
        THEN CASE WHEN ps.unreachable THEN 'unreachable' ELSE 'online' END
    ELSE 'offline'
END
"""

_SUMMARY = f"""
SELECT c.id AS customer_id, c.name AS customer_name,
       count(p.id) AS total,
       count(p.id) FILTER (WHERE {_STATE} = 'online') AS online,
       count(p.id) FILTER (WHERE {_STATE} = 'offline') AS offline,
       count(p.id) FILTER (WHERE {_STATE} = 'unreachable') AS unreachable
FROM customers c
LEFT JOIN sip_phones p ON p.customer_id = c.id
LEFT JOIN phone_status ps ON ps.phone_id = p.id
WHERE ($1::text[] IS NULL OR c.id = ANY($1::text[]))
GROUP BY c.id, c.name
ORDER BY c.name, c.id
"""

_PHONES = f"""
SELECT p.id, p.customer_id, c.name AS customer_name, p.mac_address, p.ip_mode,
       p.ip_address AS locked_address, p.handset_index, p.config_loaded,
       e.number AS extension, e.name AS extension_name,
       m.name AS model, m.vendor,
       {_STATE} AS state,
       ps.expires_at, ps.local_ip, ps.public_ip, ps.user_agent, ps.transport,
       ps.updated AS status_updated
FROM sip_phones p
JOIN customers c ON c.id = p.customer_id
JOIN sip_phone_models m ON m.id = p.model_id
LEFT JOIN extensions e ON e.id = p.extension_id
LEFT JOIN phone_status ps ON ps.phone_id = p.id
WHERE ($1::text[] IS NULL OR p.customer_id = ANY($1::text[]))
  AND ($2::text IS NULL OR p.id > $2)
  AND ($3::text IS NULL OR p.customer_id = $3)
  AND ($4::text IS NULL OR {_STATE} = $4)
  AND ($5::text[] IS NULL OR p.id = ANY($5::text[]))
  AND ($6::text IS NULL
       OR p.id ILIKE $6 OR p.mac_address ILIKE $6 OR e.number ILIKE $6 OR e.name ILIKE $6
       OR c.name ILIKE $6 OR m.name ILIKE $6 OR ps.user_agent ILIKE $6
       OR ps.local_ip ILIKE $6 OR ps.public_ip ILIKE $6)
ORDER BY p.id
LIMIT $7
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class CustomerCounts:
    customer_id: str
    customer_name: str
    total: int
    online: int
    offline: int
    unreachable: int


@dataclass(frozen=True, slots=True, kw_only=True)
class FleetPhone:
    id: str
    customer_id: str
    customer_name: str
    mac_address: str | None
    ip_mode: str
    locked_address: str | None
    handset_index: int | None
    config_loaded: datetime | None
    extension: str | None
    extension_name: str | None
    model: str
    vendor: str
    state: str
    expires_at: datetime | None
    local_ip: str | None
    public_ip: str | None
    user_agent: str | None
    transport: str | None
    status_updated: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class PhoneFilter:
    """What a phone list is narrowed to; None everywhere means every phone in scope."""

    scope: list[str] | None = None  # customer ids the caller sees; None: all
    after: str | None = None  # paging cursor: the last id of the previous page
    customer_id: str | None = None
    state: str | None = None
    phone_ids: list[str] | None = None
    search: str | None = None  # substring, matched case-insensitively


def like_pattern(text: str) -> str:
    """A substring pattern for ILIKE with the wildcards in `text` escaped."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def customer_counts(
    conn: asyncpg.Connection[Any], scope: list[str] | None
) -> list[CustomerCounts]:
    return [CustomerCounts(**dict(row)) for row in await conn.fetch(_SUMMARY, scope)]


async def fleet_phones(
    conn: asyncpg.Connection[Any], where: PhoneFilter, limit: int
) -> list[FleetPhone]:
    """Phones in id order, at most `limit`, with their live state."""
    rows = await conn.fetch(
        _PHONES,
        where.scope,
        where.after,
        where.customer_id,
        where.state,
        where.phone_ids,
        like_pattern(where.search) if where.search else None,
        limit,
    )
    return [FleetPhone(**dict(row)) for row in rows]
