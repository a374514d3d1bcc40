"""PostgreSQL restarted under registration load, with `sipfleet serve` (two workers) as a
real process on a PostgreSQL the test stops and starts.

What a user sees: every REGISTER answered 200 before, during or after the outage is in
the bindings table afterwards; during the outage REGISTERs get 503 with Retry-After
(never a 200), /healthz says 503; within seconds of PostgreSQL's return registrations
are answered 200 again and /healthz says 200; a phone created through the API after the
outage registers at once on every worker (the directory listens again and re-read what
changed meanwhile). While PostgreSQL is down the REST API and configuration fetches
answer 503 with Retry-After.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.support.outage import (
    DATABASE,
    RegisterLoad,
    fetch_config,
    healthz,
    http_get,
    lost_bindings,
    make_phones,
    register_new_phone,
    start_node,
)
from tests.support.pgcluster import PgServer
from tests.support.processes import SipfleetProcess
from tests.support.sse import SseReader
from tests.support.workers import ADMIN_TOKEN

PHONES = 30
OUTAGE_SECONDS = 3.0
RECOVERY_LIMIT = 10.0  # seconds from PostgreSQL's return to every phone registered again


@pytest.fixture
async def node(tmp_path: Path, postgres: PgServer) -> AsyncIterator[SipfleetProcess]:
    running = await asyncio.to_thread(start_node, tmp_path / "node", postgres.uri(DATABASE))
    try:
        yield running
    finally:
        running.stop()
        assert "Traceback" not in running.log(), running.log()
        assert "not confirmed" not in running.log(), running.log()


async def test_postgres_restart_under_registration_load(
    node: SipfleetProcess, postgres: PgServer
) -> None:
    uri = postgres.uri(DATABASE)
    customer, extension, model, phones = await make_phones(uri, PHONES)
    session = aiohttp.ClientSession()
    events = await session.get(node.base_url + "/api/events",
                               headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})  # fmt: skip
    try:
        load = RegisterLoad(node, phones)
        await load.start()
        try:
            await asyncio.sleep(1.0)
            assert load.statuses()[200] > PHONES, load.statuses()

            fetched_before = await asyncio.to_thread(fetch_config, node, phones[0].mac_address)
            await asyncio.to_thread(postgres.stop, "fast")
            down = time.monotonic()
            await asyncio.sleep(1.0)
            health_down = await asyncio.to_thread(healthz, node)
            api_down = await asyncio.to_thread(
                http_get, node, "/api/customers", {"Authorization": f"Bearer {ADMIN_TOKEN}"}
            )
            fetched_down = await asyncio.to_thread(fetch_config, node, phones[0].mac_address)
            await asyncio.sleep(OUTAGE_SECONDS - 1.0)
            during = load.statuses(down + 0.5, time.monotonic())
            await asyncio.to_thread(postgres.start)
            up = time.monotonic()
            recovered = await load.recovered_after(up, RECOVERY_LIMIT)
            await asyncio.sleep(0.5)
        finally:
            await load.stop()

        assert health_down == 503
        # the REST API and configuration fetches answer 503 (the API's JSON error shape,
        # Retry-After) instead of failing with a 500
        status, body, headers = api_down
        assert status == 503 and headers.get("Retry-After") == "5", api_down
        assert json.loads(body) == {
            "code": 503, "message": "service_unavailable",
            "description": "The database is unavailable; try again in a few seconds",
        }  # fmt: skip
        assert (fetched_before, fetched_down) == (200, 503)
        assert during[503] > 0, during
        assert during[200] == 0, during  # nothing can commit while PostgreSQL is down
        assert sum(phone.no_retry_after for phone in load.phones) == 0
        assert recovered is not None, load.statuses(up)
        print(
            f"outage {up - down:.1f} s; statuses during it {dict(during)}; "
            f"all phones registered {recovered - up:.2f} s after PostgreSQL's return"
        )
        assert await lost_bindings(uri, load.phones) == []
        assert await asyncio.to_thread(healthz, node) == 200
        fetched = [
            await asyncio.to_thread(fetch_config, node, phone.mac_address) for phone in phones
        ]
        assert fetched == [200] * len(fetched)
        created: list[str] = []
        statuses = await register_new_phone(node, customer, extension, model, created)
        assert statuses == [200] * len(statuses), statuses
        # the event stream opened before the outage goes on: it delivers the new phone's
        # registration (its fan-out listens again and reads the event log from where it was)
        reader = SseReader(events)
        deadline = time.monotonic() + 10
        while True:
            message = await reader.event(timeout=max(0.1, deadline - time.monotonic()))
            if message.json.get("phone") == created[0] and message.event == "phone.registered":
                break
    finally:
        events.close()
        await session.close()
