"""`POST /api/presence/{number}` against the real app and a real PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from tests.support import factories
from tests.support.database import bearer, insert_token


async def setup_customer(pool: asyncpg.Pool[Any]) -> tuple[str, str, str, str]:
    async with pool.acquire() as conn:
        customer = await factories.customer(conn, "Acme")
        ext = await factories.extension(conn, customer, "101")
        manager = await insert_token(conn, "MANAGER", customer_id=customer)
        viewer = await insert_token(conn, "VIEWER", customer_id=customer)
    return customer, ext, manager, viewer


async def test_pbx_pushes_a_call_and_a_late_early_is_dropped(api: Any, pool: Any) -> None:
    _, ext, manager, _ = await setup_customer(pool)
    listener = await asyncpg.connect(pool._connect_args[0] if pool._connect_args else "")
    heard: asyncio.Queue[str] = asyncio.Queue()
    await listener.add_listener("sipfleet_presence", lambda *args: heard.put_nowait(args[3]))
    try:
        seen = []
        for state in ("trying", "early", "confirmed", "terminated", "early"):
            body = {"state": state, "direction": "recipient", "remote": "sip:0301234@pbx",
                    "callId": "call-1"}  # fmt: skip
            response = await api.post("/api/presence/101", json=body, headers=bearer(manager))
            assert response.status == 200, await response.text()
            seen.append(await response.json())
        assert [item["applied"] for item in seen] == [True, True, True, True, False]
        assert [item["seq"] for item in seen] == [1, 2, 3, 4, 4]
        assert seen[2]["calls"] == [{"callId": "call-1", "state": "confirmed",
                                     "direction": "recipient", "remote": "sip:0301234@pbx"}]  # fmt: skip
        assert seen[4]["calls"][0]["state"] == "terminated"
        payloads = [await asyncio.wait_for(heard.get(), 2) for _ in range(4)]
        assert payloads == [f"{ext}:{n}" for n in (1, 2, 3, 4)]
        async with pool.acquire() as conn:
            events = await conn.fetch("SELECT type, details FROM events ORDER BY id")
        assert [row["type"] for row in events] == ["presence.changed"] * 4
        assert events[-1]["details"]["extension"] == "101"
    finally:
        await listener.close()


async def test_line_without_call_id_alternates(api: Any, pool: Any) -> None:
    _, _, manager, _ = await setup_customer(pool)
    for state in ("confirmed", "terminated", "confirmed", "terminated"):
        response = await api.post("/api/presence/101", json={"state": state},
                                  headers=bearer(manager))  # fmt: skip
        body = await response.json()
        assert body["applied"] and body["calls"][0]["state"] == state


async def test_voicemail_count(api: Any, pool: Any) -> None:
    _, ext, manager, _ = await setup_customer(pool)
    response = await api.post("/api/presence/101", json={"voicemail": {"new": 2, "old": 1}},
                              headers=bearer(manager))  # fmt: skip
    assert response.status == 200 and (await response.json())["applied"]
    async with pool.acquire() as conn:
        stored = await conn.fetchval("SELECT state FROM presence_state WHERE extension_id=$1", ext)
    assert stored["voicemail"] == {"new": 2, "old": 1}


async def test_bad_requests_change_nothing(api: Any, pool: Any) -> None:
    _, _, manager, viewer = await setup_customer(pool)
    cases = [
        ({"state": "ringing"}, manager, 422, "state"),
        ({}, manager, 422, "state"),
        ({"state": "early", "direction": "sideways"}, manager, 422, "direction"),
        ({"state": "early", "remote": "http://x"}, manager, 422, "remote"),
        ({"state": "early", "callId": ""}, manager, 422, "callId"),
        ({"state": "early", "colour": "red"}, manager, 422, "colour"),
        ({"voicemail": {"new": -1}}, manager, 422, "voicemail"),
        ({"state": "early"}, viewer, 403, "access_denied"),
    ]
    for body, token, code, message in cases:
        response = await api.post("/api/presence/101", json=body, headers=bearer(token))
        assert response.status == code, body
        assert (await response.json())["message"] == message
    response = await api.post("/api/presence/101", json={"state": "early"})
    assert response.status == 401
    response = await api.post("/api/presence/101", data=b"[", headers=bearer(manager))
    assert response.status == 422
    for number in ("999", "12"):
        response = await api.post(f"/api/presence/{number}", json={"state": "early"},
                                  headers=bearer(manager))  # fmt: skip
        assert response.status == 404
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM presence_state") == 0
        assert await conn.fetchval("SELECT count(*) FROM events") == 0


async def test_another_tenant_and_ambiguous_number(api: Any, pool: Any, admin_token: str) -> None:
    _, _, manager, _ = await setup_customer(pool)
    async with pool.acquire() as conn:
        other = await factories.customer(conn, "Other")
        await factories.extension(conn, other, "101")
        await factories.extension(conn, other, "202")
    response = await api.post("/api/presence/202", json={"state": "early"}, headers=bearer(manager))
    assert response.status == 404
    response = await api.post("/api/presence/101", json={"state": "early", "customer": other},
                              headers=bearer(manager))  # fmt: skip
    assert response.status == 404
    response = await api.post("/api/presence/101", json={"state": "early"},
                              headers=bearer(admin_token))  # fmt: skip
    assert response.status == 422 and (await response.json())["message"] == "customer"
    response = await api.post("/api/presence/101", json={"state": "early", "customer": other},
                              headers=bearer(admin_token))  # fmt: skip
    assert response.status == 200 and (await response.json())["customer"] == other
