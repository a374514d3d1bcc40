"""The live view inside real `sipfleet serve` processes sharing one database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from db.events import append_event
from tests.support.database import bearer
from tests.support.live import Tenants
from tests.support.processes import SipfleetProcess, start_sipfleet
from tests.support.sse import SseReader


@pytest.fixture
def nodes(tmp_path: Path, database_url: str) -> Iterator[list[SipfleetProcess]]:
    """Two nodes on one database, as in a multi-node setup."""
    env = {"SIPFLEET_DATABASE_URL": database_url}
    started: list[SipfleetProcess] = []
    try:
        for name in ("node1", "node2"):
            started.append(start_sipfleet(tmp_path / name, env=env))
        yield started
    finally:
        for node in started:
            node.stop()


async def test_an_event_from_one_node_reaches_streams_on_every_node(
    nodes: list[SipfleetProcess], pool: Any, tenants: Tenants
) -> None:
    async with aiohttp.ClientSession() as session:
        readers: list[SseReader] = []
        try:
            await _cross_node(session, nodes, pool, tenants, readers)
        finally:
            for reader in readers:
                reader.response.close()


async def _cross_node(
    session: aiohttp.ClientSession,
    nodes: list[SipfleetProcess],
    pool: Any,
    tenants: Tenants,
    readers: list[SseReader],
) -> None:
    for node in nodes:
        response = await session.get(node.base_url + "/api/events", headers=bearer(tenants.token_a))
        assert response.status == 200
        readers.append(SseReader(response))
        await readers[-1].message()  # the greeting: the stream is subscribed
    # appended through the test's own connection: neither node wrote it
    async with pool.acquire() as conn:
        event = await append_event(
            conn, "phone.registered", phone_id=tenants.phone_a.id, customer_id=tenants.a
        )
        await append_event(
            conn, "phone.registered", phone_id=tenants.phone_b.id, customer_id=tenants.b
        )
    for reader in readers:
        message = await reader.event(timeout=10)
        assert message.id == str(event.id)
        assert message.json["phone"] == tenants.phone_a.id
        await reader.no_event(0.3)  # B's event is not for A's token

    # /metrics of a real node parses and counts the events it fanned out
    async with session.get(nodes[1].base_url + "/metrics") as response:
        assert response.status == 200
        text = await response.text()
    families = {family.name: family for family in text_string_to_metric_families(text)}
    counted = {
        sample.labels["type"]: sample.value
        for sample in families["sipfleet_events"].samples
        if sample.name == "sipfleet_events_total"
    }
    assert counted["phone.registered"] == 2
    pool_states = {s.labels["state"] for s in families["sipfleet_db_pool_connections"].samples}
    assert pool_states == {"in_use", "idle", "max"}
    for node in nodes:  # a clean, prompt stop with streams open
        assert node.stop(timeout=8) == 0
