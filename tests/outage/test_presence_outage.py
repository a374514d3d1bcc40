"""Presence while PostgreSQL is down, with `sipfleet serve` as a real process. What
changes presence is committed first, so during the outage the PBX's call state push is
refused (503) and no NOTIFY goes out for it; SUBSCRIBEs, new or refreshing, get 503 with
Retry-After. After PostgreSQL's return the subscription made before the outage is still
there: a call state pushed to the API reaches the watcher within a second (the presence
LISTEN is back), and it refreshes as new subscriptions are made."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from tests.support import factories
from tests.support.database import insert_token
from tests.support.outage import DATABASE, start_node
from tests.support.pgcluster import PgServer
from tests.support.processes import SipfleetProcess
from tests.support.sip_client import SipClient


@pytest.fixture
async def node(tmp_path: Path, postgres: PgServer) -> AsyncIterator[SipfleetProcess]:
    running = await asyncio.to_thread(
        start_node, tmp_path / "node", postgres.uri(DATABASE), workers="1"
    )
    try:
        yield running
    finally:
        running.stop()
        assert "Traceback" not in running.log(), running.log()


async def _seed(uri: str) -> dict[str, Any]:
    conn = await asyncpg.connect(uri)
    try:
        customer = await factories.customer(conn, "Acme")
        ext101 = await factories.extension(conn, customer, "101")
        ext102 = await factories.extension(conn, customer, "102")
        watcher = await factories.phone(conn, customer, extension_id=ext102)
        await factories.phone(conn, customer, extension_id=ext101)
        token = await insert_token(conn, "MANAGER", customer_id=customer)
    finally:
        await conn.close()
    return {"watcher": watcher, "token": token}


async def _push(node: SipfleetProcess, token: str, **body: Any) -> int:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{node.base_url}/api/presence/101", json=body,
                                headers={"Authorization": f"Bearer {token}"}) as response:  # fmt: skip
            return response.status


async def test_presence_across_an_outage(node: SipfleetProcess, postgres: PgServer) -> None:
    data = await _seed(postgres.uri(DATABASE))
    watcher = await SipClient(data["watcher"].username, data["watcher"].password,
                             ("127.0.0.1", node.sip_port)).open()  # fmt: skip
    try:
        response, sub = await watcher.subscribe("101", event="dialog")
        assert response.status == 200
        await watcher.next_notify(event="dialog")
        assert await _push(node, data["token"], state="confirmed", callId="c1") == 200
        assert (await watcher.next_notify(event="dialog")).dialog_states == ["confirmed"]

        await asyncio.to_thread(postgres.stop, "fast")
        await asyncio.sleep(0.5)
        pushed = await _push(node, data["token"], state="terminated", callId="c1")
        refreshed = await watcher.resubscribe(sub, 600)
        fresh, _ = await watcher.subscribe("101", event="presence")
        await asyncio.sleep(0.5)
        assert pushed == 503
        for answer in (refreshed, fresh):  # try again later, not a 500
            assert answer.status == 503 and answer.h("retry-after"), answer
        assert watcher.notifies.empty()  # nothing changed: the push was refused
        await asyncio.to_thread(postgres.start)
        await asyncio.sleep(1.5)

        t0 = time.monotonic()
        assert await _push(node, data["token"], state="early", callId="c2") == 200
        notify = await watcher.next_notify(timeout=1.0, event="dialog")
        assert notify.dialog_states == ["confirmed", "early"]  # c1 was never ended
        assert time.monotonic() - t0 < 1.0
        response, _ = await watcher.subscribe("101", event="presence")
        assert response.status == 200
        assert (await watcher.resubscribe(sub, 600)).status == 200
    finally:
        watcher.close()
