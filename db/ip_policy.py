"""The IP policy gate's queries: a phone's Security settings and the OPEN -> LOCKED switch.

The gate decides from a cached policy and touches the database only to write: the lock
(one conditional UPDATE, so two racing first contacts cannot both win: PostgreSQL takes a
row lock for the UPDATE and re-checks `ip_mode = 'OPEN'` for the second one after the first
commits — READ COMMITTED's "EvalPlanQual" re-check) and, when the lock was lost, a re-read
of what won.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg


@dataclass(frozen=True, slots=True, kw_only=True)
class PhonePolicy:
    """A phone's `ip` block and the identity the gate checks User-Agents against."""

    phone_id: str
    customer_id: str
    ip_mode: str
    ip_countries: str  # comma list as stored
    ip_address: str | None
    version: int
    vendor: str | None
    model: str | None
    mac_address: str | None


_POLICY = """
SELECT p.id AS phone_id, p.customer_id, p.ip_mode, p.ip_countries, p.ip_address, p.version,
       m.vendor, m.model, p.mac_address
FROM sip_phones p JOIN sip_phone_models m ON m.id = p.model_id
WHERE p.id = $1
"""


async def phone_policy(conn: asyncpg.Connection[Any], phone_id: str) -> PhonePolicy | None:
    """The phone's current policy, or None when it no longer exists."""
    row = await conn.fetchrow(_POLICY, phone_id)
    return None if row is None else PhonePolicy(**dict(row))


_CLAIM_OPEN = """
SELECT id FROM sip_phones WHERE id = ANY($1::text[]) AND ip_mode = 'OPEN'
ORDER BY id FOR UPDATE
"""

_LOCK_MANY = """
UPDATE sip_phones p SET ip_mode = 'LOCKED', ip_address = v.address, version = p.version + 1
FROM unnest($1::text[], $2::text[]) AS v(id, address)
WHERE p.id = v.id AND p.ip_mode = 'OPEN'
RETURNING p.id, p.version
"""


async def lock_open_phones(conn: asyncpg.Connection[Any], locks: dict[str, str]) -> dict[str, int]:
    """Switch the phones that are still OPEN to LOCKED, each on its address (phone id ->
    address), in the caller's transaction: the new version of each phone switched. The
    rows are locked in id order first, so two groups sharing phones cannot deadlock; a
    phone another transaction locked meanwhile is re-checked and left out."""
    ids = sorted(locks)
    claimed = [row["id"] for row in await conn.fetch(_CLAIM_OPEN, ids)]
    if not claimed:
        return {}
    rows = await conn.fetch(_LOCK_MANY, claimed, [locks[phone_id] for phone_id in claimed])
    return {row["id"]: int(row["version"]) for row in rows}
