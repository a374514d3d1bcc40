"""The reference's `status` block of a phone, kept current by the registrar.

One row per phone in `phone_status`; `upsert_status` writes every registrar field at once
so the row always describes one consistent registration state. `config_loaded` and
`config_saved` live on `sip_phones` and belong to the provisioning file server.
"""

from __future__ import annotations

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
    unreachable = EXCLUDED.unreachable, updated = now()
"""
_GET = f"SELECT {_COLUMNS} FROM phone_status WHERE phone_id = $1"
_OFFLINE_ALL = """
UPDATE phone_status SET online = false, expires_at = NULL, updated = now()
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


async def offline_without_bindings(conn: asyncpg.Connection[Any]) -> int:
    """At start: phones marked online that have no binding left are offline."""
    result = await conn.execute(_OFFLINE_ALL)
    return int(result.split()[-1])
