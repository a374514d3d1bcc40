"""Pickup groups (with member extensions, some of them controllers) and queues.

They are the targets of the PICKUPGROUP and QUEUE soft keys of `003_…txt`; a PICKUPGROUP
key is only valid when the phone's extension has controller rights on the group.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupMember:
    extension_id: str
    controller: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class PickupGroup:
    id: str
    customer_id: str
    name: str
    number: str
    members: tuple[GroupMember, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Queue:
    id: str
    customer_id: str
    name: str
    number: str


_GROUP_INSERT = """
INSERT INTO pickup_groups (customer_id, name, number) VALUES ($1, $2, $3) RETURNING id
"""
_MEMBER_INSERT = """
INSERT INTO pickup_group_members (group_id, extension_id, controller) VALUES ($1, $2, $3)
"""
_GROUP_SELECT = """
SELECT g.id, g.customer_id, g.name, g.number,
       coalesce(array_agg(m.extension_id ORDER BY m.extension_id)
                FILTER (WHERE m.extension_id IS NOT NULL), '{}') AS member_ids,
       coalesce(array_agg(m.controller ORDER BY m.extension_id)
                FILTER (WHERE m.extension_id IS NOT NULL), '{}') AS controllers
FROM pickup_groups g LEFT JOIN pickup_group_members m ON m.group_id = g.id
"""
_GROUP_BY_ID = _GROUP_SELECT + " WHERE g.id = $1 GROUP BY g.id"
_GROUPS_BY_IDS = _GROUP_SELECT + " WHERE g.id = ANY($1::text[]) GROUP BY g.id"
_GROUP_LIST = (
    _GROUP_SELECT
    + """ WHERE ($1::text[] IS NULL OR g.customer_id = ANY($1::text[]))
      AND ($2::text IS NULL OR g.customer_id = $2) AND ($3::text IS NULL OR g.id > $3)
    GROUP BY g.id ORDER BY g.id LIMIT $4"""
)
_GROUP_DELETE = "DELETE FROM pickup_groups WHERE id = $1"

_QUEUE_COLUMNS = "id, customer_id, name, number"
_QUEUE_INSERT = f"""
INSERT INTO queues (customer_id, name, number) VALUES ($1, $2, $3) RETURNING {_QUEUE_COLUMNS}
"""
_QUEUE_BY_ID = f"SELECT {_QUEUE_COLUMNS} FROM queues WHERE id = $1"
_QUEUES_BY_IDS = f"SELECT {_QUEUE_COLUMNS} FROM queues WHERE id = ANY($1::text[])"
_QUEUE_LIST = f"""
SELECT {_QUEUE_COLUMNS} FROM queues
WHERE ($1::text[] IS NULL OR customer_id = ANY($1::text[]))
  AND ($2::text IS NULL OR customer_id = $2) AND ($3::text IS NULL OR id > $3)
ORDER BY id LIMIT $4
"""
_QUEUE_DELETE = "DELETE FROM queues WHERE id = $1"


def _group(row: asyncpg.Record) -> PickupGroup:
    members = tuple(
        GroupMember(extension_id=ext, controller=ctl)
        for ext, ctl in zip(row["member_ids"], row["controllers"], strict=True)
    )
    return PickupGroup(
        id=row["id"],
        customer_id=row["customer_id"],
        name=row["name"],
        number=row["number"],
        members=members,
    )


def _queue(row: asyncpg.Record) -> Queue:
    return Queue(**dict(row))


async def insert_group(
    conn: asyncpg.Connection[Any],
    *,
    customer_id: str,
    name: str,
    number: str,
    members: list[GroupMember],
) -> PickupGroup:
    """Insert a group and its members; the caller owns the transaction."""
    group_id = await conn.fetchval(_GROUP_INSERT, customer_id, name, number)
    for member in members:
        await conn.execute(_MEMBER_INSERT, group_id, member.extension_id, member.controller)
    group = await group_by_id(conn, str(group_id))
    assert group is not None
    return group


async def group_by_id(conn: asyncpg.Connection[Any], group_id: str) -> PickupGroup | None:
    row = await conn.fetchrow(_GROUP_BY_ID, group_id)
    return None if row is None else _group(row)


async def groups_by_ids(
    conn: asyncpg.Connection[Any], group_ids: list[str]
) -> dict[str, PickupGroup]:
    return {row["id"]: _group(row) for row in await conn.fetch(_GROUPS_BY_IDS, group_ids)}


async def list_groups(
    conn: asyncpg.Connection[Any],
    scope: list[str] | None,
    *,
    customer_id: str | None = None,
    after: str | None = None,
    limit: int = 100,
) -> list[PickupGroup]:
    rows = await conn.fetch(_GROUP_LIST, scope, customer_id, after, limit)
    return [_group(row) for row in rows]


async def delete_group(conn: asyncpg.Connection[Any], group_id: str) -> bool:
    return str(await conn.execute(_GROUP_DELETE, group_id)) == "DELETE 1"


async def insert_queue(
    conn: asyncpg.Connection[Any], *, customer_id: str, name: str, number: str
) -> Queue:
    row = await conn.fetchrow(_QUEUE_INSERT, customer_id, name, number)
    assert row is not None
    return _queue(row)


async def queue_by_id(conn: asyncpg.Connection[Any], queue_id: str) -> Queue | None:
    row = await conn.fetchrow(_QUEUE_BY_ID, queue_id)
    return None if row is None else _queue(row)


async def queues_by_ids(conn: asyncpg.Connection[Any], queue_ids: list[str]) -> dict[str, Queue]:
    return {row["id"]: _queue(row) for row in await conn.fetch(_QUEUES_BY_IDS, queue_ids)}


async def list_queues(
    conn: asyncpg.Connection[Any],
    scope: list[str] | None,
    *,
    customer_id: str | None = None,
    after: str | None = None,
    limit: int = 100,
) -> list[Queue]:
    rows = await conn.fetch(_QUEUE_LIST, scope, customer_id, after, limit)
    return [_queue(row) for row in rows]


async def delete_queue(conn: asyncpg.Connection[Any], queue_id: str) -> bool:
    return str(await conn.execute(_QUEUE_DELETE, queue_id)) == "DELETE 1"
