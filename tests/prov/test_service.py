"""The file server inside a real `sipfleet serve` process (the component registered)."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import asyncpg

from tests.process import start_sipfleet
from tests.prov.phones import loaded_phone

UA = "Yealink SIP-T54W 96.86.0.100 00:15:65:4a:a9:37"


def _get(url: str, user_agent: str) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"User-Agent": user_agent})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


async def test_serve_provisions_a_phone(
    tmp_path: Path, database_url: str, pool: asyncpg.Pool[Any]
) -> None:
    async with pool.acquire() as conn:
        loaded = await loaded_phone(conn, "yealink-t54w", "0015654AA937")
    running = await asyncio.to_thread(
        start_sipfleet, tmp_path / "data", env={"SIPFLEET_DATABASE_URL": database_url}
    )
    try:
        base = running.base_url
        status, body = await asyncio.to_thread(_get, f"{base}/prov/0015654aa937.cfg", UA)
        assert status == 200
        assert f"account.1.password = {loaded.phone.password}" in body.splitlines()
        assert f"account.1.sip_server.1.port = {running.sip_port}" in body.splitlines()
        unknown = await asyncio.to_thread(_get, f"{base}/prov/0015654aa999.cfg", UA)
        assert unknown[0] == 404
    finally:
        await asyncio.to_thread(running.stop)
    log = running.log()
    assert loaded.phone.password not in log  # no credential or config body in the log
    async with pool.acquire() as conn:  # recorded when the service stopped, at the latest
        fetched = await conn.fetchval(
            "SELECT count(*) FROM events WHERE type = 'phone.config_fetched'"
        )
    assert fetched == 1
