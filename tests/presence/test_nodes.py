"""Two real `sipfleet serve` processes on one database: a change on one node reaches a
watcher subscribed on the other within a second; a restarted node resumes its
subscriptions (the NOTIFY continues the same dialog with higher CSeq and version)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.presence import seed
from tests.support.processes import SipfleetProcess, free_port, start_sipfleet
from tests.support.sip_client import SipClient as Endpoint


async def start(tmp: Path, name: str, database_url: str, **ports: int) -> SipfleetProcess:
    env = {"SIPFLEET_DATABASE_URL": database_url, "SIPFLEET_KEEPALIVE_INTERVAL": "0"}
    return await asyncio.to_thread(
        start_sipfleet, tmp / name / "data", env=env, sip_transports=("udp",), **ports
    )


async def post(node: SipfleetProcess, token: str, **body: Any) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{node.base_url}/api/presence/101", json=body,
                                headers={"Authorization": f"Bearer {token}"}) as response:  # fmt: skip
            assert response.status == 200, await response.text()


async def test_cross_node_and_restart(tmp_path: Path, database_url: str) -> None:
    data = await seed(database_url)
    sip_a, http_a = free_port(), free_port()
    node_a = await start(tmp_path, "a", database_url, sip_port=sip_a, http_port=http_a)
    node_b = await start(tmp_path, "b", database_url)
    endpoints: list[Endpoint] = []
    try:
        watcher = await Endpoint(data["watcher"].username, data["watcher"].password,
                                 ("127.0.0.1", node_a.sip_port)).open()  # fmt: skip
        endpoints.append(watcher)
        response, _ = await watcher.subscribe("101", event="dialog")
        assert response.status == 200
        await watcher.next_notify()
        presence, _ = await watcher.subscribe("101", event="presence")
        assert presence.status == 200
        assert b"<basic>closed</basic>" in (await watcher.next_notify()).body

        # a call pushed to node B reaches the watcher on node A within a second
        t0 = time.monotonic()
        await post(node_b, data["token"], state="confirmed", callId="x1")
        confirmed = await watcher.next_notify(timeout=1.0, event="dialog")
        assert confirmed.dialog_states == ["confirmed"]
        assert time.monotonic() - t0 < 1.0

        # the desk phone registers on node B: presence on node A turns open
        desk = await Endpoint(data["desk"].username, data["desk"].password,
                              ("127.0.0.1", node_b.sip_port), local_ip="127.0.1.9").open()  # fmt: skip
        endpoints.append(desk)
        t0 = time.monotonic()
        assert (await desk.register(expires=300)).status == 200
        await watcher.notify_until(lambda m: b"<basic>open</basic>" in m.body, 1.0, "presence")
        assert time.monotonic() - t0 < 1.0

        # restart node A: its subscriptions are resumed, not lost
        await asyncio.sleep(0.3)
        while not watcher.notifies.empty():
            watcher.notifies.get_nowait()
        before = confirmed.cseq
        await asyncio.to_thread(node_a.stop)
        node_a = await start(tmp_path, "a", database_url, sip_port=sip_a, http_port=http_a)
        dialog = await watcher.next_notify(timeout=5.0, event="dialog")
        assert dialog.h("subscription-state").startswith("active")
        assert dialog.cseq > before
        assert dialog.dialog_states == ["confirmed"]
        await post(node_b, data["token"], state="terminated", callId="x1")
        ended = await watcher.next_notify(timeout=1.0, event="dialog")
        assert ended.dialog_states == ["terminated"]
        assert ended.cseq > dialog.cseq and (ended.version or 0) > (dialog.version or 0)

        # a crash (kill -9: no checkpoint at stop) resumes too, CSeq still going up
        node_a.process.kill()
        await asyncio.to_thread(node_a.process.wait)
        await post(node_b, data["token"], state="early", callId="x2")  # while A is down
        node_a = await start(tmp_path, "a", database_url, sip_port=sip_a, http_port=http_a)
        after_crash = await watcher.next_notify(timeout=5.0, event="dialog")
        assert after_crash.cseq > ended.cseq
        assert after_crash.dialog_states == ["early"]  # the state it missed while down
    finally:
        for endpoint in endpoints:
            endpoint.close()
        await asyncio.to_thread(node_a.stop)
        await asyncio.to_thread(node_b.stop)
