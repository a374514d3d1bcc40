"""Fail-over: `database_url` names a primary and its streaming-replication standby
(`postgresql://…@primary,standby/sipfleet?target_session_attrs=read-write`); the primary
is killed under registration load (postmaster and backends, as if its host died), the
standby promoted, and `sipfleet serve` (two workers) goes on by itself on the new
primary: registrations are answered 200 again, every REGISTER answered 200 is in the
new primary's bindings table, and a phone created through the API afterwards registers
at once.

The primary replicates synchronously (`synchronous_standby_names`): a commit, and so a
200, means the standby has the rows. With asynchronous replication the last commits
before the crash may never reach the standby.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from tests.outage.pgcluster import PgCluster, PgServer
from tests.outage.support import (
    DATABASE,
    RegisterLoad,
    create_database,
    healthz,
    lost_bindings,
    make_phones,
    register_new_phone,
    start_node,
)
from tests.process import SipfleetProcess, free_port

PHONES = 20
RECOVERY_LIMIT = 15.0


async def _wait_synchronous(primary: PgServer) -> None:
    conn = await asyncpg.connect(primary.uri())
    try:
        for _ in range(100):
            if await conn.fetchval(
                "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'"
            ):
                return
            await asyncio.sleep(0.1)
    finally:
        await conn.close()
    raise AssertionError("the standby did not become a synchronous standby")


@pytest.fixture
def pair() -> Iterator[tuple[PgServer, PgServer]]:
    cluster = PgCluster()
    try:
        primary = cluster.server("primary", free_port()).init(synchronous_standby=True)
        primary.start()
        standby = cluster.server("standby", free_port()).standby_of(primary)
        standby.start()
        asyncio.run(_wait_synchronous(primary))
        asyncio.run(create_database(primary.uri()))
        yield primary, standby
    finally:
        cluster.close()


@pytest.fixture
async def node(tmp_path: Path, pair: tuple[PgServer, PgServer]) -> AsyncIterator[SipfleetProcess]:
    primary, standby = pair
    url = (f"postgresql://postgres@{primary.host},{standby.host}/{DATABASE}"
           "?target_session_attrs=read-write")  # fmt: skip
    running = await asyncio.to_thread(start_node, tmp_path / "node", url)
    try:
        yield running
    finally:
        running.stop()
        assert "Traceback" not in running.log(), running.log()


async def test_the_standby_promoted_takes_over(
    node: SipfleetProcess, pair: tuple[PgServer, PgServer]
) -> None:
    primary, standby = pair
    customer, extension, model, phones = await make_phones(primary.uri(DATABASE), PHONES)
    load = RegisterLoad(node, phones)
    await load.start()
    try:
        await asyncio.sleep(1.0)
        assert load.statuses()[200] > PHONES, load.statuses()
        await asyncio.to_thread(primary.kill)
        killed = time.monotonic()
        await asyncio.sleep(1.0)
        health_down = await asyncio.to_thread(healthz, node)
        during = load.statuses(killed + 0.5, time.monotonic())
        await asyncio.to_thread(standby.promote)
        promoted = time.monotonic()
        while load.all_ok_after(promoted) is None and time.monotonic() - promoted < RECOVERY_LIMIT:
            await asyncio.sleep(0.1)
        recovered = load.all_ok_after(promoted)
        await asyncio.sleep(0.5)
    finally:
        await load.stop()

    assert health_down == 503
    assert during[200] == 0 and during[503] > 0, during
    assert sum(phone.no_retry_after for phone in load.phones) == 0
    assert recovered is not None, load.statuses(promoted)
    print(f"primary killed; every phone registered again {recovered - promoted:.2f} s "
          f"after the standby's promotion")  # fmt: skip
    assert await lost_bindings(standby.uri(DATABASE), load.phones) == []
    assert await asyncio.to_thread(healthz, node) == 200
    statuses = await register_new_phone(node, customer, extension, model)
    assert statuses == [200] * len(statuses), statuses
