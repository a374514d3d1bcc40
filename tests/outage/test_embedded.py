"""The default setup: `sipfleet serve` (two workers) with its embedded PostgreSQL. When
that PostgreSQL is killed under registration load (postmaster and backends, as the OOM
killer or a crash would leave it), sipfleet starts it again by itself: registrations
are answered 503 meanwhile and 200 again within seconds, and no 200 is lost."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import psutil
import pytest

from db.embedded import running_embedded
from tests.support.outage import RegisterLoad, healthz, lost_bindings, make_phones
from tests.support.pgcluster import kill_all
from tests.support.processes import SipfleetProcess, start_sipfleet

PHONES = 20
RECOVERY_LIMIT = 15.0


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[SipfleetProcess]:
    running = await asyncio.to_thread(
        start_sipfleet, tmp_path / "data", workers="2",
        env={"SIPFLEET_AUTH_FAILURE_LIMIT": "100000"},
    )  # fmt: skip
    try:
        yield running
    finally:
        running.stop()
        assert "Traceback" not in running.log(), running.log()


def _kill(data_dir: Path) -> None:
    pid = int((data_dir / "postgres" / "postmaster.pid").read_text().split("\n", 1)[0])
    postmaster = psutil.Process(pid)
    kill_all([postmaster, *postmaster.children(recursive=True)])


async def test_the_embedded_postgres_is_started_again(node: SipfleetProcess) -> None:
    embedded = running_embedded(node.data_dir)
    assert embedded is not None
    _, _, _, phones = await make_phones(embedded.uri, PHONES)
    load = RegisterLoad(node, phones)
    await load.start()
    try:
        await asyncio.sleep(1.0)
        assert load.statuses()[200] > PHONES, load.statuses()
        killed = time.monotonic()
        await asyncio.to_thread(_kill, node.data_dir)
        while time.monotonic() - killed < RECOVERY_LIMIT:
            refusals = [a.at for p in load.phones for a in p.attempts
                        if a.at >= killed and a.status == 503]  # fmt: skip
            if refusals and load.all_ok_after(max(refusals)) is not None:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)
    finally:
        await load.stop()
    assert refusals, load.statuses(killed)  # the outage was seen: 503s
    recovered = load.all_ok_after(max(refusals))
    assert recovered is not None, load.statuses(killed)
    print(
        f"503s from {min(refusals) - killed:.2f} s to {max(refusals) - killed:.2f} s after "
        f"the kill; every phone registered again {recovered - killed:.2f} s after it"
    )
    assert sum(phone.no_retry_after for phone in load.phones) == 0
    assert await lost_bindings(embedded.uri, load.phones) == []
    assert await asyncio.to_thread(healthz, node) == 200
    assert "starting it again" in node.log()
