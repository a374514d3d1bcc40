"""The dashboard's one cookie-authorized write, creating an API token: it needs the
session's anti-forgery header; every other write still needs the bearer token."""

from __future__ import annotations

from typing import Any

import pytest

import provisioning.api.tokens
from provisioning.live.session import CSRF_HEADER
from tests.support.database import bearer, insert_token
from tests.support.live import Tenants, live_app


@pytest.fixture
async def client(aiohttp_client: Any, pool: Any, settings: Any, secret_box: Any) -> Any:
    app = live_app(settings, pool, secret_box, provisioning.api.tokens.setup)
    return await aiohttp_client(app)


async def _sign_in(client: Any, token: str) -> str:
    response = await client.post("/api/session", json={"token": token})
    assert response.status == 200
    csrf = (await response.json())["csrf"]
    again = await client.get("/api/session")  # a reloaded page gets the same value
    assert (await again.json())["csrf"] == csrf
    return str(csrf)


async def test_the_cookie_creates_a_token_only_with_the_session_header(
    client: Any, pool: Any, tenants: Tenants
) -> None:
    async with pool.acquire() as conn:
        owner = await insert_token(conn, "OWNER", customer_id=tenants.a)
    csrf = await _sign_in(client, owner)
    body = {"level": "MANAGER", "name": "desk"}
    for headers in ({}, {CSRF_HEADER: "0" * 32}, {CSRF_HEADER: csrf[:-1] + "é"}):
        response = await client.post("/api/tokens", json=body, headers=headers)
        assert response.status == 401, headers
    response = await client.post("/api/tokens", json=body, headers={CSRF_HEADER: csrf})
    assert response.status == 201
    created = await response.json()
    assert created["customer"] == tenants.a and created["level"] == "MANAGER"
    who = await client.get("/api/session", headers=bearer(created["token"]))
    assert (await who.json())["level"] == "MANAGER"
    # the same session and header do not authorize any other write
    response = await client.delete(f"/api/tokens/{created['_id']}", headers={CSRF_HEADER: csrf})
    assert response.status == 401
    # nor do they reach past the tenant rules
    response = await client.post(
        "/api/tokens",
        json={"level": "VIEWER", "customer": tenants.b},
        headers={CSRF_HEADER: csrf},
    )
    assert response.status == 404


async def test_a_viewer_session_may_not_create_tokens(client: Any, tenants: Tenants) -> None:
    csrf = await _sign_in(client, tenants.token_a)
    response = await client.post(
        "/api/tokens", json={"level": "VIEWER"}, headers={CSRF_HEADER: csrf}
    )
    assert response.status == 403


async def test_another_sessions_header_does_not_count(client: Any, tenants: Tenants) -> None:
    earlier = await _sign_in(client, tenants.token_b)
    await _sign_in(client, tenants.admin)  # a new cookie
    response = await client.post(
        "/api/tokens", json={"level": "ADMIN"}, headers={CSRF_HEADER: earlier}
    )
    assert response.status == 401
