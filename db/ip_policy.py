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

_LOCK = """
UPDATE sip_phones SET ip_mode = 'LOCKED', ip_address = $2, version = version + 1
WHERE id = $1 AND ip_mode = 'OPEN'
RETURNING id, version
"""


async def phone_policy(conn: asyncpg.Connection[Any], phone_id: str) -> PhonePolicy | None:
    """The phone's current policy, or None when it no longer exists."""
    row = await conn.fetchrow(_POLICY, phone_id)
    return None if row is None else PhonePolicy(**dict(row))


async def lock_open_phone(conn: asyncpg.Connection[Any], phone_id: str, address: str) -> int | None:
    """Switch an OPEN phone to LOCKED on `address`; its new version, or None when the phone
    is not OPEN (any more) or does not exist — then re-read and decide again."""
    row = await conn.fetchrow(_LOCK, phone_id, address)
    return None if row is None else int(row["version"])
