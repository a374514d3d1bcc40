"""The file server's refusals over real HTTP: unknown, rejected, throttled, mismatched,
secret path, HTTP auth — and what `/api/phones` then shows."""

from __future__ import annotations

import dataclasses
from typing import Any

import asyncpg

from provisioning.fileserver.httpauth import provisioning_password
from provisioning.fileserver.throttle import UnknownMacThrottle
from tests.support import factories
from tests.support.database import basic, bearer, insert_token

YEALINK_UA = "Yealink SIP-T54W 96.86.0.100 00:15:65:4a:a9:37"


async def _events(pool: asyncpg.Pool[Any], kind: str) -> list[asyncpg.Record]:
    async with pool.acquire() as conn:
        return await conn.fetch("SELECT * FROM events WHERE type = $1 ORDER BY id", kind)


async def test_unknown_mac_is_404_recorded_and_discovered_once(
    prov: Any, pool: asyncpg.Pool[Any], admin_token: str
) -> None:
    for _ in range(2):
        response = await prov.get("/prov/0015654aa937.cfg", headers={"User-Agent": YEALINK_UA})
        assert response.status == 404
        assert await response.text() == "Not found\n"
    discovered = await _events(pool, "phone.discovered")
    assert len(discovered) == 1
    assert discovered[0]["details"]["mac"] == "0015654AA937"
    assert discovered[0]["details"]["vendor"] == "yealink"
    listing = await prov.get("/api/phones", headers=bearer(admin_token))
    [item] = (await listing.json())["items"]
    assert item["mac"] == "0015654AA937"
    assert item["vendor"] == "yealink" and item["model"] == "T54W"
    assert item["address"] == "127.0.0.1" and item["user_agent"] == YEALINK_UA
    assert item["last_file"] == "0015654aa937.cfg" and item["fetch_count"] == 2
    assert item["assigned"] is False and item["first_seen"] and item["last_seen"]
    detail = await prov.get("/api/phones/00-15-65-4A-A9-37", headers=bearer(admin_token))
    assert (await detail.json())["mac"] == "0015654AA937"


async def test_rejected_mac_gets_403(prov: Any, pool: asyncpg.Pool[Any], admin_token: str) -> None:
    async with pool.acquire() as conn:
        cust = await factories.customer(conn)
        await factories.phone(conn, cust, model="yealink-t54w", mac_address="0015654AA937")
    assert (await prov.get("/prov/aabbccddeeff.cfg")).status == 404
    rejected = await prov.post("/api/phones/AABBCCDDEEFF/reject", headers=bearer(admin_token))
    assert rejected.status == 200 and (await rejected.json())["rejected"] is True
    assert (await prov.get("/prov/aabbccddeeff.cfg")).status == 403
    # a known phone rejected too
    assert (
        await prov.post("/api/phones/0015654AA937/reject", headers=bearer(admin_token))
    ).status == 200
    assert (await prov.get("/prov/0015654aa937.cfg")).status == 403
    # and accepted again
    again = await prov.post(
        "/api/phones/AABBCCDDEEFF/reject", json={"rejected": False}, headers=bearer(admin_token)
    )
    assert (await again.json())["rejected"] is False
    assert (await prov.get("/prov/aabbccddeeff.cfg")).status == 404
    bad = await prov.post(
        "/api/phones/AABBCCDDEEFF/reject", json={"rejected": "yes"}, headers=bearer(admin_token)
    )
    assert bad.status == 422 and (await bad.json())["message"] == "rejected"


async def test_scanner_is_throttled_and_learns_nothing(
    prov: Any, pool: asyncpg.Pool[Any], admin_token: str
) -> None:
    prov.prov_server.throttle = UnknownMacThrottle(per_minute=3)
    async with pool.acquire() as conn:
        cust = await factories.customer(conn)
        await factories.phone(conn, cust, model="yealink-t54w", mac_address="0015654AA937")
    statuses = [(await prov.get(f"/prov/00000000000{n}.cfg")).status for n in range(1, 6)]
    assert statuses == [404, 404, 404, 429, 429]
    known = await prov.get("/prov/0015654aa937.cfg")
    assert known.status == 429  # a throttled scanner cannot tell a real MAC from a miss
    assert int(known.headers["Retry-After"]) >= 1
    listing = await (await prov.get("/api/phones", headers=bearer(admin_token))).json()
    seen = [item["mac"] for item in listing["items"] if not item["assigned"]]
    assert seen == ["000000000001", "000000000002", "000000000003"]  # refusals record nothing


