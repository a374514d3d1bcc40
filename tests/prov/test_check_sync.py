"""Reprovision and reboot: SIP NOTIFY `Event: check-sync` through the real registrar to a
test phone registered over UDP and over TCP (a hand-written endpoint that records the
NOTIFY and answers 200), the answer per contact, not registered, and the timeout case."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from tests.support import factories
from tests.support.database import bearer, insert_token
from tests.support.phones import new_phone
from tests.support.sip_client import SipClient


def _sip_address(prov: Any, transport: str) -> tuple[str, int]:
    for kind, host, port in prov.hub.sip.addresses():
        if kind == transport:
            return host, port
    raise LookupError(transport)


async def _phone(pool: asyncpg.Pool[Any], mac: str) -> tuple[factories.TestPhone, str]:
    phone = await new_phone(pool, customer_name=f"C{mac}", model="yealink-t54w", mac_address=mac)
    async with pool.acquire() as conn:
        token = await insert_token(conn, "MANAGER", customer_id=phone.customer_id)
    return phone, token


async def test_reprovision_and_reboot_reach_udp_and_tcp_contacts(
    prov_sip: Any, pool: asyncpg.Pool[Any]
) -> None:
    phone, token = await _phone(pool, "0015654AA937")
    endpoints = [
        SipClient(phone.username, phone.password, _sip_address(prov_sip, t), t, algorithm="MD5")
        for t in ("udp", "tcp")
    ]
    try:
        for endpoint in endpoints:
            await endpoint.open()
            assert await endpoint.register_status(attempts=20, timeout=5.0) == 200
        response = await prov_sip.post(
            "/api/phones/00:15:65:4a:a9:37/reprovision", headers=bearer(token)
        )
        assert response.status == 200
        body = await response.json()
        [result] = body["results"]
        assert result["phone"] == phone.id and result["registered"] is True
        contacts = sorted(result["contacts"], key=lambda c: c["transport"])
        assert [(c["transport"], c["status"], c["outcome"]) for c in contacts] == [
            ("tcp", 200, "ok"),
            ("udp", 200, "ok"),
        ]
        for endpoint in endpoints:
            [notify] = endpoint.received_notifies
            assert notify.first.startswith("NOTIFY sip:")
            assert notify.headers["event"] == ["check-sync"]
        reboot = await prov_sip.post("/api/phones/0015654AA937/reboot", headers=bearer(token))
        assert reboot.status == 200 and (await reboot.json())["reboot"] is True
        for endpoint in endpoints:
            assert endpoint.received_notifies[-1].headers["event"] == ["check-sync;reboot=true"]
        every = await prov_sip.post("/api/phones/reprovision", headers=bearer(token))
        summary = await every.json()
        assert summary["phones"] == 1 and summary["summary"] == {"ok": 2}
    finally:
        for endpoint in endpoints:
            endpoint.close()


async def test_not_registered_and_timeout(prov_sip: Any, pool: asyncpg.Pool[Any]) -> None:
    phone, token = await _phone(pool, "0015654AA940")
    idle = await prov_sip.post("/api/phones/0015654AA940/reprovision", headers=bearer(token))
    assert (await idle.json())["results"] == [
        {"phone": phone.id, "registered": False, "contacts": []}
    ]
    silent = SipClient(
        phone.username, phone.password, _sip_address(prov_sip, "udp"), notify_status=0
    )
    await silent.open()
    try:
        assert await silent.register_status(attempts=20, timeout=5.0) == 200
        started = asyncio.get_running_loop().time()
        response = await prov_sip.post("/api/phones/0015654AA940/reboot", headers=bearer(token))
        [result] = (await response.json())["results"]
        [contact] = result["contacts"]
        assert contact["status"] is None and contact["outcome"] == "timeout"
        assert len(silent.received_notifies) >= 2  # retransmitted over UDP (RFC 3261 §17.1.2.2)
        assert asyncio.get_running_loop().time() - started < 35
    finally:
        silent.close()
