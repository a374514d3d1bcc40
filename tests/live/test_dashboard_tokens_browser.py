"""The dashboard's token form in headless Chromium: an OWNER session creates a token for
its customer and sees it once; a VIEWER session has no form."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

import provisioning.api.tokens
from provisioning.hub import ServiceHub
from tests.support.browser import artifact, chromium_page, needs_chromium, sign_in
from tests.support.database import bearer, insert_token
from tests.support.live import Tenants, live_app

pytestmark = [pytest.mark.browser, needs_chromium]


@pytest.fixture
async def base_url(pool: Any, aiohttp_server: Any, settings: Any, secret_box: Any) -> str:
    app = live_app(
        settings, pool, secret_box, provisioning.api.tokens.setup, hub=ServiceHub(node_id="browser")
    )
    server = await aiohttp_server(app, host="127.0.0.1")
    return f"http://127.0.0.1:{server.port}"


async def _session_of(base_url: str, token: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as client:
        response = await client.get(base_url + "/api/session", headers=bearer(token))
        assert response.status == 200
        return dict(await response.json())


async def test_an_owner_creates_a_token_and_sees_it_once(
    base_url: str, pool: Any, tenants: Tenants
) -> None:
    async with pool.acquire() as conn:
        owner = await insert_token(conn, "OWNER", customer_id=tenants.a)
    async with chromium_page() as page:
        await sign_in(page, base_url, owner)
        await page.wait_for_selector("#tokens-panel:not([hidden])")
        levels = await page.locator("#token-level option").all_inner_texts()
        assert levels == ["VIEWER", "MANAGER", "OWNER"]
        assert await page.locator("#token-customer option").all_inner_texts() == ["Alpha"]

        await page.select_option("#token-level", "MANAGER")
        await page.fill("#token-name", "reception desk")
        await page.click("#token-form button[type=submit]")
        await page.wait_for_selector("#token-result:not([hidden])")
        token = (await page.inner_text("#token-value")).strip()
        assert token.startswith("sft_")
        await page.screenshot(path=str(artifact("dashboard-token-created.png")), full_page=True)

        session = await _session_of(base_url, token)
        assert (session["level"], session["customer"]) == ("MANAGER", tenants.a)
        async with pool.acquire() as conn:
            name = await conn.fetchval(
                "SELECT name FROM api_tokens WHERE level = 'MANAGER' AND customer_id = $1",
                tenants.a,
            )
        assert name == "reception desk"

        await page.click("#token-done")
        await page.wait_for_selector("#token-result[hidden]", state="attached")
        assert await page.inner_text("#token-value") == ""
        assert token not in await page.content()  # shown once, then gone from the page


async def test_a_viewer_session_has_no_token_form(base_url: str, tenants: Tenants) -> None:
    async with chromium_page() as page:
        await sign_in(page, base_url, tenants.token_a)
        assert await page.locator("#tokens-panel").is_hidden()


async def test_an_admin_may_create_an_admin_token(base_url: str, tenants: Tenants) -> None:
    async with chromium_page() as page:
        await sign_in(page, base_url, tenants.admin)
        await page.wait_for_selector("#tokens-panel:not([hidden])")
        levels = await page.locator("#token-level option").all_inner_texts()
        assert levels == ["VIEWER", "MANAGER", "OWNER", "ADMIN"]
        await page.select_option("#token-level", "ADMIN")
        assert await page.locator("#token-customer").is_hidden()
        await page.click("#token-form button[type=submit]")
        await page.wait_for_selector("#token-result:not([hidden])")
        token = (await page.inner_text("#token-value")).strip()
        assert (await _session_of(base_url, token))["level"] == "ADMIN"