async def test_user_agent_naming_another_mac_is_refused(prov: Any, pool: asyncpg.Pool[Any]) -> None:
    async with pool.acquire() as conn:
        cust = await factories.customer(conn)
        phone = await factories.phone(conn, cust, model="yealink-t54w", mac_address="0015654AA938")
    response = await prov.get("/prov/0015654aa938.cfg", headers={"User-Agent": YEALINK_UA})
    assert response.status == 403
    [event] = await _events(pool, "phone.mismatch")
    assert event["phone_id"] == phone.id
    assert event["details"]["seenMac"] == "0015654AA937"
    assert event["details"]["channel"] == "prov"


async def test_secret_path_segment(prov: Any, pool: asyncpg.Pool[Any]) -> None:
    async with pool.acquire() as conn:
        cust = await factories.customer(conn)
        await conn.execute(
            "UPDATE customers SET provisioning_secret = 's3cretpath' WHERE id = $1", cust
        )
        await factories.phone(conn, cust, model="yealink-t54w", mac_address="0015654AA937")
    assert (await prov.get("/prov/0015654aa937.cfg")).status == 404
    assert (await prov.get("/prov/wrong/0015654aa937.cfg")).status == 404
    assert (await prov.get("/prov/a/b/0015654aa937.cfg")).status == 404
    assert await _events(pool, "phone.discovered") == []  # assigned MACs are never "discovered"


async def test_http_basic_auth(prov: Any, pool: asyncpg.Pool[Any], secret_box: Any) -> None:
    server = prov.prov_server
    server.settings = dataclasses.replace(server.settings, provisioning_http_auth=True)
    async with pool.acquire() as conn:
        cust = await factories.customer(conn)
        await factories.phone(conn, cust, model="yealink-t54w", mac_address="0015654AA937")
    missing = await prov.get("/prov/0015654aa937.cfg")
    assert missing.status == 401 and missing.headers["WWW-Authenticate"].startswith("Basic")
    wrong = await prov.get("/prov/0015654aa937.cfg", headers=basic("0015654AA937", "x"))
    assert wrong.status == 401
    password = provisioning_password(secret_box.key, "0015654AA937")
    assert len(password) == 32 and password.isalnum()
    other = await prov.get("/prov/0015654aa937.cfg", headers=basic("AABBCCDDEEFF", password))
    assert other.status == 401


async def test_phones_api_tenancy(prov: Any, pool: asyncpg.Pool[Any], secret_box: Any) -> None:
    async with pool.acquire() as conn:
        cust = await factories.customer(conn)
        other = await factories.customer(conn, "Other")
        await factories.phone(conn, cust, model="yealink-t54w", mac_address="0015654AA937")
        viewer = await insert_token(conn, "VIEWER", customer_id=cust)
        manager = await insert_token(conn, "MANAGER", customer_id=cust)
        stranger = await insert_token(conn, "MANAGER", customer_id=other)
    await prov.get("/prov/aabbccddeeff.cfg")
    items = (await (await prov.get("/api/phones", headers=bearer(viewer))).json())["items"]
    assert [i["mac"] for i in items] == ["0015654AA937"]  # the unassigned MAC is not shown
    assert "provisioning_auth" not in items[0]
    detail = await (await prov.get("/api/phones/0015654aa937", headers=bearer(manager))).json()
    assert detail["provisioning_auth"] == {
        "username": "0015654AA937",
        "password": provisioning_password(secret_box.key, "0015654AA937"),
    }
    assert (await prov.get("/api/phones/AABBCCDDEEFF", headers=bearer(viewer))).status == 404
    assert (await prov.get("/api/phones/0015654AA937", headers=bearer(stranger))).status == 404
    assert (
        await prov.post("/api/phones/0015654AA937/reject", headers=bearer(viewer))
    ).status == 403
    assert (
        await prov.post("/api/phones/0015654AA937/reject", headers=bearer(stranger))
    ).status == 404
    assert (await prov.get("/api/phones/nonsense", headers=bearer(viewer))).status == 404
    assert (await prov.get("/api/phones")).status == 401
    assignee = await (
        await prov.get("/api/phones/0015654AA937/assignee", headers=bearer(viewer))
    ).json()
    assert assignee["assigned"] is True and assignee["assignees"][0]["customer"] == cust
    # reprovision with no SIP service running: a clear 503
    response = await prov.post("/api/phones/0015654AA937/reprovision", headers=bearer(manager))
    assert response.status in (200, 503)


