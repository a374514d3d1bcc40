"""`/api/templates/phones` and `/api/phone_models`: a custom template overrides the
built-in for the next fetch, a broken one is refused with line and reason."""

from __future__ import annotations

from typing import Any

import asyncpg

from tests.support import factories
from tests.support.database import bearer, insert_token
from tests.support.prov_phones import loaded_phone

UA = "Yealink SIP-T54W 96.86.0.100 00:15:65:4a:a9:37"


async def test_custom_template_overrides_builtin_then_destroy_restores(
    prov: Any, pool: asyncpg.Pool[Any], admin_token: str
) -> None:
    async with pool.acquire() as conn:
        loaded = await loaded_phone(conn, "yealink-t54w", "0015654AA937")
    builtin = await prov.get("/api/templates/phones/yealink.cfg", headers=bearer(admin_token))
    assert builtin.status == 200
    original = await builtin.json()
    assert original["builtin"] is True and original["custom"] is False
    content = (
        "#!version:1.0.0.1\n"
        "account.1.user_name = {{ phone.accounts[0].username }}\n"
        "my.custom.key = {{ phone.accounts[0].extension }}\n"
    )
    updated = await prov.post(
        "/api/templates/phones/yealink.cfg", json={"content": content}, headers=bearer(admin_token)
    )
    assert updated.status == 200, await updated.text()
    body = await (await prov.get("/prov/0015654aa937.cfg", headers={"User-Agent": UA})).text()
    assert body.splitlines() == [
        "#!version:1.0.0.1",
        f"account.1.user_name = {loaded.phone.username}",
        "my.custom.key = 101",
    ]
    listing = await (await prov.get("/api/templates/phones", headers=bearer(admin_token))).json()
    [entry] = [i for i in listing["items"] if i["filename"] == "yealink.cfg"]
    assert entry["custom"] is True and entry["builtin"] is True
    destroyed = await prov.post(
        "/api/templates/phones/yealink.cfg/destroy", headers=bearer(admin_token)
    )
    assert destroyed.status == 200
    body = await (await prov.get("/prov/0015654aa937.cfg", headers={"User-Agent": UA})).text()
    assert "my.custom.key" not in body and "linekey.2.type = 16" in body
    again = await prov.post(
        "/api/templates/phones/yealink.cfg/destroy", headers=bearer(admin_token)
    )
    assert again.status == 404


async def test_broken_template_refused_with_line_and_reason(
    prov: Any, pool: asyncpg.Pool[Any], admin_token: str
) -> None:
    bad_syntax = "line one\nline two\n{% if phone.mac %}\nno endif\n"
    response = await prov.post(
        "/api/templates/phones",
        json={"filename": "yealink-lobby.cfg", "content": bad_syntax},
        headers=bearer(admin_token),
    )
    assert response.status == 422
    error = await response.json()
    assert error["code"] == 422 and error["message"] == "content"
    assert error["line"] == 4 and error["reason"]
    assert "line 4" in error["description"]
    undefined = "ok = 1\nbad = {{ phone.no_such_setting }}\n"
    response = await prov.post(
        "/api/templates/phones",
        json={"filename": "yealink-lobby.cfg", "content": undefined},
        headers=bearer(admin_token),
    )
    error = await response.json()
    assert response.status == 422 and error["line"] == 2 and "no_such_setting" in error["reason"]
    # nothing was stored
    missing = await prov.get("/api/templates/phones/yealink-lobby.cfg", headers=bearer(admin_token))
    assert missing.status == 404
    # a good one is created once, then 409
    good = "name = {{ phone.mac }}\n"
    made = await prov.post(
        "/api/templates/phones",
        json={"filename": "yealink-lobby.cfg", "content": good},
        headers=bearer(admin_token),
    )
    assert made.status == 201 and (await made.json())["custom"] is True
    twice = await prov.post(
        "/api/templates/phones",
        json={"filename": "yealink-lobby.cfg", "content": good},
        headers=bearer(admin_token),
    )
    assert twice.status == 409
    for bad in ({"filename": "../x", "content": good}, {"filename": "a.cfg"}, {"x": 1}):
        answer = await prov.post("/api/templates/phones", json=bad, headers=bearer(admin_token))
        assert answer.status == 422


async def test_template_access_levels(prov: Any, pool: asyncpg.Pool[Any]) -> None:
    async with pool.acquire() as conn:
        cust = await factories.customer(conn)
        owner = await insert_token(conn, "OWNER", customer_id=cust)
        viewer = await insert_token(conn, "VIEWER", customer_id=cust)
    assert (await prov.get("/api/templates/phones", headers=bearer(viewer))).status == 200
    refused = await prov.post(
        "/api/templates/phones/yealink.cfg", json={"content": "x = 1\n"}, headers=bearer(owner)
    )
    assert refused.status == 403  # templates are global: ADMIN writes them
    assert (await prov.get("/api/templates/phones")).status == 401


async def test_phone_models_and_profile(prov: Any, admin_token: str) -> None:
    models = await (await prov.get("/api/phone_models", headers=bearer(admin_token))).json()
    t54w = next(m for m in models["items"] if m["name"] == "yealink-t54w")
    assert t54w["template"] == "yealink.cfg" and "BLF" in t54w["softkey_functions"]
    profile = await prov.get("/api/phone_models/yealink.cfg", headers=bearer(admin_token))
    assert profile.status == 200
    body = await profile.json()
    assert body["vendor"] == "yealink" and "yealink-t54w" in body["models"]
    assert any(s.startswith("phone.accounts") for s in body["settings"])
    assert (await prov.get("/api/phone_models/nope.cfg", headers=bearer(admin_token))).status == 404


async def test_template_written_by_another_node_is_picked_up(
    prov: Any, pool: asyncpg.Pool[Any]
) -> None:
    import asyncio

    from db import templates as template_db

    async with pool.acquire() as conn:
        await template_db.insert_template(conn, "fanvil-lobby.cfg", "x = 1\n")
    store = prov.prov_server.templates
    for _ in range(100):  # the NOTIFY arrives on the store's LISTEN connection
        if "fanvil-lobby.cfg" in store.overrides:
            break
        await asyncio.sleep(0.02)
    assert store.overrides["fanvil-lobby.cfg"] == "x = 1\n"
