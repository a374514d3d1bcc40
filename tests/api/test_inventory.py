"""Customers, extensions, pickup groups and queues through HTTP."""

from __future__ import annotations

from typing import Any

from tests.support.api_world import World
from tests.support.database import bearer, insert_token


async def test_customers(api: Any, pool: Any, world: World) -> None:
    async with pool.acquire() as conn:
        reseller = await conn.fetchval("INSERT INTO resellers (name) VALUES ('R') RETURNING id")
        reseller_token = bearer(await insert_token(conn, "RESELLER", reseller_id=reseller))
    resp = await api.post("/api/customers", json={"name": "Gamma"}, headers=reseller_token)
    gamma = await resp.json()
    assert resp.status == 201 and gamma["reseller"] == reseller and gamma["active"] is True
    resp = await api.post("/api/customers", json={"name": "Delta"}, headers=world.a.owner)
    assert resp.status == 403
    resp = await api.post("/api/customers", json={"name": ""}, headers=world.admin)
    assert (resp.status, (await resp.json())["message"]) == (422, "name")
    resp = await api.post(
        "/api/customers", json={"name": "X", "reseller": "f" * 24}, headers=world.admin
    )
    assert (resp.status, (await resp.json())["message"]) == (404, "reseller")
    listed = await (await api.get("/api/customers", headers=reseller_token)).json()
    assert [c["_id"] for c in listed["items"]] == [gamma["_id"]]
    listed = await (await api.get("/api/customers", headers=world.a.viewer)).json()
    assert [c["_id"] for c in listed["items"]] == [world.a.customer_id]
    assert (await api.get(f"/api/customers/{gamma['_id']}", headers=world.a.viewer)).status == 404
    resp = await api.post(
        f"/api/customers/{world.a.customer_id}", json={"name": "Alpha 2"}, headers=world.a.owner
    )
    assert (await resp.json())["name"] == "Alpha 2"
    resp = await api.post(
        f"/api/customers/{world.a.customer_id}", json={"active": False}, headers=world.a.owner
    )
    assert resp.status == 403
    resp = await api.post(
        f"/api/customers/{gamma['_id']}", json={"active": False}, headers=reseller_token
    )
    assert (await resp.json())["active"] is False
    # An inactive customer takes no new phones.
    resp = await api.put(
        "/api/pbx/sipphone",
        json={"customer": gamma["_id"], "sipPhoneModel": world.models["t54w"]},
        headers=world.admin,
    )
    assert (resp.status, (await resp.json())["message"]) == (404, "customer")
    resp = await api.delete(f"/api/customers/{gamma['_id']}", headers=reseller_token)
    assert resp.status == 200
    assert (await api.get(f"/api/customers/{gamma['_id']}", headers=world.admin)).status == 404


async def test_extensions(shared_api: Any, shared_db: Any) -> None:
    api, world = shared_api, shared_db[1]
    resp = await api.post(
        "/api/extensions", json={"number": "555", "name": "Lab"}, headers=world.a.manager
    )
    ext = await resp.json()
    assert resp.status == 201 and ext["customer"] == world.a.customer_id and ext["number"] == "555"
    resp = await api.post("/api/extensions", json={"number": "555"}, headers=world.a.manager)
    assert (resp.status, (await resp.json())["message"]) == (409, "number")
    for number in ("55", "5" * 65, "12a", 123):
        resp = await api.post("/api/extensions", json={"number": number}, headers=world.a.manager)
        assert (resp.status, (await resp.json())["message"]) == (422, "number")
    assert (
        await api.post("/api/extensions", json={"number": "556"}, headers=world.a.viewer)
    ).status == 403
    resp = await api.post(
        "/api/extensions",
        json={"number": "556", "customer": world.b.customer_id},
        headers=world.a.manager,
    )
    assert (resp.status, (await resp.json())["message"]) == (404, "customer")
    resp = await api.post(
        f"/api/extensions/{ext['_id']}",
        json={"name": "Lab 2", "number": "5550"},
        headers=world.a.manager,
    )
    assert (await resp.json())["number"] == "5550"
    resp = await api.post(
        f"/api/extensions/{ext['_id']}", json={"number": "101"}, headers=world.a.manager
    )
    assert resp.status == 409
    found = await (await api.get("/api/extensions?number=5550", headers=world.a.viewer)).json()
    assert [e["_id"] for e in found["items"]] == [ext["_id"]]
    assert (await api.get(f"/api/extensions/{ext['_id']}", headers=world.b.viewer)).status == 404
    assert (
        await api.delete(f"/api/extensions/{ext['_id']}", headers=world.b.manager)
    ).status == 404
    assert (
        await api.delete(f"/api/extensions/{ext['_id']}", headers=world.a.manager)
    ).status == 200


async def test_groups_and_queues(shared_api: Any, shared_db: Any) -> None:
    api, world = shared_api, shared_db[1]
    members = [{"extension": world.a.extension_ids["102"], "controller": True}]
    resp = await api.post(
        "/api/pickupgroups", json={"name": "Desk", "members": members}, headers=world.a.manager
    )
    group = await resp.json()
    assert resp.status == 201 and group["members"] == members
    resp = await api.post(
        "/api/pickupgroups",
        json={"name": "Bad", "members": [{"extension": world.b.extension_ids["201"]}]},
        headers=world.a.manager,
    )
    assert (resp.status, (await resp.json())["message"]) == (404, "members[0].extension")
    queue = await (
        await api.post("/api/queues", json={"name": "Q", "number": "600"}, headers=world.a.manager)
    ).json()
    # The new group and queue are valid soft-key targets for a phone of extension 102.
    body = world.body(
        extension=world.a.extension_ids["102"],
        softkeys=[
            {"index": 0, "function": "PICKUPGROUP", "value": group["_id"]},
            {"index": 1, "function": "QUEUE", "value": queue["_id"]},
        ],
    )
    resp = await api.put("/api/pbx/sipphone", json=body, headers=world.a.manager)
    assert resp.status == 201, await resp.json()
    listed = await (await api.get("/api/queues", headers=world.a.viewer)).json()
    assert queue["_id"] in [q["_id"] for q in listed["items"]]
    assert (
        await api.get(f"/api/pickupgroups/{group['_id']}", headers=world.b.viewer)
    ).status == 404
    assert (await api.delete(f"/api/queues/{queue['_id']}", headers=world.a.manager)).status == 200
    assert (await api.get(f"/api/queues/{queue['_id']}", headers=world.a.viewer)).status == 404
    assert (
        await api.delete(f"/api/pickupgroups/{group['_id']}", headers=world.a.manager)
    ).status == 200