async def test_gate_refuses_a_locked_phone_from_another_address(
    prov: Any, pool: asyncpg.Pool[Any]
) -> None:
    assert prov.hub.gate is not None  # the real IP gate component runs in these tests
    async with pool.acquire() as conn:
        cust = await factories.customer(conn)
        phone = await factories.phone(
            conn,
            cust,
            model="yealink-t54w",
            mac_address="0015654AA937",
            ip_mode="LOCKED",
            ip_address="192.0.2.77",
        )
    response = await prov.get("/prov/0015654aa937.cfg", headers={"User-Agent": YEALINK_UA})
    assert response.status == 403
    assert await response.text() == "Forbidden\n"
    [denied] = await _events(pool, "phone.denied")
    assert denied["phone_id"] == phone.id
    async with pool.acquire() as conn:
        loaded = await conn.fetchval("SELECT config_loaded FROM sip_phones WHERE id = $1", phone.id)
    assert loaded is None


async def test_user_agent_of_another_device_is_recorded_by_the_gate(
    prov: Any, pool: asyncpg.Pool[Any]
) -> None:
    async with pool.acquire() as conn:
        cust = await factories.customer(conn)
        phone = await factories.phone(
            conn, cust, model="polycom-vvx150", mac_address="0004F2AABBCC"
        )
    # a softphone fetching a Poly's file: served (strict_identity is off), but recorded
    # (a Yealink's is refused: its phones name their MAC in every fetch)
    response = await prov.get("/prov/0004f2aabbcc.cfg", headers={"User-Agent": "Zoiper rv2.10"})
    assert response.status == 200
    [event] = await _events(pool, "phone.mismatch")
    assert event["phone_id"] == phone.id


async def test_fetches_are_counted_in_metrics(prov: Any, pool: asyncpg.Pool[Any]) -> None:
    from sipcore import metrics

    def count(result: str) -> float:
        value = metrics.REGISTRY.get_sample_value(
            "sipfleet_config_fetches_total", {"vendor": "yealink", "result": result}
        )
        return value or 0.0

    async with pool.acquire() as conn:
        cust = await factories.customer(conn)
        await factories.phone(conn, cust, model="yealink-t54w", mac_address="0015654AA937")
    before_ok, before_missing = count("ok"), count("not_found")
    assert (
        await prov.get("/prov/0015654aa937.cfg", headers={"User-Agent": YEALINK_UA})
    ).status == 200
    missing_ua = "Yealink SIP-T54W 96.86.0.100 00:15:65:4a:a9:38"
    assert (
        await prov.get("/prov/0015654aa938.cfg", headers={"User-Agent": missing_ua})
    ).status == 404
    assert count("ok") == before_ok + 1
    assert count("not_found") == before_missing + 1


async def test_a_user_agent_without_the_phone_mac_is_refused_unless_turned_off(
    prov: Any, pool: asyncpg.Pool[Any]
) -> None:
    async with pool.acquire() as conn:
        cust = await factories.customer(conn)
        phone = await factories.phone(conn, cust, model="yealink-t54w", mac_address="0015654AA937")
    path = "/prov/0015654aa937.cfg"
    forged = "Yealink SIP-T54W 96.86.0.100"
    assert (await prov.get(path, headers={"User-Agent": forged})).status == 403
    assert (await prov.get(path, skip_auto_headers=["User-Agent"])).status == 403
    # the MAC in a spelling the vendors' table does not read is still the MAC
    spelled = "Yealink SIP-T54W 96.86.0.100 0015654AA937"
    assert (await prov.get(path, headers={"User-Agent": spelled})).status == 200
    events = await _events(pool, "phone.mismatch")
    assert [(e["phone_id"], e["details"]["userAgent"]) for e in events] == [
        (phone.id, forged),
        (phone.id, None),
    ]
    prov.prov_server.settings = dataclasses.replace(
        prov.prov_server.settings, provisioning_require_mac=False
    )
    assert (await prov.get(path, headers={"User-Agent": forged})).status == 200
    other = "Yealink SIP-T54W 96.86.0.100 00:15:65:4a:a9:38"  # another MAC: still refused
    assert (await prov.get(path, headers={"User-Agent": other})).status == 403
