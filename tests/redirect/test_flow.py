"""Through the REST API and the runner, against the vendors' fakes: creating a phone with
`rps`, changing its MAC, turning `rps` off and deleting it drive the right calls; a failure
is retried with backoff, ends `failed` with the service's reason and an event, and is
retried by hand; DECT bases the same; what is wanted but cannot be done says so."""

from __future__ import annotations

from typing import Any

import asyncpg

from db import events as event_queries
from tests.support import factories
from tests.support.database import bearer, insert_token
from tests.support.redirect import Stack, Tenant, Vendors

BASE = "http://prov.example.test:8080/prov/"


async def _assign(stack: Stack, tenant: Tenant, **fields: Any) -> dict[str, Any]:
    """A phone for extension 101 through /api/users (000), where `rps` is set."""
    body = {"vendor": "yealink", "model": "T54W", "mac": "805EC0123456", "rps": True, **fields}
    response = await stack.client.post(
        f"/api/users/{tenant.extension}/phones", json=body, headers=tenant.headers
    )
    assert response.status == 201, await response.text()
    phone: dict[str, Any] = await response.json()
    return phone


async def _phone(stack: Stack, tenant: Tenant, phone_id: str) -> dict[str, Any]:
    response = await stack.client.get(f"/api/pbx/sipphone/{phone_id}", headers=tenant.headers)
    assert response.status == 200
    body: dict[str, Any] = await response.json()
    return body


async def _events(pool: asyncpg.Pool[Any], kind: str) -> list[dict[str, Any]]:
    async with pool.acquire() as conn:
        found = await event_queries.latest_events(conn, None, 100)
    return [event.as_json() for event in found if event.type == kind]


async def test_create_change_mac_rps_off_and_delete_drive_the_calls(
    stack: Stack, tenant: Tenant, vendors: Vendors, pool: asyncpg.Pool[Any]
) -> None:
    phone = await _assign(stack, tenant, https=True)
    shown = await _phone(stack, tenant, phone["_id"])
    assert shown["redirect"]["state"] == "pending" and shown["redirect"]["service"] == "Yealink RPS"
    assert shown["redirect"]["url"] == "https://prov.example.test:8080/prov/"
    await stack.drain()
    assert vendors.yealink.entries == {"805EC0123456": "https://prov.example.test:8080/prov/"}
    shown = await _phone(stack, tenant, phone["_id"])
    assert shown["redirect"]["state"] == "registered" and "nextAttempt" not in shown["redirect"]
    [registered] = await _events(pool, "phone.redirect_registered")
    assert registered["phone"] == phone["_id"] and registered["customer"] == tenant.customer
    assert registered["details"]["mac"] == "805EC0123456"

    moved = await stack.client.post(
        f"/api/pbx/sipphone/{phone['_id']}",
        json={"macAddress": "805EC0654321"},
        headers=tenant.headers,
    )
    assert moved.status == 200
    assert (await moved.json())["redirect"]["state"] == "pending"
    await stack.drain()
    assert vendors.yealink.entries == {"805EC0654321": "https://prov.example.test:8080/prov/"}
    assert len(await _events(pool, "phone.redirect_removed")) == 1

    off = await stack.client.post(
        f"/api/users/{tenant.extension}/phones/{phone['_id']}",
        json={"rps": False},
        headers=tenant.headers,
    )
    assert off.status == 200
    assert "redirect" not in await _phone(stack, tenant, phone["_id"])
    await stack.drain()
    assert vendors.yealink.entries == {}

    on = await stack.client.post(
        f"/api/users/{tenant.extension}/phones/{phone['_id']}",
        json={"rps": True},
        headers=tenant.headers,
    )
    assert on.status == 200
    await stack.drain()
    assert vendors.yealink.entries == {"805EC0654321": "https://prov.example.test:8080/prov/"}
    deleted = await stack.client.delete(f"/api/pbx/sipphone/{phone['_id']}", headers=tenant.headers)
    assert deleted.status == 200
    await stack.drain()
    assert vendors.yealink.entries == {}
    assert len(await _events(pool, "phone.redirect_removed")) == 3
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM redirect_jobs") == 0


