"""`LockWriter`: first-contact locks of many OPEN phones committed in one group, on the
real database — every phone locked with its event, racing addresses for one phone (in one
group or in two gates' groups) leave exactly one winner, and a deleted phone is no lock."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from db.phone_status import EventWrite
from provisioning.gate.locks import LockRequest, LockWriter
from tests.support.phones import new_phones


def _request(phone_id: str, address: str) -> LockRequest:
    event = EventWrite(
        type="phone.ip_locked", phone_id=phone_id, customer_id=None, details={"address": address}
    )
    return LockRequest(phone_id=phone_id, address=address, event=event)


async def test_a_boot_storm_of_locks_is_one_group(pool: asyncpg.Pool[Any]) -> None:
    phones = [p.id for p in await new_phones(pool, 200)]
    writer = LockWriter(pool)
    async with pool.acquire() as conn:
        xacts_before = await conn.fetchval(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        )
    versions = await asyncio.gather(
        *(writer.lock(_request(p, f"127.0.{i // 250}.{i % 250 + 1}")) for i, p in enumerate(phones))
    )
    assert all(version is not None for version in versions)
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT id, ip_mode, ip_address FROM sip_phones WHERE id = ANY($1::text[])", phones
        )
        events = await conn.fetchval(
            "SELECT count(*) FROM events WHERE type = 'phone.ip_locked' AND phone_id = ANY($1)",
            phones,
        )
        xacts_after = await conn.fetchval(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        )
    by_id = {row["id"]: row for row in rows}
    for i, phone in enumerate(phones):
        assert by_id[phone]["ip_mode"] == "LOCKED"
        assert by_id[phone]["ip_address"] == f"127.0.{i // 250}.{i % 250 + 1}"
    assert events == len(phones)
    # one group (the counter includes this test's own few statements), not 200 commits
    assert xacts_after - xacts_before < 20


async def test_racing_addresses_for_one_phone_leave_one_winner(pool: asyncpg.Pool[Any]) -> None:
    [phone] = [p.id for p in await new_phones(pool, 1)]
    first, second = LockWriter(pool), LockWriter(pool)  # two workers' gates
    results = await asyncio.gather(
        first.lock(_request(phone, "127.0.0.5")),
        first.lock(_request(phone, "127.0.0.6")),  # the same group
        second.lock(_request(phone, "127.0.0.7")),  # another worker's group
    )
    winners = [i for i, version in enumerate(results) if version is not None]
    assert len(winners) == 1
    async with pool.acquire() as conn:
        address = await conn.fetchval("SELECT ip_address FROM sip_phones WHERE id = $1", phone)
        events = await conn.fetchval(
            "SELECT count(*) FROM events WHERE type = 'phone.ip_locked' AND phone_id = $1", phone
        )
    assert address == ["127.0.0.5", "127.0.0.6", "127.0.0.7"][winners[0]]
    assert events == 1
    # LOCKED now: a later request locks nothing
    assert await first.lock(_request(phone, "127.0.0.8")) is None


async def test_a_deleted_phone_is_no_lock(pool: asyncpg.Pool[Any]) -> None:
    [phone] = [p.id for p in await new_phones(pool, 1)]
    async with pool.acquire() as conn:
        await conn.execute("DELETE FROM sip_phones WHERE id = $1", phone)
    assert await LockWriter(pool).lock(_request(phone, "127.0.0.5")) is None
