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

import pytest

from tests.support.outage import (
    DATABASE,
    RegisterLoad,
    healthz,
    lost_bindings,
    make_phones,
    pair_url,
    register_new_phone,
    start_node,
    synchronous_pair,
)
from tests.support.pgcluster import PgServer
from tests.support.processes import SipfleetProcess

PHONES = 20
RECOVERY_LIMIT = 15.0


@pytest.fixture
def pair() -> Iterator[tuple[PgServer, PgServer]]:
    with synchronous_pair() as servers:
        yield servers


@pytest.fixture
async def node(tmp_path: Path, pair: tuple[PgServer, PgServer]) -> AsyncIterator[SipfleetProcess]:
    running = await asyncio.to_thread(start_node, tmp_path / "node", pair_url(*pair))
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
        recovered = await load.recovered_after(promoted, RECOVERY_LIMIT)
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
