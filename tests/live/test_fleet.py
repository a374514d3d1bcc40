"""/api/fleet/*: counts per customer, phones with live status, latest events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from db.events import append_event
from tests.support import factories
from tests.support.database import bearer, insert_token
from tests.support.live import Tenants


async def set_status(
    conn: Any,
    phone_id: str,
    *,
    online: bool,
    seconds: int = 120,
    unreachable: bool = False,
    user_agent: str = "Yealink SIP-T54W 96.86.0.70",
) -> None:
    await conn.execute(
        """UPDATE phone_status SET online = $2, expires_at = $3, unreachable = $4,
               local_ip = '192.168.1.20', public_ip = '127.0.0.1', user_agent = $5,
               transport = 'udp', updated = now()
           WHERE phone_id = $1""",
        phone_id,
        online,
        datetime.now(UTC) + timedelta(seconds=seconds) if online else None,
        unreachable,
        user_agent,
    )


async def test_summary_counts_each_state_per_customer(
    live: Any, pool: Any, tenants: Tenants
) -> None:
    async with pool.acquire() as conn:
        extra = [await factories.phone(conn, tenants.a) for _ in range(3)]
        await set_status(conn, tenants.phone_a.id, online=True)
        await set_status(conn, extra[0].id, online=True, unreachable=True)
        await set_status(conn, extra[1].id, online=True, seconds=-5)  # expired: offline
        empty = await factories.customer(conn, "Charlie")
    response = await live.get("/api/fleet/summary", headers=bearer(tenants.admin))
    body = await response.json()
    by_name = {item["name"]: item for item in body["items"]}
    assert by_name["Alpha"] == {
        "customer": tenants.a,
        "name": "Alpha",
        "total": 4,
        "online": 1,
        "offline": 2,
        "unreachable": 1,
    }
    assert by_name["Bravo"]["offline"] == 1
    assert by_name["Charlie"] == {
        "customer": empty,
        "name": "Charlie",
        "total": 0,
        "online": 0,
        "offline": 0,
        "unreachable": 0,
    }
    assert body["totals"] == {"total": 5, "online": 1, "offline": 3, "unreachable": 1}

    response = await live.get("/api/fleet/summary", headers=bearer(tenants.token_b))
    assert [item["name"] for item in (await response.json())["items"]] == ["Bravo"]


async def test_phones_carry_live_status(live: Any, pool: Any, tenants: Tenants) -> None:
    async with pool.acquire() as conn:
        await set_status(conn, tenants.phone_a.id, online=True, seconds=90)
        await conn.execute(
            "UPDATE sip_phones SET config_loaded = now() WHERE id = $1", tenants.phone_a.id
        )
    response = await live.get("/api/fleet/phones", headers=bearer(tenants.token_a))
    body = await response.json()
    assert body["next"] is None
    [phone] = body["items"]
    assert phone["_id"] == tenants.phone_a.id
    assert phone["extension"] == "101" and phone["extensionName"] == "Alice"
    assert phone["macAddress"] == "0015650000A1" and phone["ipMode"] == "OPEN"
    assert phone["state"] == "online"
    status = phone["status"]
    assert status["online"] is True
    assert 80 <= status["expires"] <= 90
    assert status["localIpAddress"] == "192.168.1.20"
    assert status["publicIpAddress"] == "127.0.0.1"
    assert status["userAgent"].startswith("Yealink")
    assert status["configLoaded"].endswith("Z")


async def test_paging_filters_and_scope(live: Any, pool: Any, tenants: Tenants) -> None:
    async with pool.acquire() as conn:
        for _ in range(5):
            await factories.phone(conn, tenants.a)
        await set_status(conn, tenants.phone_a.id, online=True, user_agent="snom D785/10.1")
        reseller = await factories.reseller(conn)
        await conn.execute(
            "UPDATE customers SET reseller_id = $1 WHERE id = $2", reseller, tenants.b
        )
        reseller_token = await insert_token(conn, "RESELLER", reseller_id=reseller)
    seen: list[str] = []
    after = ""
    for _ in range(10):
        response = await live.get(
            f"/api/fleet/phones?limit=2&after={after}", headers=bearer(tenants.admin)
        )
        page = await response.json()
        seen += [item["_id"] for item in page["items"]]
        if page["next"] is None:
            break
        after = page["next"]
    assert len(seen) == 7 and seen == sorted(seen)

    async def ids(query: str, token: str = tenants.admin) -> list[str]:
        response = await live.get("/api/fleet/phones?" + query, headers=bearer(token))
        assert response.status == 200, await response.text()
        return [item["_id"] for item in (await response.json())["items"]]

    assert await ids("state=online") == [tenants.phone_a.id]
    assert await ids("q=SNOM") == [tenants.phone_a.id]
    assert await ids("q=bob") == [tenants.phone_b.id]
    assert await ids("q=0015650000b1") == [tenants.phone_b.id]
    assert await ids("q=%25") == []  # wildcards are literal
    assert await ids(f"customer={tenants.b}") == [tenants.phone_b.id]
    assert await ids(f"ids={tenants.phone_a.id},{tenants.phone_b.id}") == sorted(
        [tenants.phone_a.id, tenants.phone_b.id]
    )
    assert await ids("", reseller_token) == [tenants.phone_b.id]
    assert await ids(f"ids={tenants.phone_a.id}", tenants.token_b) == []  # not B's


async def test_bad_filters_are_refused_together(live: Any, tenants: Tenants) -> None:
    response = await live.get(
        "/api/fleet/phones?state=dancing&limit=0&after=xyz", headers=bearer(tenants.admin)
    )
    assert response.status == 422
    body = await response.json()
    assert body["message"] == "limit"
    response = await live.get(
        "/api/fleet/phones?state=dancing&after=xyz", headers=bearer(tenants.admin)
    )
    body = await response.json()
    assert body["message"] == "multiple"
    assert {error["message"] for error in body["errors"]} == {"state", "after"}
    for query in (
        "q=%00",
        "q=" + "x" * 101,
        "limit=abc",
        "limit=5001",
        "ids=" + ",".join(["a" * 24] * 201),
        "customer=../x",
        "after=%E2%80%AE",
    ):
        response = await live.get("/api/fleet/phones?" + query, headers=bearer(tenants.admin))
        assert response.status == 422, query
    response = await live.get("/api/fleet/events?limit=0", headers=bearer(tenants.admin))
    assert response.status == 422
    response = await live.get("/api/fleet/phones")
    assert response.status == 401


async def test_latest_events_are_scoped(live: Any, pool: Any, tenants: Tenants) -> None:
    async with pool.acquire() as conn:
        mine = await append_event(
            conn, "phone.registered", phone_id=tenants.phone_a.id, customer_id=tenants.a
        )
        last = await append_event(
            conn, "phone.registered", phone_id=tenants.phone_b.id, customer_id=tenants.b
        )
    response = await live.get("/api/fleet/events?limit=10", headers=bearer(tenants.token_a))
    body = await response.json()
    assert [item["id"] for item in body["items"]] == [mine.id]
    assert body["lastEventId"] == last.id
