"""The DECT lifecycle through HTTP on the real database: a base, its member handsets (one
SIP phone record each, own credentials and handset index), removal, a full base (409),
and the errors of 003 for the DECT cases."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from db import provisioning as prov_queries
from provisioning.dect.context import dect_for
from provisioning.vendors.context import DectSettings
from tests.support import factories
from tests.support.database import bearer, insert_token
from tests.support.dect import Tenant, base_body


async def _create(client: Any, tenant: Tenant, **overrides: Any) -> dict[str, Any]:
    response = await client.post(
        "/api/dect_phones", json=base_body(**overrides), headers=tenant.headers
    )
    assert response.status == 201, await response.text()
    return dict(await response.json())


async def _members(
    client: Any, tenant: Tenant, base_id: str, numbers: list[str], **extra: Any
) -> Any:
    members = [{"extension_number": n, **extra} for n in numbers]
    return await client.post(
        f"/api/dect_phones/{base_id}/members", json={"members": members}, headers=tenant.headers
    )


async def test_models_list_capacity_languages_and_tones(client: Any, tenant: Tenant) -> None:
    response = await client.get("/api/dect_phone_models", headers=tenant.viewer)
    assert response.status == 200
    models = {m["name"]: m for m in (await response.json())["items"]}
    assert {"yealink-w60b", "snom-m300", "gigaset-n670"} <= set(models)
    w60b = models["yealink-w60b"]
    assert w60b["vendor"] == "yealink" and w60b["max_handsets"] == 8
    assert "GERMAN" in w60b["languages"] and "Denmark" in w60b["tones"]
    assert "FRENCH" in w60b["handset_languages"]
    one = await client.get("/api/dect_phone_models/snom-m900", headers=tenant.viewer)
    assert one.status == 200
    assert (await one.json())["handset_address_required"] is True
    missing = await client.get("/api/dect_phone_models/yealink-t54w", headers=tenant.viewer)
    assert missing.status == 404 and (await missing.json())["message"] == "not_found"


async def test_lifecycle_members_removal_and_full_base(
    client: Any, tenant: Tenant, pool: asyncpg.Pool[Any]
) -> None:
    base = await _create(client, tenant)
    assert base["mac"] == "805EC0112233" and base["model"] == "yealink-w60b"
    assert base["customer"] == tenant.customer and "password" not in base
    response = await _members(client, tenant, base["_id"], ["101", "102", "103"])
    assert response.status == 200, await response.text()
    members = (await response.json())["items"]
    assert [m["extension_number"] for m in members] == ["101", "102", "103"]
    assert [m["handset_index"] for m in members] == [1, 2, 3]
    assert [m["online"] for m in members] == [False, False, False]
    records = []
    for member in members:
        one = await client.get(
            f"/api/dect_phones/{base['_id']}/members/{member['extension_number']}",
            headers=tenant.headers,
        )
        assert one.status == 200
        records.append(await one.json())
    assert len({r["username"] for r in records}) == 3
    assert len({r["password"] for r in records}) == 3
    assert all(len(r["username"]) == 32 and len(r["password"]) == 32 for r in records)
    assert {r["macAddress"] for r in records} == {"805EC0112233"}
    assert [r["handsetIndex"] for r in records] == [1, 2, 3]
    assert records[0]["extension"] == tenant.extensions["101"]
    # the same records through the SIP phone API
    listed = await client.get(
        "/api/pbx/sipphone", params={"macAddress": "805EC0112233"}, headers=tenant.headers
    )
    assert sorted(p["_id"] for p in (await listed.json())["items"]) == sorted(
        m["phone"] for m in members
    )

    # remove 102: its record goes, the others keep credentials and positions
    response = await _members(client, tenant, base["_id"], ["101", "103"])
    assert response.status == 200
    kept = (await response.json())["items"]
    assert [(m["extension_number"], m["handset_index"]) for m in kept] == [("101", 1), ("103", 3)]
    gone = await client.get(f"/api/dect_phones/{base['_id']}/members/102", headers=tenant.headers)
    assert gone.status == 404 and (await gone.json())["message"] == "not_found"
    again = await client.get(f"/api/pbx/sipphone/{records[0]['_id']}", headers=tenant.headers)
    assert (await again.json())["username"] == records[0]["username"]

    # a new member takes the free position 2
    response = await _members(client, tenant, base["_id"], ["101", "103", "104"])
    items = (await response.json())["items"]
    assert [(m["extension_number"], m["handset_index"]) for m in items] == [
        ("101", 1),
        ("104", 2),
        ("103", 3),
    ]


async def test_full_base_is_409_and_changes_nothing(
    client: Any, tenant: Tenant, pool: asyncpg.Pool[Any]
) -> None:
    async with pool.acquire() as conn:
        numbers = []
        for n in range(200, 208):
            await conn.execute(
                "INSERT INTO extensions (customer_id, number) VALUES ($1, $2)",
                tenant.customer,
                str(n),
            )
            numbers.append(str(n))
    base = await _create(client, tenant)
    full = await _members(client, tenant, base["_id"], numbers)  # W60B: 8 handsets
    assert full.status == 200
    over = await _members(client, tenant, base["_id"], [*numbers, "101"])
    assert over.status == 409
    assert await over.json() == {
        "code": 409,
        "message": "handsetIndex",
        "description": "The SIP phone/device does not have any free positions",
    }
    listed = await client.get(f"/api/dect_phones/{base['_id']}/members", headers=tenant.headers)
    assert len((await listed.json())["items"]) == 8
    # a desk phone cannot take a slot on the base's MAC either
    desk = await client.put(
        "/api/pbx/sipphone",
        json={"sipPhoneModel": "yealink-t54w", "macAddress": base["mac"]},
        headers=tenant.headers,
    )
    assert desk.status == 409 and (await desk.json())["message"] == "macAddress"
    # nor another handset of the same model through the SIP phone API
    handset = await client.put(
        "/api/pbx/sipphone",
        json={"sipPhoneModel": "yealink-w60b", "macAddress": base["mac"]},
        headers=tenant.headers,
    )
    assert handset.status == 409 and (await handset.json())["message"] == "handsetIndex"


async def test_handset_address_required_and_kept(client: Any, tenant: Tenant) -> None:
    base = await _create(
        client,
        tenant,
        vendor="snom",
        model="M900",
        template="snom-dect.xml",
        tone="GER",
        language="GERMAN",
        handset_language="GERMAN",
        user_password=None,  # snom M-series: no user login (catalogue features.settings)
    )
    missing = await _members(client, tenant, base["_id"], ["101"])
    assert missing.status == 422
    assert (await missing.json())["message"] == "handsetAddress"
    listed = await client.get(f"/api/dect_phones/{base['_id']}/members", headers=tenant.headers)
    assert (await listed.json())["items"] == []
    ok = await _members(client, tenant, base["_id"], ["101"], handset_address="0328D3B4A1")
    assert ok.status == 200
    assert (await ok.json())["items"][0]["handset_address"] == "0328D3B4A1"


async def test_member_errors(client: Any, tenant: Tenant) -> None:
    base = await _create(client, tenant)
    url = f"/api/dect_phones/{base['_id']}/members"
    unknown = await _members(client, tenant, base["_id"], ["999"])
    assert unknown.status == 404
    assert (await unknown.json())["message"] == "members[0].extension_number"
    twice = await _members(client, tenant, base["_id"], ["101", "101"])
    assert twice.status == 422 and (await twice.json())["message"] == "members[1].extension_number"
    bad = await client.post(url, json={"members": "101"}, headers=tenant.headers)
    assert bad.status == 422 and (await bad.json())["message"] == "members"
    viewer = await _members(client, tenant, base["_id"], ["101"])
    assert viewer.status == 200
    denied = await client.post(url, json={"members": []}, headers=tenant.viewer)
    assert denied.status == 403 and (await denied.json())["message"] == "access_denied"


async def test_update_get_list_destroy(
    client: Any, tenant: Tenant, pool: asyncpg.Pool[Any]
) -> None:
    base = await _create(client, tenant)
    await _members(client, tenant, base["_id"], ["101", "102"])
    url = f"/api/dect_phones/{base['_id']}"
    response = await client.post(
        url,
        json={"name": "Shop floor", "tone": "Germany", "codecs": ["opus", "G711A"]},
        headers=tenant.headers,
    )
    assert response.status == 200, await response.text()
    updated = await response.json()
    assert updated["name"] == "Shop floor" and updated["tone"] == "Germany"
    assert updated["codecs"] == ["opus", "pcma"] and updated["language"] == "GERMAN"
    async with pool.acquire() as conn:
        devices = await conn.fetch(
            "SELECT device FROM sip_phones WHERE dect_base_id = $1", base["_id"]
        )
    assert [d["device"]["tone"] for d in devices] == ["Germany", "Germany"]
    fixed = await client.post(url, json={"mac": "805EC0112299"}, headers=tenant.headers)
    assert fixed.status == 422 and (await fixed.json())["message"] == "mac"
    listed = await client.get("/api/dect_phones", headers=tenant.viewer)
    assert [b["_id"] for b in (await listed.json())["items"]] == [base["_id"]]
    assert (await (await client.get(url, headers=tenant.viewer)).json())["handsets"] == 2
    destroyed = await client.post(url + "/destroy", headers=tenant.headers)
    assert destroyed.status == 200
    assert (await client.get(url, headers=tenant.headers)).status == 404
    async with pool.acquire() as conn:
        left = await conn.fetchval(
            "SELECT count(*) FROM sip_phones WHERE mac_address = $1", base["mac"]
        )
    assert left == 0


async def test_base_errors(client: Any, tenant: Tenant, pool: asyncpg.Pool[Any]) -> None:
    first = await _create(client, tenant)
    again = await client.post("/api/dect_phones", json=base_body(), headers=tenant.headers)
    assert again.status == 409 and (await again.json())["message"] == "mac"
    wrong = await client.post(
        "/api/dect_phones",
        json=base_body(mac="805EC0112234", vendor="snom"),
        headers=tenant.headers,
    )
    assert wrong.status == 422 and (await wrong.json())["message"] == "vendor"
    unknown = await client.post(
        "/api/dect_phones", json=base_body(mac="805EC0112234", model="T54W"), headers=tenant.headers
    )
    assert unknown.status == 404 and (await unknown.json())["message"] == "model"
    tone = await client.post(
        "/api/dect_phones", json=base_body(mac="805EC0112234", tone="GER"), headers=tenant.headers
    )
    assert tone.status == 422 and (await tone.json())["message"] == "tone"
    missing = await client.post("/api/dect_phones", json={"name": "x"}, headers=tenant.headers)
    body = await missing.json()
    assert missing.status == 422 and body["message"] == "multiple"
    assert {e["message"] for e in body["errors"]} >= {"mac", "model", "password", "codecs"}
    long_name = await client.post(
        "/api/dect_phones", json=base_body(mac="805EC0112234", name=""), headers=tenant.headers
    )
    assert long_name.status == 422 and (await long_name.json())["message"] == "name"
    async with pool.acquire() as conn:
        count = await conn.fetchval("SELECT count(*) FROM dect_bases")
    assert count == 1 and first["_id"]


async def test_dect_settings_for_the_renderer(
    client: Any, tenant: Tenant, pool: asyncpg.Pool[Any], secret_box: Any
) -> None:
    """What `PhoneContext.dect` gets for a base's MAC (the loader's one line)."""
    base = await _create(client, tenant)
    await _members(client, tenant, base["_id"], ["101", "102"])
    async with pool.acquire() as conn:
        phones = await prov_queries.phones_for_mac(conn, base["mac"])
        desk = await prov_queries.phones_for_mac(conn, "000000000000")
    assert [p.handset_index for p in phones] == [1, 2]
    settings = dect_for(phones[0], secret_box)
    assert settings == DectSettings(
        name="Warehouse",
        handset_language="FRENCH",
        tone="Denmark",
        user_password="user-secret-2",
    )
    assert phones[0].device["language"] == "GERMAN"
    assert phones[0].device["preferredTransport"] == "UDP"
    assert desk == []


async def test_concurrent_member_replacements_serialise(client: Any, tenant: Tenant) -> None:
    base = await _create(client, tenant)
    first, second = await asyncio.gather(
        _members(client, tenant, base["_id"], ["101", "102", "103"]),
        _members(client, tenant, base["_id"], ["104", "105"]),
    )
    assert (first.status, second.status) == (200, 200)
    listed = await client.get(f"/api/dect_phones/{base['_id']}/members", headers=tenant.headers)
    items = (await listed.json())["items"]
    numbers = [m["extension_number"] for m in items]
    assert numbers in (["101", "102", "103"], ["104", "105"])
    assert [m["handset_index"] for m in items] == list(range(1, len(items) + 1))


async def test_other_tenants_base_is_not_found(
    client: Any, tenant: Tenant, pool: asyncpg.Pool[Any]
) -> None:
    base = await _create(client, tenant)
    async with pool.acquire() as conn:
        other = await factories.customer(conn, "Other")
        headers = bearer(await insert_token(conn, "MANAGER", customer_id=other))
    for response in (
        await client.get(f"/api/dect_phones/{base['_id']}", headers=headers),
        await client.get(f"/api/dect_phones/{base['_id']}/members", headers=headers),
        await client.post(f"/api/dect_phones/{base['_id']}", json={"name": "x"}, headers=headers),
        await client.post(f"/api/dect_phones/{base['_id']}/destroy", headers=headers),
    ):
        assert response.status == 404 and (await response.json())["message"] == "not_found"
    listed = await client.get("/api/dect_phones", headers=headers)
    assert (await listed.json())["items"] == []


async def test_update_cannot_clear_a_required_setting(client: Any, tenant: Tenant) -> None:
    base = await _create(client, tenant)
    url = f"/api/dect_phones/{base['_id']}"
    response = await client.post(
        url, json={"interface": None, "language": "KLINGON"}, headers=tenant.headers
    )
    body = await response.json()
    assert response.status == 422 and body["message"] == "multiple"
    assert {e["message"] for e in body["errors"]} == {"interface", "language"}
    unchanged = await (await client.get(url, headers=tenant.headers)).json()
    assert unchanged["interface"] == "WEB_DOMAIN" and unchanged["language"] == "GERMAN"
