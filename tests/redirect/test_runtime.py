"""The runner as it runs in the service: in the background, woken by the API, its outcome
on the live event stream; its work surviving a restart (a call cut off by a crash is done
by the next runner once its lease ran out); the fleet brought in line at start when an
account was configured since; and no credential anywhere an operator or a log can see."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from contextlib import AsyncExitStack
from typing import Any

import asyncpg
import pytest

from db import redirects as queries
from provisioning.app.context import ServiceContext
from provisioning.hub import ServiceHub
from provisioning.redirect.runner import RedirectRunner
from tests.support.redirect import (
    ROUTE_MODULES,
    SECRET_VALUES,
    Stack,
    Tenant,
    Vendors,
    make_stack,
    vendor_settings,
)
from tests.support.sse import SseReader

PHONE = {"vendor": "yealink", "model": "T54W", "mac": "805EC0123456", "rps": True}


async def _assign(client: Any, tenant: Tenant, **fields: Any) -> dict[str, Any]:
    response = await client.post(
        f"/api/users/{tenant.extension}/phones", json={**PHONE, **fields}, headers=tenant.headers
    )
    assert response.status == 201, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def test_the_service_registers_in_the_background_and_streams_the_event(
    aiohttp_client: Any,
    pool: asyncpg.Pool[Any],
    settings: Any,
    secret_box: Any,
    vendors: Vendors,
    tenant: Tenant,
) -> None:
    from provisioning.app.components import live as live_component
    from provisioning.app.components import redirect as redirect_component
    from provisioning.app.http import create_app

    configured = vendor_settings(settings, vendors)
    hub = ServiceHub(node_id="test")
    app = create_app(
        settings=configured, pool=pool, secret_box=secret_box, hub=hub, routes=ROUTE_MODULES
    )
    ctx = ServiceContext(
        settings=configured, pool=pool, secret_box=secret_box, hub=hub, app=app, ssl_context=None
    )
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(live_component.run(ctx))
        runner = await stack.enter_async_context(redirect_component.run(ctx))
        runner.poll_seconds = 30  # only the API's wake-up can make this test pass in time
        client = await aiohttp_client(app)
        stream = await client.get("/api/events", headers=tenant.headers)
        assert stream.status == 200
        reader = SseReader(stream)
        phone = await _assign(client, tenant)
        message = await reader.event(timeout=10)
        while message.event != "phone.redirect_registered":
            message = await reader.event(timeout=10)
        assert message.json["phone"] == phone["_id"]
        assert message.json["details"]["service"] == "Yealink RPS"
        assert vendors.yealink.entries == {"805EC0123456": "http://prov.example.test:8080/prov/"}
        stream.close()


async def test_work_survives_a_crash_in_the_middle_of_a_call(
    stack: Stack, tenant: Tenant, vendors: Vendors, pool: asyncpg.Pool[Any], secret_box: Any
) -> None:
    phone = await _assign(stack.client, tenant)
    async with pool.acquire() as conn, conn.transaction():
        [claimed] = await queries.claim(conn, limit=5, lease_seconds=600)
    # …and the process holding the claim dies before it answers: the row stays leased
    assert claimed.attempts == 1 and vendors.yealink.entries == {}
    after_restart = RedirectRunner(pool, stack.settings, secret_box, reconcile=False)
    await after_restart.open()
    try:
        assert await after_restart.run_once() == 0  # not while the lease holds
        async with pool.acquire() as conn:
            await conn.execute("UPDATE redirect_jobs SET leased_until = now() - interval '1 s'")
        assert await after_restart.run_once() == 1
    finally:
        await after_restart.stop()
    assert vendors.yealink.entries == {"805EC0123456": "http://prov.example.test:8080/prov/"}
    shown = await stack.client.get(f"/api/pbx/sipphone/{phone['_id']}", headers=tenant.headers)
    redirect = (await shown.json())["redirect"]
    assert redirect["state"] == "registered" and redirect["attempts"] == 2


async def test_an_account_configured_later_is_used_for_the_fleet_at_start(
    aiohttp_client: Any,
    pool: asyncpg.Pool[Any],
    settings: Any,
    secret_box: Any,
    vendors: Vendors,
    tenant: Tenant,
) -> None:
    without = dataclasses.replace(
        vendor_settings(settings, vendors),
        redirect_yealink_access_secret="",
        redirect_snom_password="",
    )
    before = await make_stack(aiohttp_client, pool, without, secret_box)
    yealink = await _assign(before.client, tenant)
    snom = await before.client.put(
        "/api/pbx/sipphone",
        json={"sipPhoneModel": "snom-d785", "macAddress": "000413AABBCC"},
        headers=tenant.headers,
    )
    assert "redirect" not in await snom.json()
    async with pool.acquire() as conn:
        job = await queries.registration(conn, "phone", yealink["_id"])
    assert job is not None and job.state == "not_configured"

    restarted = RedirectRunner(pool, vendor_settings(settings, vendors), secret_box)
    await restarted.start()  # reconciles, then works in the background
    try:
        for _ in range(100):
            if len(vendors.yealink.entries) + len(vendors.snom.entries) == 2:
                break
            await asyncio.sleep(0.05)
    finally:
        await restarted.stop()
    assert vendors.yealink.entries == {"805EC0123456": "http://prov.example.test:8080/prov/"}
    assert vendors.snom.entries == {"000413AABBCC": "http://prov.example.test:8080/prov/"}


@pytest.mark.parametrize("http_auth", [False, True])
async def test_no_credential_is_logged_shown_or_stored(
    aiohttp_client: Any,
    pool: asyncpg.Pool[Any],
    settings: Any,
    secret_box: Any,
    vendors: Vendors,
    tenant: Tenant,
    caplog: pytest.LogCaptureFixture,
    http_auth: bool,
) -> None:
    from provisioning.fileserver.httpauth import provisioning_password

    caplog.set_level(logging.DEBUG)
    configured = vendor_settings(settings, vendors, provisioning_http_auth=http_auth)
    stack = await make_stack(aiohttp_client, pool, configured, secret_box)
    await stack.runner.open()
    try:
        vendors.yealink.echo_secret = True  # the service quotes the account in its refusal
        vendors.yealink.foreign.add("805ec0123456")
        refused = await _assign(stack.client, tenant)
        fine = await _assign(stack.client, tenant, mac="805EC0AAAAAA")
        vendors.snom.outage = 1
        await stack.client.put(
            "/api/pbx/sipphone",
            json={"sipPhoneModel": "snom-d785", "macAddress": "000413AABBCC"},
            headers=tenant.headers,
        )
        await stack.drain()
        async with pool.acquire() as conn:
            await conn.execute("UPDATE redirect_jobs SET next_attempt = now()")
        await stack.drain()
    finally:
        await stack.runner.stop()
    secrets = (*SECRET_VALUES, provisioning_password(secret_box.key, "805EC0AAAAAA"))
    seen = [caplog.text]
    for phone_id in (refused["_id"], fine["_id"]):
        response = await stack.client.get(f"/api/pbx/sipphone/{phone_id}", headers=tenant.headers)
        seen.append(await response.text())
    listed = await stack.client.get("/api/pbx/sipphone", headers=tenant.headers)
    seen.append(await listed.text())
    async with pool.acquire() as conn:
        seen.append(str([dict(r) for r in await conn.fetch("SELECT * FROM events")]))
        seen.append(str([dict(r) for r in await conn.fetch("SELECT * FROM redirect_jobs")]))
    for text in seen:
        for secret in secrets:
            assert secret not in text
    failed = await stack.client.get(f"/api/pbx/sipphone/{refused['_id']}", headers=tenant.headers)
    reason = (await failed.json())["redirect"]["reason"]
    assert "***" in reason and "device.mac.existed" in reason
    assert vendors.yealink.entries == {"805EC0AAAAAA": "http://prov.example.test:8080/prov/"}
    device = vendors.yealink.details["805EC0AAAAAA"]
    if http_auth:  # the phone's HTTP credentials went to the vendor, and only there
        assert device["authName"] == "805EC0AAAAAA" and device["password"] == secrets[-1]
    else:
        assert "authName" not in device and "password" not in device