async def test_an_unchanged_record_calls_nobody(
    stack: Stack, tenant: Tenant, vendors: Vendors
) -> None:
    phone = await _assign(stack, tenant)
    await stack.drain()
    calls = len(vendors.yealink.calls)
    renamed = await stack.client.post(
        f"/api/pbx/sipphone/{phone['_id']}", json={"notes": "desk 4"}, headers=tenant.headers
    )
    assert renamed.status == 200 and (await renamed.json())["redirect"]["state"] == "registered"
    await stack.drain()
    assert len(vendors.yealink.calls) == calls


async def test_failure_backs_off_fails_with_the_reason_and_is_retried_by_hand(
    stack: Stack, tenant: Tenant, vendors: Vendors, pool: asyncpg.Pool[Any]
) -> None:
    vendors.yealink.outage = 100
    phone = await _assign(stack, tenant)
    assert await stack.runner.run_once() == 1
    shown = (await _phone(stack, tenant, phone["_id"]))["redirect"]
    assert shown["state"] == "pending" and shown["attempts"] == 1
    assert shown["reason"] == "Yealink RPS answered HTTP 503" and "nextAttempt" in shown
    assert await stack.runner.run_once() == 0  # not due before its backoff
    async with pool.acquire() as conn:
        delay = await conn.fetchval(
            "SELECT extract(epoch FROM next_attempt - updated) FROM redirect_jobs"
        )
    assert 0.9 < float(delay) < 1.5  # redirect_retry_seconds × 2^0
    for _ in (2, 3):
        await _make_due(pool)
        assert await stack.runner.run_once() == 1
    shown = (await _phone(stack, tenant, phone["_id"]))["redirect"]
    assert shown["state"] == "failed" and shown["attempts"] == 3
    assert shown["reason"] == "Yealink RPS answered HTTP 503"
    [failed] = await _events(pool, "phone.redirect_failed")
    assert failed["details"]["reason"] == "Yealink RPS answered HTTP 503"
    assert failed["phone"] == phone["_id"]

    vendors.yealink.outage = 0
    retried = await stack.client.post(
        f"/api/pbx/sipphone/{phone['_id']}/redirect", headers=tenant.headers
    )
    assert retried.status == 202
    assert (await retried.json())["redirect"]["state"] == "pending"
    await stack.drain()
    assert (await _phone(stack, tenant, phone["_id"]))["redirect"]["state"] == "registered"
    assert vendors.yealink.entries == {"805EC0123456": BASE}


async def _make_due(pool: asyncpg.Pool[Any]) -> None:
    async with pool.acquire() as conn:
        await conn.execute("UPDATE redirect_jobs SET next_attempt = now() WHERE state = 'pending'")


async def test_a_refusal_fails_at_once(
    stack: Stack, tenant: Tenant, vendors: Vendors, pool: asyncpg.Pool[Any]
) -> None:
    vendors.yealink.foreign.add("805ec0123456")
    phone = await _assign(stack, tenant)
    await stack.drain()
    shown = (await _phone(stack, tenant, phone["_id"]))["redirect"]
    assert shown["state"] == "failed" and shown["attempts"] == 1
    assert "another RPS account" in shown["reason"]


async def test_retry_route_follows_tenant_rules(
    stack: Stack, tenant: Tenant, pool: asyncpg.Pool[Any]
) -> None:
    phone = await _assign(stack, tenant)
    url = f"/api/pbx/sipphone/{phone['_id']}/redirect"
    assert (await stack.client.post(url, headers=tenant.viewer)).status == 403
    async with pool.acquire() as conn:
        other = await factories.customer(conn, "Other")
        stranger = bearer(await insert_token(conn, "MANAGER", customer_id=other))
    assert (await stack.client.post(url, headers=stranger)).status == 404
    assert (await stack.client.post(url)).status == 401
    plain = await stack.client.put(
        "/api/pbx/sipphone",
        json={"sipPhoneModel": "yealink-t54w", "macAddress": "805EC0999999"},
        headers=tenant.headers,
    )
    assert plain.status == 201 and "redirect" not in await plain.json()
    refused = await stack.client.post(
        f"/api/pbx/sipphone/{(await plain.json())['_id']}/redirect", headers=tenant.headers
    )
    assert refused.status == 409 and (await refused.json())["message"] == "redirect"


