"""A real phone (pjsua2) registering to a real `sipfleet serve`: the event stream, the
dashboard in headless Chromium and /metrics all see it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support import factories
from tests.support.browser import artifact, chromium_page, needs_chromium
from tests.support.database import bearer
from tests.support.live import Tenants
from tests.support.processes import SipfleetProcess, start_sipfleet
from tests.support.sse import SseReader

pytestmark = pytest.mark.pjsua

GOOD_IP = "127.0.1.31"
BAD_IP = "127.0.1.32"


@pytest.fixture
def node(tmp_path: Path, database_url: str) -> Iterator[SipfleetProcess]:
    running = start_sipfleet(
        tmp_path / "node", env={"SIPFLEET_DATABASE_URL": database_url}, sip_transports=("udp",)
    )
    try:
        yield running
    finally:
        running.stop()


def pj_phone(
    phone: factories.TestPhone, node: SipfleetProcess, local_ip: str, password: str = ""
) -> Any:
    from tests.support.pjsua import PjPhone

    return PjPhone(
        phone.username,
        password or phone.password,
        f"sip:127.0.0.1:{node.sip_port}",
        local_ip=local_ip,
        expires=120,
        user_agent="Yealink SIP-T54W 96.86.0.70",
    )


async def locked_phones(
    pool: Any, tenants: Tenants
) -> tuple[factories.TestPhone, factories.TestPhone]:
    """Phone A locked to the address it registers from; phone B locked elsewhere."""
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE sip_phones SET ip_mode = 'LOCKED', ip_address = $2 WHERE id = $1",
            tenants.phone_a.id,
            GOOD_IP,
        )
        await conn.execute(
            "UPDATE sip_phones SET ip_mode = 'LOCKED', ip_address = '127.0.9.9' WHERE id = $1",
            tenants.phone_b.id,
        )
    return tenants.phone_a, tenants.phone_b


def collapse(kinds: list[str]) -> list[str]:
    """Consecutive repeats once (a phone may retry a refused request)."""
    return [kind for i, kind in enumerate(kinds) if i == 0 or kinds[i - 1] != kind]


async def read_phone_events(
    reader: SseReader, ids: set[str], until: str, timeout: float = 20
) -> list[Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    found = []
    while True:
        message = await reader.event(timeout=max(0.1, deadline - loop.time()))
        body = message.json
        if body["phone"] in ids and body["type"].startswith("phone."):
            found.append(body)
            if body["type"] == until:
                return found


def metric(text: str, family: str, sample: str, **labels: str) -> float:
    for item in text_string_to_metric_families(text):
        if item.name == family:
            for s in item.samples:
                if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
                    return float(s.value)
    return 0.0


async def test_stream_and_metrics_follow_a_real_registration(
    node: SipfleetProcess, pool: Any, tenants: Tenants
) -> None:
    good_record, bad_record = await locked_phones(pool, tenants)
    async with aiohttp.ClientSession() as session:
        before = await (await session.get(node.base_url + "/metrics")).text()
        response = await session.get(node.base_url + "/api/events", headers=bearer(tenants.admin))
        reader = SseReader(response)
        await reader.message()
        good = pj_phone(good_record, node, GOOD_IP)
        bad = pj_phone(bad_record, node, BAD_IP)
        try:
            assert await asyncio.to_thread(good.register, 10) == 200
            assert await asyncio.to_thread(bad.register, 10) == 403
            code = await asyncio.to_thread(good.unregister, 10)
            assert code == 200, node.log()[-3000:]
            events = await read_phone_events(
                reader, {good_record.id, bad_record.id}, "phone.unregistered"
            )
        finally:
            await asyncio.to_thread(good.close)
            await asyncio.to_thread(bad.close)
            response.close()
        assert collapse([e["type"] for e in events]) == [
            "phone.registered",
            "phone.denied",
            "phone.unregistered",
        ]
        ids = [e["id"] for e in events]
        assert ids == sorted(ids)
        registered = events[0]
        assert registered["phone"] == good_record.id and registered["customer"] == tenants.a
        assert registered["details"]["userAgent"] == "Yealink SIP-T54W 96.86.0.70"
        denied = next(e for e in events if e["type"] == "phone.denied")
        assert denied["phone"] == bad_record.id and denied["customer"] == tenants.b

        after = await (await session.get(node.base_url + "/metrics")).text()
    ok = ("sipfleet_registrations", "sipfleet_registrations_total")
    assert metric(after, *ok, result="ok") == metric(before, *ok, result="ok") + 1
    unregistered = metric(after, *ok, result="unregistered")
    assert unregistered >= metric(before, *ok, result="unregistered") + 1
    denials = ("sipfleet_gate_denials", "sipfleet_gate_denials_total")
    assert metric(after, *denials, channel="sip") > metric(before, *denials, channel="sip")


@pytest.mark.browser
@needs_chromium
async def test_dashboard_shows_a_real_phone_go_online_and_offline(
    node: SipfleetProcess, pool: Any, tenants: Tenants
) -> None:
    record, _ = await locked_phones(pool, tenants)
    row = f"[data-phone-id='{record.id}']"
    phone = pj_phone(record, node, GOOD_IP)
    try:
        async with chromium_page() as page:
            await page.goto(node.base_url + "/")
            await page.fill("#token", tenants.token_a)
            await page.click("#signin button[type=submit]")
            await page.wait_for_selector("body[data-loaded=true]")
            await page.wait_for_selector("#live[data-state=on]")
            assert await page.get_attribute(row, "data-state") == "offline"

            assert await asyncio.to_thread(phone.register, 10) == 200
            await page.wait_for_selector(f"{row}[data-state=online]")
            await page.wait_for_selector(f"{row} span:nth-child(9) >> text='{GOOD_IP}'")
            assert "Yealink SIP-T54W" in await page.inner_text(row)
            await page.screenshot(path=str(artifact("dashboard-pjsua-online.png")), full_page=True)

            assert await asyncio.to_thread(phone.unregister, 10) == 200
            await page.wait_for_selector(f"{row}[data-state=offline]")
            await page.wait_for_selector("#events li .type[data-kind='phone.unregistered']")
            kinds = await page.locator("#events li .type").all_inner_texts()
            phone_kinds = [kind for kind in kinds if kind.startswith("phone.")]
            assert phone_kinds[:2] == ["phone.unregistered", "phone.registered"]
            await page.screenshot(path=str(artifact("dashboard-pjsua-offline.png")), full_page=True)
    finally:
        await asyncio.to_thread(phone.close)
