"""Bindings belong to the node holding their flow; expired orphans are swept by any node."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from tests.support.phones import new_phone

INSERT = """
INSERT INTO bindings (phone_id, contact, call_id, cseq, expires_at, transport, source_ip,
                      source_port, node)
VALUES ($1, $2, 'c', 1, now() + make_interval(secs => $3), 'udp', '127.0.0.1', 5060, $4)
"""


async def test_load_own_bindings_and_sweep_orphans(
    pool: asyncpg.Pool[Any], start_sip: Any, customer_id: str
) -> None:
    mine = await new_phone(pool, customer_id)
    theirs = await new_phone(pool, customer_id)
    orphan = await new_phone(pool, customer_id)
    async with pool.acquire() as conn:
        await conn.execute(INSERT, mine.id, "sip:a@127.0.0.1", 600.0, "test-node")
        await conn.execute(INSERT, theirs.id, "sip:b@127.0.0.1", 600.0, "other-node")
        await conn.execute(INSERT, orphan.id, "sip:c@127.0.0.1", -120.0, "gone-node")
        await conn.execute("UPDATE phone_status SET online = true WHERE phone_id = $1", orphan.id)
    sip = await start_sip()
    assert [b.contact for b in sip.service.bindings_of(mine.id)] == ["sip:a@127.0.0.1"]
    assert sip.service.bindings_of(theirs.id) == []  # the other node's flow, not ours

    async def orphan_gone() -> bool:
        async with pool.acquire() as conn:
            return not await conn.fetchval(
                "SELECT count(*) FROM bindings WHERE phone_id=$1", orphan.id
            )

    for _ in range(50):
        if await orphan_gone():
            break
        await asyncio.sleep(0.1)
    async with pool.acquire() as conn:
        events = await conn.fetch("SELECT type, phone_id FROM events")
        online = await conn.fetchval("SELECT online FROM phone_status WHERE phone_id=$1", orphan.id)
        left = await conn.fetchval("SELECT count(*) FROM bindings")
    assert [(e["type"], e["phone_id"]) for e in events] == [("phone.expired", orphan.id)]
    assert online is False and left == 2


async def test_phones_created_after_start_register_at_once(
    pool: asyncpg.Pool[Any], start_sip: Any, customer_id: str
) -> None:
    from tests.support.sip_client import SipClient
    from tests.support.waiting import wait_until

    sip = await start_sip()
    phones = [await new_phone(pool, customer_id) for _ in range(20)]  # a burst of notifications
    await wait_until(lambda: all(sip.service.directory.by_id(p.id) for p in phones), timeout=5)
    async with SipClient(server=sip.address("udp")) as client:
        ok = await client.register(phones[-1].username, phones[-1].password)
        assert ok is not None and ok.status == 200
