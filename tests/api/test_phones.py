"""SIP phones through HTTP: levels, tenant isolation, partial update, concurrency,
resetcredentials, list filters and paging, DECT handsets, purchase info."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support.api_world import World, fresh_mac
from tests.support.database import bearer, insert_token

PHONES = "/api/pbx/sipphone"
NOBODY = "ffffffffffffffffffffffff"


async def _create(
    api: Any, world: World, headers: dict[str, str] | None = None, **fields: Any
) -> dict[str, Any]:
    resp = await api.put(PHONES, json=world.body(**fields), headers=headers or world.a.manager)
    body = await resp.json()
    assert resp.status == 201, body
    return body


async def test_create_returns_the_reference_shape(shared_api: Any, shared_db: Any) -> None:
    api, world = shared_api, shared_db[1]
    phone = await _create(
        api, world, notes="Reception", callWaiting=False, ringer={"volume": 4, "tone": 2}
    )
    assert len(phone["_id"]) == 24 and int(phone["_id"], 16) >= 0
    assert phone["pbxCluster"] == 1 and phone["customer"] == world.a.customer_id
    assert phone["extension"] == world.a.extension_ids["101"]
    assert len(phone["username"]) == 32 and len(phone["password"]) == 32
    assert phone["username"].isalnum() and phone["password"].isalnum()
    assert phone["ip"] == {"mode": "OPEN"}
    assert phone["callWaiting"] is False and phone["ringer"] == {"volume": 4, "tone": 2}
    assert phone["status"]["online"] is False and phone["status"]["expires"] == -1
    saved = datetime.strptime(phone["status"]["configSaved"], "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=UTC
    )
    assert abs(datetime.now(UTC) - saved) < timedelta(minutes=1)
    for empty in ("serial", "handsetIndex", "softkeys", "network", "purchaseInfo", "instanceId"):
        assert empty not in phone
    resp = await api.get(f"{PHONES}/{phone['_id']}", headers=world.a.viewer)
    assert await resp.json() == phone


async def test_levels(shared_api: Any, shared_db: Any) -> None:
    api, world = shared_api, shared_db[1]
    phone = await _create(api, world)
    url = f"{PHONES}/{phone['_id']}"
    assert (await api.get(url)).status == 401
    assert (await api.get(url, headers=bearer("sft_wrong"))).status == 401
    assert (await api.get(url, headers=world.a.viewer)).status == 200
    for method, path, body in (
        ("POST", url, {"notes": "x"}),
        ("DELETE", url, None),
        ("PUT", PHONES, world.body()),
    ):
        resp = await api.request(method, path, json=body, headers=world.a.viewer)
        assert (resp.status, await resp.json()) == (
            403,
            {"code": 403, "message": "access_denied", "description": "Insufficient access level"},
        )
    # 004 lists resetcredentials with VIEWER and above.
    assert (await api.get(f"{url}/resetcredentials", headers=world.a.viewer)).status == 200


async def test_another_tenant_learns_nothing(shared_api: Any, shared_db: Any) -> None:
    api, world = shared_api, shared_db[1]
    phone = await _create(
        api, world, headers=world.b.manager, extension=world.b.extension_ids["201"]
    )
    before = await (await api.get(f"{PHONES}/{phone['_id']}", headers=world.b.manager)).json()
    for phone_id in (phone["_id"], NOBODY):
        url = f"{PHONES}/{phone_id}"
        answers = [
            await api.get(url, headers=world.a.manager),
            await api.post(url, json={"notes": "mine"}, headers=world.a.manager),
            await api.post(
                PHONES, json={"_id": phone_id, "notes": "mine"}, headers=world.a.manager
            ),
            await api.get(f"{url}/resetcredentials", headers=world.a.manager),
            await api.post(f"{url}/resetcredentials", headers=world.a.manager),
            await api.delete(url, headers=world.a.manager),
        ]
        for resp in answers:
            assert (resp.status, await resp.json()) == (
                404,
                {"code": 404, "message": "not_found", "description": "SIP phone not found"},
            )
    listed = await (
        await api.get(f"{PHONES}?macAddress={phone['macAddress']}", headers=world.a.manager)
    ).json()
    assert listed == {"items": [], "next": None}
    after = await (await api.get(f"{PHONES}/{phone['_id']}", headers=world.b.manager)).json()
    assert after == before


async def test_partial_update_merges_objects_and_replaces_arrays(
    shared_api: Any, shared_db: Any
) -> None:
    api, world = shared_api, shared_db[1]
    phone = await _create(
        api,
        world,
        ringer={"volume": 4, "tone": 2},
        volume={"handset": {"mic": 5, "speaker": 7}, "headset": {"mic": 1}},
        ip={"mode": "ROAMING", "countries": "DK"},
        softkeys=[{"index": 0, "function": "DND"}, {"index": 1, "function": "HOLD"}],
    )
    url = f"{PHONES}/{phone['_id']}"
    resp = await api.post(
        url,
        json={
            "ringer": {"tone": 3},
            "volume": {"handset": {"mic": 9}},
            "ip": {"countries": "dk,se"},
            "softkeys": [{"index": 5, "function": "VOICEMAIL"}],
        },
        headers=world.a.manager,
    )
    updated = await resp.json()
    assert resp.status == 200, updated
    assert updated["ringer"] == {"volume": 4, "tone": 3}
    assert updated["volume"] == {"handset": {"mic": 9, "speaker": 7}, "headset": {"mic": 1}}
    assert updated["ip"] == {"mode": "ROAMING", "countries": "DK,SE"}
    assert updated["softkeys"] == [{"index": 5, "function": "VOICEMAIL"}]
    assert updated["username"] == phone["username"] and updated["password"] == phone["password"]
    # The reference's form: POST /pbx/sipphone with _id in the body; null clears a value.
    resp = await api.post(
        PHONES,
        json={"_id": phone["_id"], "ringer": None, "extension": None},
        headers=world.a.manager,
    )
    cleared = await resp.json()
    assert resp.status == 200 and "ringer" not in cleared and "extension" not in cleared
    # A GET result posted back unchanged is accepted (read-only fields echoed).
    resp = await api.post(
        url,
        json={k: v for k, v in cleared.items() if k != "status"} | {"status": cleared["status"]},
        headers=world.a.manager,
    )
    assert resp.status == 200, await resp.json()


async def test_every_change_bumps_version_and_config_saved(
    shared_api: Any, shared_pool: Any, shared_db: Any
) -> None:
    api, world = shared_api, shared_db[1]
    phone = await _create(api, world)
    async with shared_pool.acquire() as conn:
        await conn.execute(
            "UPDATE sip_phones SET config_saved = now() - interval '1 day' WHERE id = $1",
            phone["_id"],
        )
        version = await conn.fetchval("SELECT version FROM sip_phones WHERE id = $1", phone["_id"])
    resp = await api.post(f"{PHONES}/{phone['_id']}", json={"notes": "n"}, headers=world.a.manager)
    assert resp.status == 200
    async with shared_pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT version, config_saved > now() - interval '1 minute' AS fresh FROM sip_phones WHERE id = $1",
            phone["_id"],
        )
    assert row["version"] == version + 1 and row["fresh"]


async def test_concurrent_updates_of_different_fields_both_survive(
    shared_api: Any, shared_db: Any
) -> None:
    api, world = shared_api, shared_db[1]
    phone = await _create(api, world)
    url = f"{PHONES}/{phone['_id']}"
    for round_ in range(5):
        first, second = await asyncio.gather(
            api.post(url, json={"notes": f"n{round_}"}, headers=world.a.manager),
            api.post(
                url,
                json={"ringer": {"volume": round_}, "codec": {"video": True}},
                headers=world.a.manager,
            ),
        )
        assert first.status == second.status == 200
        stored = await (await api.get(url, headers=world.a.manager)).json()
        assert stored["notes"] == f"n{round_}" and stored["ringer"] == {"volume": round_}
        assert stored["codec"] == {"video": True}


async def test_resetcredentials_changes_credentials_and_drops_bindings(
    shared_api: Any, shared_pool: Any, shared_db: Any
) -> None:
    api, world = shared_api, shared_db[1]
    phone = await _create(api, world)
    async with shared_pool.acquire() as conn:
        await conn.execute(
            """INSERT INTO bindings (phone_id, contact, call_id, cseq, expires_at, transport, source_ip, source_port)
               VALUES ($1, 'sip:a@127.0.0.1:5070', 'c1', 1, now() + interval '1 hour', 'udp', '127.0.0.1', 5070)""",
            phone["_id"],
        )
        await conn.execute(
            "UPDATE phone_status SET online = true, expires_at = now() + interval '1 hour' WHERE phone_id = $1",
            phone["_id"],
        )
    online = await (await api.get(f"{PHONES}/{phone['_id']}", headers=world.a.viewer)).json()
    assert online["status"]["online"] is True and 3500 < online["status"]["expires"] <= 3600
    seen = {(phone["username"], phone["password"])}
    for method in ("GET", "POST"):
        resp = await api.request(
            method, f"{PHONES}/{phone['_id']}/resetcredentials", headers=world.a.manager
        )
        reset = await resp.json()
        assert resp.status == 200
        credentials = (reset["username"], reset["password"])
        assert credentials not in seen and all(len(c) == 32 for c in credentials)
        seen.add(credentials)
        assert reset["status"]["online"] is False and reset["status"]["expires"] == -1
        assert {k: v for k, v in reset.items() if k not in ("username", "password", "status")} == {
            k: v for k, v in phone.items() if k not in ("username", "password", "status")
        }
    async with shared_pool.acquire() as conn:
        assert (
            await conn.fetchval("SELECT count(*) FROM bindings WHERE phone_id = $1", phone["_id"])
            == 0
        )
        row = await conn.fetchrow(
            "SELECT username, ha1_md5 FROM sip_phones WHERE id = $1", phone["_id"]
        )
    assert row["username"] == reset["username"]
    from provisioning.credentials import ha1

    assert row["ha1_md5"] == ha1(reset["username"], "sipfleet.test", reset["password"], "MD5")


async def test_dect_handsets_get_positions_and_keep_them(shared_api: Any, shared_db: Any) -> None:
    api, world = shared_api, shared_db[1]
    mac = fresh_mac()
    handsets = [
        await _create(
            api, world, sipPhoneModel=world.models["w60b"], macAddress=mac, extension=None
        )
        for _ in range(3)
    ]
    assert [h["handsetIndex"] for h in handsets] == [1, 2, 3]
    resp = await api.delete(f"{PHONES}/{handsets[0]['_id']}", headers=world.a.manager)
    assert resp.status == 200
    resp = await api.post(
        f"{PHONES}/{handsets[2]['_id']}",
        json={"macAddress": mac.lower(), "notes": "x"},
        headers=world.a.manager,
    )
    assert (await resp.json())["handsetIndex"] == 3
    again = await _create(api, world, sipPhoneModel="yealink-w60b", macAddress=mac, extension=None)
    assert again["handsetIndex"] == 1
    desk = await api.put(PHONES, json=world.body(macAddress=mac), headers=world.a.manager)
    assert (await desk.json())["message"] == "macAddress" and desk.status == 409


async def test_purchase_info_for_owner_and_above_only(shared_api: Any, shared_db: Any) -> None:
    api, world = shared_api, shared_db[1]
    purchase = {
        "orderId": "7213",
        "date": "2015-01-01T00:00:00Z",
        "paymentOption": "BOUGHT",
        "sidePanels": [
            {
                "serial": f"SP-{fresh_mac()}",
                "paymentOption": "RENTED",
                "date": "2015-01-01-T00:00:00Z",
            }
        ],
    }
    phone = await _create(
        api,
        world,
        headers=world.a.owner,
        purchaseInfo=purchase,
        sidePanel="yealink-exp50",
        sidePanelCount=1,
    )
    assert phone["purchaseInfo"] == purchase
    as_manager = await (await api.get(f"{PHONES}/{phone['_id']}", headers=world.a.manager)).json()
    assert "purchaseInfo" not in as_manager
    resp = await api.post(
        f"{PHONES}/{phone['_id']}", json={"purchaseInfo": {"orderId": "1"}}, headers=world.a.manager
    )
    assert resp.status == 403
    resp = await api.post(
        f"{PHONES}/{phone['_id']}", json={"purchaseInfo": {"orderId": "1"}}, headers=world.a.owner
    )
    assert (await resp.json())["purchaseInfo"]["sidePanels"] == purchase["sidePanels"]
    # Another phone may not reuse the side panel's serial.
    resp = await api.put(
        PHONES,
        json=world.body(purchaseInfo={"sidePanels": purchase["sidePanels"]}),
        headers=world.a.owner,
    )
    assert (resp.status, (await resp.json())["message"]) == (409, "purchaseInfo.sidePanels.serial")


async def test_list_filters_and_pages(api: Any, pool: Any, world: World) -> None:
    phones = [await _create(api, world) for _ in range(5)]
    other = await _create(api, world, extension=world.a.extension_ids["102"])
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE phone_status SET online = true, expires_at = now() + interval '1 minute' WHERE phone_id = $1",
            other["_id"],
        )
    b_phone = await _create(api, world, headers=world.b.manager, extension=None)
    ids = sorted(p["_id"] for p in [*phones, other])
    seen, cursor = [], None
    for _ in range(10):
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = await (await api.get(PHONES + query, headers=world.a.viewer)).json()
        seen += [p["_id"] for p in page["items"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == ids

    async def ids_of(query: str, headers: dict[str, str]) -> list[str]:
        resp = await api.get(PHONES + query, headers=headers)
        assert resp.status == 200, await resp.json()
        return [p["_id"] for p in (await resp.json())["items"]]

    assert await ids_of(f"?extension={world.a.extension_ids['102']}", world.a.viewer) == [
        other["_id"]
    ]
    assert await ids_of("?online=true", world.a.viewer) == [other["_id"]]
    assert len(await ids_of("?online=false", world.a.viewer)) == 5
    assert await ids_of(f"?macAddress={phones[0]['macAddress'].lower()}", world.a.viewer) == [
        phones[0]["_id"]
    ]
    assert await ids_of(f"?customer={world.b.customer_id}", world.a.viewer) == []
    assert await ids_of(f"?customer={world.b.customer_id}", world.admin) == [b_phone["_id"]]
    for query, message in (
        ("?online=maybe", "online"),
        ("?limit=0", "limit"),
        ("?macAddress=zz", "macAddress"),
        ("?cursor=x", "cursor"),
    ):
        resp = await api.get(PHONES + query, headers=world.a.viewer)
        assert (resp.status, (await resp.json())["message"]) == (422, message)


async def test_reseller_and_admin_create_for_a_named_customer(
    api: Any, pool: Any, world: World
) -> None:
    async with pool.acquire() as conn:
        reseller = await conn.fetchval("INSERT INTO resellers (name) VALUES ('R') RETURNING id")
        await conn.execute(
            "UPDATE customers SET reseller_id = $1 WHERE id = $2", reseller, world.a.customer_id
        )
        await conn.execute("INSERT INTO customers (name, reseller_id) VALUES ('C', $1)", reseller)
        token = bearer(await insert_token(conn, "RESELLER", reseller_id=reseller))
    resp = await api.put(PHONES, json=world.body(), headers=token)
    assert (resp.status, (await resp.json())["message"]) == (404, "customer")
    phone = await _create(api, world, headers=token, customer=world.a.customer_id)
    assert phone["customer"] == world.a.customer_id and "purchaseInfo" not in phone
    resp = await api.put(
        PHONES, json=world.body(customer=world.b.customer_id, extension=None), headers=token
    )
    assert (resp.status, (await resp.json())["message"]) == (404, "customer")
    resp = await api.put(
        PHONES,
        json=world.body(customer=world.b.customer_id, extension=world.b.extension_ids["201"]),
        headers=world.admin,
    )
    assert resp.status == 201


@pytest.mark.parametrize("name", ["yealink-t54w", "snom-d785", "grandstream-gxp2140"])
async def test_model_catalogue(shared_api: Any, shared_db: Any, name: str) -> None:
    api, world = shared_api, shared_db[1]
    listed = await (
        await api.get("/api/pbx/sipphonemodel?limit=1000", headers=world.a.viewer)
    ).json()
    by_name = {m["name"]: m for m in listed["items"]}
    assert by_name[name]["vendor"] == name.split("-")[0]
    one = await (
        await api.get(f"/api/pbx/sipphonemodel/{by_name[name]['_id']}", headers=world.a.viewer)
    ).json()
    assert one == by_name[name]
    assert (await api.get("/api/pbx/sipphonemodel/nope", headers=world.a.viewer)).status == 404
    assert (await api.get("/api/pbx/sipphonemodel")).status == 401


async def test_inactive_customer_and_side_panel_model_are_refused(
    shared_api: Any, shared_pool: Any, shared_db: Any
) -> None:
    api, world = shared_api, shared_db[1]
    resp = await api.put(
        PHONES, json=world.body(sipPhoneModel="yealink-exp50"), headers=world.a.manager
    )
    assert (resp.status, (await resp.json())["message"]) == (404, "sipPhoneModel")
    phone = await _create(api, world, headers=world.b.manager, extension=None)
    async with shared_pool.acquire() as conn:
        await conn.execute("UPDATE customers SET active = false WHERE id = $1", world.b.customer_id)
        await conn.execute(
            'UPDATE sip_phones SET device = \'{"timezone": "Europe/Copenhagen"}\' WHERE id = $1',
            phone["_id"],
        )
    try:
        resp = await api.post(
            f"{PHONES}/{phone['_id']}", json={"notes": "x"}, headers=world.b.manager
        )
        assert (resp.status, (await resp.json())["message"]) == (404, "customer")
    finally:
        async with shared_pool.acquire() as conn:
            await conn.execute(
                "UPDATE customers SET active = true WHERE id = $1", world.b.customer_id
            )
    shown = await (await api.get(f"{PHONES}/{phone['_id']}", headers=world.b.viewer)).json()
    assert shown["timezone"] == "Europe/Copenhagen"
    resp = await api.post(
        f"{PHONES}/{phone['_id']}", json={**shown, "notes": "echo"}, headers=world.b.manager
    )
    assert resp.status == 200, await resp.json()
    resp = await api.post(
        f"{PHONES}/{phone['_id']}", json={"timezone": "UTC"}, headers=world.b.manager
    )
    assert (resp.status, (await resp.json())["message"]) == (422, "timezone")


async def test_concurrent_creates_on_one_mac(shared_api: Any, shared_db: Any) -> None:
    api, world = shared_api, shared_db[1]
    mac = fresh_mac()
    answers = await asyncio.gather(
        *(
            api.put(PHONES, json=world.body(macAddress=mac), headers=world.a.manager)
            for _ in range(4)
        )
    )
    assert sorted(r.status for r in answers) == [201, 409, 409, 409]
    base = fresh_mac()
    body = world.body(sipPhoneModel=world.models["w60b"], macAddress=base, extension=None)
    answers = await asyncio.gather(
        *(api.put(PHONES, json=body, headers=world.a.manager) for _ in range(4))
    )
    assert [r.status for r in answers] == [201] * 4
    assert sorted([(await r.json())["handsetIndex"] for r in answers]) == [1, 2, 3, 4]
