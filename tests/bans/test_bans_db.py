"""The bans table's queries against the real database."""

from __future__ import annotations

import time
from typing import Any

import asyncpg

from db import bans


async def test_upsert_keeps_the_longer_ban_and_polls_by_change(pool: asyncpg.Pool[Any]) -> None:
    now = time.time()
    async with pool.acquire() as conn:
        _, start = await bans.changed_since(conn, 0, 10)
        await bans.upsert(conn, "192.0.2.1", now + 300, "auth_failures", "node-a")
        await bans.upsert(conn, "192.0.2.1", now + 100, "auth_failures", "node-b")  # shorter
        await bans.upsert(conn, "2001:db8::1", now + 60, "auth_failures", "node-a")
        await bans.upsert(conn, "192.0.2.9", now - 10, "auth_failures", "node-a")  # ended
        active, _ = await bans.active(conn, 100)
        assert {(ban.address, round(ban.until)) for ban in active} == {
            ("192.0.2.1", round(now + 300)),
            ("2001:db8::1", round(now + 60)),
        }
        assert active[0].address == "192.0.2.1"  # the longest first
        changed, later = await bans.changed_since(conn, start, 10)
        assert [ban.address for ban in changed] == ["192.0.2.1", "2001:db8::1"]  # last write order
        assert later >= start
        assert (await bans.changed_since(conn, later + 1, 10))[0] == []
        node = await conn.fetchval("SELECT node FROM bans WHERE address = '192.0.2.1'")
        assert node == "node-b"  # the last writer is named, the longer end kept
        await conn.execute(
            "UPDATE bans SET until = now() - interval '2 days' WHERE address = '192.0.2.9'"
        )
        assert await bans.prune(conn) == 1
        assert await conn.fetchval("SELECT count(*) FROM bans") == 2
