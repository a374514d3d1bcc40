"""HTTP Basic auth on provisioning files over real HTTP: with `provisioning_http_auth` on,
a known and an unknown MAC answer alike (no enumeration oracle), and failed attempts are
limited per address like SIP's digest failures (`auth_failure_limit` /
`auth_failure_window` / `auth_ban_seconds`)."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import pytest

from provisioning.config import Settings
from provisioning.credentials import SecretBox
from provisioning.fileserver.httpauth import provisioning_password
from sipcore.ratelimit import FailureLimiter
from tests.support import factories
from tests.support.database import bearer
from tests.support.prov_app import running

KNOWN = "0015654AA937"
UNKNOWN = "0015654AA938"
YEALINK_UA = "Yealink SIP-T54W 96.86.0.100 00:15:65:4a:a9:37"  # a real one names its MAC


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture
async def guarded(
    aiohttp_client: Any, pool: asyncpg.Pool[Any], settings: Settings, secret_box: SecretBox
) -> AsyncIterator[Any]:
    """The file server with HTTP auth on, 5 failures a minute allowed, bans of 300 s, and
    one known phone."""
    async with pool.acquire() as conn:
        cust = await factories.customer(conn)
        await factories.phone(conn, cust, model="yealink-t54w", mac_address=KNOWN)
    on = dataclasses.replace(
        settings,
        provisioning_http_auth=True,
        auth_failure_limit=5,
        auth_failure_window=60,
        auth_ban_seconds=300,
    )
    async with running(aiohttp_client, pool, on, secret_box, with_sip=False) as client:
        yield client


async def answer(
    client: Any, path: str, headers: dict[str, str]
) -> tuple[int, dict[str, str], bytes]:
    response = await client.get(path, headers={"User-Agent": YEALINK_UA, **headers})
    kept = {k: v for k, v in response.headers.items() if k not in ("Date", "Server")}
    return response.status, kept, await response.read()


async def test_known_and_unknown_macs_answer_alike(
    guarded: Any, pool: asyncpg.Pool[Any], secret_box: SecretBox, admin_token: str
) -> None:
    # this test is about the answers only: no ban
    guarded.prov_server.auth_limiter = FailureLimiter(limit=1000, window=60, ban=300)
    attempts = [
        {},
        {"Authorization": "Basic"},
        {"Authorization": "Bearer sft_x"},
        basic(KNOWN, "wrong"),
        basic(UNKNOWN, "wrong"),
        basic("", ""),
        basic(KNOWN, provisioning_password(secret_box.key, UNKNOWN)),  # another MAC's password
    ]
    for headers in attempts:
        known = await answer(guarded, f"/prov/{KNOWN.lower()}.cfg", headers)
        unknown = await answer(guarded, f"/prov/{UNKNOWN.lower()}.cfg", dict(headers))
        assert known[0] == 401, (headers, known)
        assert known == unknown, headers
        assert known[1]["WWW-Authenticate"] == 'Basic realm="sipfleet provisioning"'
    # nothing was recorded for requests that were not authenticated
    async with pool.acquire() as conn:
        assert (
            await conn.fetchval("SELECT count(*) FROM events WHERE type = 'phone.discovered'") == 0
        )
    listing = await (await guarded.get("/api/phones", headers=bearer(admin_token))).json()
    assert [item["mac"] for item in listing["items"] if not item["assigned"]] == []
    # with its own credentials the known phone gets its file, the unknown MAC its 404
    good = basic(KNOWN, provisioning_password(secret_box.key, KNOWN))
    assert (await answer(guarded, f"/prov/{KNOWN.lower()}.cfg", good))[0] == 200
    good = basic(UNKNOWN, provisioning_password(secret_box.key, UNKNOWN))
    assert (await answer(guarded, f"/prov/{UNKNOWN.lower()}.cfg", good))[0] == 404


async def test_failures_are_limited_per_address(
    guarded: Any, secret_box: SecretBox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    path = f"/prov/{KNOWN.lower()}.cfg"
    started = time.monotonic()
    statuses = []
    for n in range(300):
        response = await guarded.get(path, headers=basic(KNOWN, f"guess{n}"))
        statuses.append(response.status)
        if response.status == 429:
            assert response.headers["Retry-After"] == "300"
    assert statuses[:5] == [401] * 5
    assert set(statuses[5:]) == {429}  # the other 295 guesses were never checked
    assert time.monotonic() - started < 30
    right = basic(KNOWN, provisioning_password(secret_box.key, KNOWN))
    # banned: the right password and any other MAC get the same 429
    assert (await guarded.get(path, headers=right)).status == 429
    assert (await guarded.get(f"/prov/{UNKNOWN.lower()}.cfg")).status == 429
    assert (await guarded.get("/prov/y000000000069.cfg")).status == 200  # common files stay open
    # another address is not affected
    url = f"http://127.0.0.1:{guarded.server.port}{path}"
    connector = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
    async with aiohttp.ClientSession(connector=connector) as other:
        async with other.get(url, headers={"User-Agent": YEALINK_UA, **right}) as response:
            assert response.status == 200
        async with other.get(url, headers=basic(KNOWN, "x")) as response:
            assert response.status == 401
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        "provisioning: address 127.0.0.1 refused for 300 s after repeated HTTP "
        "authentication failures"
    ]
    assert all(r.exc_info is None for r in caplog.records)
    assert not any("guess" in r.getMessage() for r in caplog.records)


async def test_a_ban_ends_and_a_success_clears_the_count(
    guarded: Any, secret_box: SecretBox
) -> None:
    server = guarded.prov_server
    server.settings = dataclasses.replace(server.settings, auth_ban_seconds=1)
    server.auth_limiter = FailureLimiter(limit=3, window=60, ban=1)
    path = f"/prov/{KNOWN.lower()}.cfg"
    right = {"User-Agent": YEALINK_UA, **basic(KNOWN, provisioning_password(secret_box.key, KNOWN))}
    for _ in range(2):
        assert (await guarded.get(path, headers=basic(KNOWN, "x"))).status == 401
    assert (await guarded.get(path, headers=right)).status == 200  # clears the two failures
    for _ in range(2):
        assert (await guarded.get(path, headers=basic(KNOWN, "x"))).status == 401
    assert (await guarded.get(path, headers=basic(KNOWN, "x"))).status == 401  # the 3rd: banned
    refused = await guarded.get(path, headers=right)
    assert refused.status == 429 and refused.headers["Retry-After"] == "1"
    await asyncio.sleep(1.1)
    assert (await guarded.get(path, headers=right)).status == 200


async def test_wrong_credentials_count_with_http_auth_off(
    prov: Any, pool: asyncpg.Pool[Any]
) -> None:
    prov.prov_server.auth_limiter = FailureLimiter(limit=2, window=60, ban=60)
    async with pool.acquire() as conn:
        cust = await factories.customer(conn)
        await factories.phone(conn, cust, model="yealink-t54w", mac_address=KNOWN)
    path = f"/prov/{KNOWN.lower()}.cfg"
    ua = {"User-Agent": YEALINK_UA}
    assert (await prov.get(path, headers=ua)).status == 200  # off: no credentials needed
    statuses = [
        (await prov.get(path, headers={**ua, **basic(KNOWN, "x")})).status for _ in range(3)
    ]
    assert statuses == [401, 401, 429]
    assert (await prov.get(path, headers=ua)).status == 429
