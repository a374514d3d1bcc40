"""Subscriptions (RFC 6665) held by each node, kept so that a restarted node resumes them.

The document is the subscription's dialog and transport as the presence service writes
it (sipcore.server.presence.service); the database does not look inside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredSubscription:
    id: str
    node: str
    phone_id: str | None
    extension_id: str
    customer_id: str
    package: str
    document: dict[str, Any]
    expires_at: datetime


_COLUMNS = "id, node, phone_id, extension_id, customer_id, package, document, expires_at"
_SAVE = """
INSERT INTO presence_subscriptions
    (id, node, phone_id, extension_id, customer_id, package, document, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (id) DO UPDATE SET node = EXCLUDED.node, document = EXCLUDED.document,
    expires_at = EXCLUDED.expires_at, updated = now()
"""
_DELETE = "DELETE FROM presence_subscriptions WHERE id = ANY($1)"
_OF_NODE = f"""
SELECT {_COLUMNS} FROM presence_subscriptions WHERE node = $1 AND expires_at > now()
ORDER BY created
"""
_DROP_EXPIRED = "DELETE FROM presence_subscriptions WHERE node = $1 AND expires_at <= now()"


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscriptionRow:
    """What `save_subscriptions` writes for one subscription."""

    id: str
    phone_id: str | None
    extension_id: str
    customer_id: str
    package: str
    document: dict[str, Any]
    expires_at: datetime


async def save_subscriptions(
    conn: asyncpg.Connection[Any], node: str, rows: list[SubscriptionRow]
) -> None:
    """Insert or update several subscriptions at once (one round trip)."""
    await conn.executemany(
        _SAVE,
        [
            (
                r.id,
                node,
                r.phone_id,
                r.extension_id,
                r.customer_id,
                r.package,
                r.document,
                r.expires_at,
            )
            for r in rows
        ],
    )


async def delete_subscriptions(conn: asyncpg.Connection[Any], ids: list[str]) -> None:
    await conn.execute(_DELETE, ids)


async def node_subscriptions(conn: asyncpg.Connection[Any], node: str) -> list[StoredSubscription]:
    """The unexpired subscriptions a node held; expired ones are removed first."""
    await conn.execute(_DROP_EXPIRED, node)
    return [StoredSubscription(**dict(row)) for row in await conn.fetch(_OF_NODE, node)]
