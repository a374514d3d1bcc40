"""The network to PostgreSQL drops packets (nothing refused, nothing reset) for a few
seconds: `sipfleet serve` (two workers) reaches PostgreSQL through a proxy that stops
forwarding. REGISTERs are answered 503 with Retry-After within the writer's 5 s limit
(not left unanswered until the connection's 30 s command timeout, past a phone's own
32 s transaction timeout), /healthz says 503; when the network is back every phone
registers again within seconds and no 200 is lost."""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.blackhole import BlackHoleProxy
from tests.support.outage import (
    DATABASE,
    RegisterLoad,
    create_database,
    healthz,
    lost_bindings,
    make_phones,
    start_node,
)
from tests.support.pgcluster import PgCluster, PgServer
from tests.support.processes import SipfleetProcess, free_port

PHONES = 20
CUT_SECONDS = 10.0
ANSWER_WITHIN = 8.0  # the writer's 5 s for the batch ahead, then 1.5 s while failing


def _fetch(node: SipfleetProcess, mac: str) -> tuple[int, str | None, float]:
    """(status, Retry-After, seconds) of a Yealink's fetch of its per-MAC file."""
    ua = "Yealink SIP-T54W 96.86.0.100 " + ":".join(mac[i : i + 2] for i in range(0, 12, 2))
    request = urllib.request.Request(
        f"{node.base_url}/prov/{mac.lower()}.cfg", headers={"User-Agent": ua.lower()}
    )
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=40) as response:
            return int(response.status), None, time.monotonic() - started
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.headers.get("Retry-After"), time.monotonic() - started


@pytest.fixture
async def postgres() -> AsyncIterator[PgServer]:
    cluster = PgCluster()
    try:
        server = cluster.server("pg", free_port()).init()
        await asyncio.to_thread(server.start)
        await create_database(server.uri())
        yield server
    finally:
        await asyncio.to_thread(cluster.close)


@pytest.fixture
async def proxy(postgres: PgServer) -> AsyncIterator[BlackHoleProxy]:
    running = await BlackHoleProxy(("127.0.0.1", postgres.port)).start()
    try:
        yield running
    finally:
        await running.close()


@pytest.fixture
async def node(tmp_path: Path, proxy: BlackHoleProxy) -> AsyncIterator[SipfleetProcess]:
    url = f"postgresql://postgres@{proxy.host}/{DATABASE}"
    running = await asyncio.to_thread(start_node, tmp_path / "node", url)
    try:
        yield running
    finally:
        await asyncio.to_thread(running.stop)
        assert "Traceback" not in running.log(), running.log()


async def test_registers_are_answered_503_while_the_database_does_not_answer(
    node: SipfleetProcess, proxy: BlackHoleProxy, postgres: PgServer
) -> None:
    _, _, _, phones = await make_phones(postgres.uri(DATABASE), PHONES)
    load = RegisterLoad(node, phones, timeout=32.0)
    await load.start()
    try:
        # every phone registered once (a first registration locks its OPEN phone: the
        # IP gate's own write, not the binding writer's)
        start = time.monotonic()
        while load.all_ok_after(0) is None and time.monotonic() - start < 10:
            await asyncio.sleep(0.1)
        assert load.all_ok_after(0) is not None, load.statuses()
        proxy.cut = True
        cut = time.monotonic()
        # a phone's configuration fetch meanwhile: 503 with Retry-After within the file
        # server's 5 s read limit, not after the connection's 30 s command timeout
        fetch, _ = await asyncio.gather(
            asyncio.to_thread(_fetch, node, phones[0].mac_address), asyncio.sleep(CUT_SECONDS - 2.0)
        )
        health = await asyncio.to_thread(healthz, node)
        await asyncio.sleep(2.0)
        proxy.cut = False
        back = time.monotonic()
        while load.all_ok_after(back) is None and time.monotonic() - back < 15:
            await asyncio.sleep(0.1)
        recovered = load.all_ok_after(back)
        await asyncio.sleep(0.5)
        # and fetches are served again (the connection whose read timed out, or its
        # replacement): a couple of tries, as a phone retries after Retry-After
        after = [await asyncio.to_thread(_fetch, node, phones[1].mac_address) for _ in range(3)]
    finally:
        await load.stop()
    assert health == 503
    status, retry_after, took = fetch
    assert (status, retry_after is not None) == (503, True) and took < ANSWER_WITHIN, fetch
    assert after[-1][0] == 200, after
    # every REGISTER begun while the network was cut was answered 503 (with Retry-After)
    # within ANSWER_WITHIN seconds
    begun = [a for p in load.phones for a in p.attempts if cut < a.sent and a.at < back]
    assert begun and {a.status for a in begun} == {503}, {a.status for a in begun}
    assert max(a.at - a.sent for a in begun) < ANSWER_WITHIN
    assert sum(phone.no_retry_after for phone in load.phones) == 0
    assert recovered is not None, load.statuses(back)
    print(f"every phone registered again {recovered - back:.2f} s after the network came back")
    assert await lost_bindings(postgres.uri(DATABASE), load.phones) == []
