"""Dashboard sign-in: token -> sealed HttpOnly cookie that authorizes reads and the stream."""

from __future__ import annotations

import time
from typing import Any

import provisioning.api.tokens
from db.events import append_event
from provisioning.auth import SESSION_COOKIE
from provisioning.credentials import SecretBox
from provisioning.live.session import open_session, seal_session
from tests.support.database import bearer
from tests.support.live import Tenants, live_app
from tests.support.sse import SseReader


def session_cookie(response: Any) -> Any:
    return response.cookies[SESSION_COOKIE]


async def test_sign_in_sets_a_sealed_httponly_strict_cookie(live: Any, tenants: Tenants) -> None:
    response = await live.post("/api/session", json={"token": tenants.token_a})
    assert response.status == 200
    body = await response.json()
    assert body["level"] == "VIEWER" and body["customer"] == tenants.a
    assert body["expires"] > time.time() + 3600
    morsel = session_cookie(response)
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "Strict"
    assert morsel["path"] == "/"
    assert not morsel["secure"]  # plain HTTP here; HTTPS requests get Secure
    assert tenants.token_a not in morsel.value  # sealed, not the token itself
    assert "Set-Cookie" not in await response.text()

    # the cookie (kept by the client's jar) now authorizes reads and the stream
    response = await live.get("/api/session")
    assert (await response.json())["customer"] == tenants.a
    response = await live.get("/api/fleet/summary")
    assert [item["customer"] for item in (await response.json())["items"]] == [tenants.a]
    stream = await live.get("/api/events", headers={"Last-Event-ID": "0"})
    assert stream.status == 200
    stream.close()


async def test_cookie_stream_is_tenant_filtered(live: Any, pool: Any, tenants: Tenants) -> None:
    await live.post("/api/session", json={"token": tenants.token_b})
    async with pool.acquire() as conn:
        await append_event(
            conn, "phone.registered", phone_id=tenants.phone_a.id, customer_id=tenants.a
        )
        mine = await append_event(
            conn, "phone.registered", phone_id=tenants.phone_b.id, customer_id=tenants.b
        )
    response = await live.get("/api/events?lastEventId=0")
    reader = SseReader(response)
    assert (await reader.event()).id == str(mine.id)
    await reader.no_event(0.3)


async def test_bad_tokens_are_refused(live: Any) -> None:
    for body in ({"token": "sft_nope"}, {"token": ""}, {"token": 5}, {}):
        response = await live.post("/api/session", json=body)
        assert response.status in (401, 422)
        assert SESSION_COOKIE not in response.cookies
    response = await live.post(
        "/api/session", data=b"not json", headers={"Content-Type": "application/json"}
    )
    assert response.status == 422


async def test_forged_or_garbled_cookies_do_not_sign_in(live: Any, tenants: Tenants) -> None:
    other_box = SecretBox(bytes(32))
    forged = seal_session(other_box, tenants.admin, time.time() + 60)
    for value in (forged, "garbage", "A" * 5000, tenants.admin):
        live.session.cookie_jar.update_cookies({SESSION_COOKIE: value})
        response = await live.get("/api/session")
        assert response.status == 401


def test_an_expired_session_opens_to_nothing(secret_box: SecretBox) -> None:
    cookie = seal_session(secret_box, "sft_x", time.time() - 1)
    assert open_session(secret_box, cookie, time.time()) is None
    cookie = seal_session(secret_box, "sft_x", time.time() + 60)
    assert open_session(secret_box, cookie, time.time()) == "sft_x"


async def test_cookie_does_not_authorize_writes(
    aiohttp_client: Any, pool: Any, settings: Any, secret_box: Any, tenants: Tenants
) -> None:
    app = live_app(settings, pool, secret_box, provisioning.api.tokens.setup)
    client = await aiohttp_client(app)
    await client.post("/api/session", json={"token": tenants.admin})
    assert (await client.get("/api/tokens")).status == 200  # a read: the cookie is enough
    response = await client.post("/api/tokens", json={"level": "ADMIN"})
    assert response.status == 401  # a write: the bearer token is needed
    response = await client.post(
        "/api/tokens", json={"level": "ADMIN"}, headers=bearer(tenants.admin)
    )
    assert response.status == 201


async def test_revoking_the_token_ends_its_sessions(live: Any, pool: Any, tenants: Tenants) -> None:
    await live.post("/api/session", json={"token": tenants.token_a})
    assert (await live.get("/api/session")).status == 200
    async with pool.acquire() as conn:
        await conn.execute("DELETE FROM api_tokens WHERE customer_id = $1", tenants.a)
    assert (await live.get("/api/session")).status == 401


async def test_sign_out_clears_the_cookie(live: Any, tenants: Tenants) -> None:
    await live.post("/api/session", json={"token": tenants.token_a})
    response = await live.delete("/api/session")
    assert response.status == 200
    assert session_cookie(response).value == ""
    assert (await live.get("/api/session")).status == 401
    assert (await live.get("/api/session", headers=bearer(tenants.token_a))).status == 200
