"""PostgreSQL restarted under registration load, with `sipfleet serve` (two workers) as a
real process on a PostgreSQL the test stops and starts.

What a user sees: every REGISTER answered 200 before, during or after the outage is in
the bindings table afterwards; during the outage REGISTERs get 503 with Retry-After
(never a 200), /healthz says 503; within seconds of PostgreSQL's return registrations
are answered 200 again and /healthz says 200; a phone created through the API after the
outage registers at once on every worker (the directory listens again and re-read what
changed meanwhile).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.outage.pgcluster import PgCluster, PgServer
from tests.outage.support import (
    DATABASE,
    RegisterLoad,
    create_database,
    healthz,
    lost_bindings,
    make_phones,
    start_node,
)
from tests.process import SipfleetProcess, free_port
from tests.prov.sipclient import SipPhone
from tests.workers_support import Http

PHONES = 30
OUTAGE_SECONDS = 3.0
RECOVERY_LIMIT = 10.0  # seconds from PostgreSQL's return to every phone registered again


@pytest.fixture
def postgres() -> Iterator[PgServer]:
    cluster = PgCluster()
    try:
        server = cluster.server("pg", free_port()).init()
        server.start()
        asyncio.run(create_database(server.uri()))
        yield server
    finally:
        cluster.close()


@pytest.fixture
async def node(tmp_path: Path, postgres: PgServer) -> AsyncIterator[SipfleetProcess]:
    running = await asyncio.to_thread(start_node, tmp_path / "node", postgres.uri(DATABASE))
    try:
        yield running
    finally:
        running.stop()
        assert "Traceback" not in running.log(), running.log()
        assert "not confirmed" not in running.log(), running.log()


async def _register_new_phone(node: SipfleetProcess, customer: str, extension: str,
                              model: str) -> list[int]:  # fmt: skip
    """Create a phone through the API, then REGISTER it at once, several times over
    fresh sockets (each may reach either worker): the statuses."""
    body = {"customer": customer, "extension": extension, "sipPhoneModel": model}
    status, phone, _ = await Http(node.base_url).request("PUT", "/api/pbx/sipphone", body)
    assert status == 201, phone
    statuses = []
    for _ in range(6):
        client = SipPhone(phone["username"], phone["password"], ("127.0.0.1", node.sip_port),
                          "udp")  # fmt: skip
        await client.open()
        try:
            statuses.append(await client._register_once(3.0))
        finally:
            await client.close()
    return statuses


async def test_postgres_restart_under_registration_load(
    node: SipfleetProcess, postgres: PgServer
) -> None:
    uri = postgres.uri(DATABASE)
    customer, extension, model, phones = await make_phones(uri, PHONES)
    load = RegisterLoad(node, phones)
    await load.start()
    try:
        await asyncio.sleep(1.0)
        assert load.statuses()[200] > PHONES, load.statuses()

        await asyncio.to_thread(postgres.stop, "fast")
        down = time.monotonic()
        await asyncio.sleep(1.0)
        health_down = await asyncio.to_thread(healthz, node)
        await asyncio.sleep(OUTAGE_SECONDS - 1.0)
        during = load.statuses(down + 0.5, time.monotonic())
        await asyncio.to_thread(postgres.start)
        up = time.monotonic()
        while load.all_ok_after(up) is None and time.monotonic() - up < RECOVERY_LIMIT:
            await asyncio.sleep(0.1)
        recovered = load.all_ok_after(up)
        await asyncio.sleep(0.5)
    finally:
        await load.stop()

    assert health_down == 503
    assert during[503] > 0, during
    assert during[200] == 0, during  # nothing can commit while PostgreSQL is down
    assert recovered is not None, load.statuses(up)
    print(
        f"outage {up - down:.1f} s; statuses during it {dict(during)}; "
        f"all phones registered {recovered - up:.2f} s after PostgreSQL's return"
    )
    assert await lost_bindings(uri, load.phones) == []
    assert await asyncio.to_thread(healthz, node) == 200
    statuses = await _register_new_phone(node, customer, extension, model)
    assert statuses == [200] * len(statuses), statuses
