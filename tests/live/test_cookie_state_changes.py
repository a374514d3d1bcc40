"""The dashboard's session cookie never changes state on its own: the reference's
`GET …/resetcredentials` (a GET that regenerates a phone's SIP credentials) is refused to a
request whose only credential is the cookie — what a link or an image on another page, or a
navigation, would send — and still works with the bearer token. Sign-in takes JSON only,
which a form on another site cannot send."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

import provisioning.api.sipphones
from provisioning.auth import SESSION_COOKIE
from tests.support.database import bearer
from tests.support.live import Tenants, live_app


async def _credentials(pool: asyncpg.Pool[Any], phone_id: str) -> tuple[str, bytes]:
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT username, password_enc FROM sip_phones WHERE id = $1", phone_id
        )
    assert row is not None
    return row["username"], bytes(row["password_enc"])


async def test_a_session_cookie_cannot_reset_credentials(
    aiohttp_client: Any, pool: asyncpg.Pool[Any], settings: Any, secret_box: Any, tenants: Tenants
) -> None:
    app = live_app(settings, pool, secret_box, provisioning.api.sipphones.setup)
    client = await aiohttp_client(app)
    assert (await client.post("/api/session", json={"token": tenants.admin})).status == 200
    phone = tenants.phone_a.id
    before = await _credentials(pool, phone)
    url = f"/api/pbx/sipphone/{phone}/resetcredentials"

    # the cookie still reads: the phone, the session
    assert (await client.get(f"/api/pbx/sipphone/{phone}")).status == 200
    assert (await client.get("/api/session")).status == 200
    # but changes nothing, whatever the request looks like
    for headers in ({}, {"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"}):
        for method in ("GET", "POST"):
            response = await client.request(method, url, headers=headers)
            assert response.status == 401, (method, headers)
            body = await response.json()
            assert body["code"] == 401 and body["message"] == "unauthorized"
            assert response.headers["WWW-Authenticate"] == "Bearer"
    assert await _credentials(pool, phone) == before

    # the bearer token (an API client, the reference's GET) resets them
    response = await client.get(url, headers=bearer(tenants.admin))
    assert response.status == 200
    after = await _credentials(pool, phone)
    assert after != before and (await response.json())["username"] == after[0]
    response = await client.post(url, headers=bearer(tenants.admin))
    assert response.status == 200
    assert await _credentials(pool, phone) != after


async def test_sign_in_takes_json_only(live: Any, tenants: Tenants) -> None:
    """What a form on another site can send (no preflight) never signs a browser in."""
    body = json.dumps({"token": tenants.admin, "x": "="})  # a text/plain form's name=value
    for content_type in (
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        None,
    ):
        headers = {"Content-Type": content_type} if content_type else {}
        response = await live.post(
            "/api/session", data=body.encode(), headers=headers, skip_auto_headers=["Content-Type"]
        )
        assert response.status == 415, content_type
        assert (await response.json())["message"] == "body"
        assert SESSION_COOKIE not in response.cookies
    assert (await live.get("/api/session")).status == 401
    response = await live.post(
        "/api/session",
        data=body.encode(),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status == 200 and SESSION_COOKIE in response.cookies
