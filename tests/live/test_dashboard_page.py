"""The dashboard page and its assets: served with a strict CSP, nothing else reachable."""

from __future__ import annotations

import dataclasses
from typing import Any

from provisioning.app.http import create_app
from provisioning.auth import SESSION_COOKIE
from tests.support.live import LIVE_ROUTES, Tenants


async def test_page_and_assets(live: Any) -> None:
    response = await live.get("/")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/html")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    page = await response.text()
    assert '<script src="/static/dashboard.js" defer></script>' in page
    for name, kind in (("dashboard.js", "javascript"), ("dashboard.css", "text/css")):
        response = await live.get(f"/static/{name}")
        assert response.status == 200 and kind in response.headers["Content-Type"]
    for path in ("/static/index.html", "/static/..%2Flive%2Fsession.py", "/static/../app.py"):
        assert (await live.get(path)).status == 404


async def test_cookie_is_secure_behind_a_trusted_https_proxy(
    aiohttp_client: Any, pool: Any, settings: Any, secret_box: Any, tenants: Tenants
) -> None:
    async def secure_flag(trusted: str, proto: str) -> bool:
        app = create_app(
            settings=dataclasses.replace(settings, trusted_proxies=trusted),
            pool=pool,
            secret_box=secret_box,
            routes=LIVE_ROUTES,
        )
        client = await aiohttp_client(app)
        response = await client.post(
            "/api/session", json={"token": tenants.token_a}, headers={"X-Forwarded-Proto": proto}
        )
        assert response.status == 200
        return bool(response.cookies[SESSION_COOKIE]["secure"])

    assert await secure_flag("127.0.0.0/8", "https") is True
    assert await secure_flag("127.0.0.0/8", "http") is False
    assert await secure_flag("", "https") is False  # not from a trusted proxy: ignored
    assert await secure_flag("10.0.0.0/8", "https") is False