async def test_snom_is_registered_without_rps_once_the_account_is_configured(
    stack: Stack, tenant: Tenant, vendors: Vendors
) -> None:
    created = await stack.client.put(
        "/api/pbx/sipphone",
        json={"sipPhoneModel": "snom-d785", "macAddress": "000413AABBCC"},
        headers=tenant.headers,
    )
    assert created.status == 201
    assert (await created.json())["redirect"]["service"] == "Snom SRAPS"
    await stack.drain()
    assert vendors.snom.entries == {"000413AABBCC": BASE}


async def test_what_cannot_be_done_says_so(
    stack: Stack, tenant: Tenant, aiohttp_client: Any, pool: asyncpg.Pool[Any], secret_box: Any
) -> None:
    from tests.support.redirect import make_stack

    bare = await make_stack(
        aiohttp_client, pool, stack.settings.__class__(**_no_accounts(stack.settings)), secret_box
    )
    phone = await _assign(bare, tenant)
    redirect = (await _phone(bare, tenant, phone["_id"]))["redirect"]
    assert redirect["state"] == "not_configured"
    assert redirect["reason"].startswith("no Yealink RPS account configured")
    retry = await bare.client.post(
        f"/api/pbx/sipphone/{phone['_id']}/redirect", headers=tenant.headers
    )
    assert retry.status == 409 and "no Yealink RPS account" in (await retry.json())["description"]
    mitel = await _assign(bare, tenant, vendor="mitel", model="6867i", mac="00085D112233")
    redirect = (await _phone(bare, tenant, mitel["_id"]))["redirect"]
    assert redirect["state"] == "manual" and "00-08-5D-11-22-33" in redirect["reason"]
    snom = await bare.client.put(
        "/api/pbx/sipphone",
        json={"sipPhoneModel": "snom-d785", "macAddress": "000413AABBCD"},
        headers=tenant.headers,
    )
    assert "redirect" not in await snom.json()  # no account, no rps: nothing wanted


def _no_accounts(settings: Any) -> dict[str, Any]:
    values = {name: getattr(settings, name) for name in settings.__dataclass_fields__}
    for name in values:
        keep = name.endswith(("_url", "_seconds", "_attempts", "_timeout", "_provider"))
        if name.startswith("redirect_") and not keep:
            values[name] = ""
    return values


async def test_dect_base_registers_retries_and_goes(
    stack: Stack, tenant: Tenant, vendors: Vendors, pool: asyncpg.Pool[Any]
) -> None:
    body = {
        "name": "Warehouse",
        "mac": "7C:2F:80:11:22:33",
        "template": "gigaset.xml",
        "vendor": "gigaset",
        "model": "N670 IP PRO",
        "password": "admin-secret-1",
        "timezone": "Europe/Copenhagen",
        "language": "GERMAN",
        "tone": "DE",
        "rps": True,
        "https": True,
        "codecs": ["g722", "pcma"],
        "interface": "WEB_DOMAIN",
        "preferred_transport": "UDP",
    }
    created = await stack.client.post("/api/dect_phones", json=body, headers=tenant.headers)
    assert created.status == 201, await created.text()
    base = await created.json()
    assert base["redirect"]["state"] == "pending" and "next_attempt" in base["redirect"]
    vendors.gigaset.outage = 100
    await stack.drain()
    for _ in range(2):
        await _make_due(pool)
        await stack.drain()
    failed = await (
        await stack.client.get(f"/api/dect_phones/{base['_id']}", headers=tenant.headers)
    ).json()
    assert failed["redirect"]["state"] == "failed"
    [event] = await _events(pool, "phone.redirect_failed")
    assert event["phone"] is None and event["details"]["dectPhone"] == base["_id"]
    vendors.gigaset.outage = 0
    retried = await stack.client.post(
        f"/api/dect_phones/{base['_id']}/redirect", headers=tenant.headers
    )
    assert retried.status == 202
    await stack.drain()
    assert vendors.gigaset.entries["7C2F80112233"]["url"] == "https://prov.example.test:8080/prov/"
    destroyed = await stack.client.post(
        f"/api/dect_phones/{base['_id']}/destroy", headers=tenant.headers
    )
    assert destroyed.status == 200
    await stack.drain()
    assert vendors.gigaset.entries == {}
