"""What nodes sharing one database say to each other: a binding moved, a check-sync for a
phone whose flow another node holds, and that node's answer.

Several `sipfleet serve` nodes (or worker processes of one) share the database; each
holds in memory the bindings whose flows reach it. A request to another node and its
reply travel as `pg_notify` on one channel each, with a JSON payload naming the node
meant: a check-sync is worth nothing once its HTTP caller has given up, so a request row
(written, polled, cleaned up) would only add writes — the caller waits with a timeout
and reports the contacts of a node that did not answer as timed out.

The move notification comes from the trigger of migration 0010 (`bindings` UPDATE that
changes `node`).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from db.bindings import StoredBinding

BINDING_MOVED_CHANNEL = "sipfleet_binding_moved"
REQUEST_CHANNEL = "sipfleet_node_request"
REPLY_CHANNEL = "sipfleet_node_reply"
PAYLOAD_LIMIT = 7900  # PostgreSQL refuses NOTIFY payloads of 8000 bytes and more

_BINDING_COLUMNS = ", ".join(item.name for item in dataclasses.fields(StoredBinding))
_PHONE_NODES = """
SELECT node, contact, transport, instance_id, reg_id, expires_at FROM bindings
WHERE phone_id = $1 AND expires_at > now()
ORDER BY node NULLS FIRST, contact
"""
_ADOPT = f"""
UPDATE bindings SET node = $1, updated = now()
WHERE left(node, length($2)) = $2 AND NOT (node = ANY($3::text[])) AND expires_at > now()
RETURNING {_BINDING_COLUMNS}
"""
_NOTIFY = "SELECT pg_notify($1, $2)"


@dataclass(frozen=True, slots=True)
class HeldBinding:
    """Which node holds one contact of a phone (None: written before nodes had ids)."""

    node: str | None
    contact: str
    transport: str
    instance_id: str | None = None  # an RFC 5626 outbound flow: instance and reg-id
    reg_id: int | None = None
    expires_at: datetime | None = None


async def phone_binding_nodes(conn: asyncpg.Connection[Any], phone_id: str) -> list[HeldBinding]:
    """The phone's unexpired bindings and the node holding each."""
    rows = await conn.fetch(_PHONE_NODES, phone_id)
    return [
        HeldBinding(
            row["node"], row["contact"], row["transport"], row["instance_id"], row["reg_id"],
            row["expires_at"],
        )
        for row in rows
    ]  # fmt: skip


async def adopt_bindings(
    conn: asyncpg.Connection[Any], node: str, prefix: str, running: Sequence[str]
) -> list[StoredBinding]:
    """Move to `node` the unexpired bindings of node ids starting with `prefix` that are
    not in `running` (workers of this host no longer started), returning them."""
    rows = await conn.fetch(_ADOPT, node, prefix, list(running))
    return [StoredBinding(**dict(row)) for row in rows]


async def listen_connection(pool: asyncpg.Pool[Any]) -> asyncpg.Connection[Any]:
    """A connection to the pool's database outside the pool, for LISTEN: held for the
    node's whole life, it would take a pool slot for good (and tests run small pools).
    Uses the pool's own connect arguments (asyncpg keeps them on the pool)."""
    args = getattr(pool, "_connect_args", ())
    kwargs = getattr(pool, "_connect_kwargs", {})
    conn: asyncpg.Connection[Any] = await asyncpg.connect(*args, **kwargs)
    return conn


async def notify(conn: asyncpg.Connection[Any], channel: str, message: dict[str, Any]) -> None:
    """Send `message` as JSON on `channel` (raises ValueError when it is too long)."""
    payload = json.dumps(message, separators=(",", ":"))
    if len(payload.encode()) > PAYLOAD_LIMIT:
        raise ValueError(f"{channel} payload of {len(payload)} bytes is too long")
    await conn.execute(_NOTIFY, channel, payload)
