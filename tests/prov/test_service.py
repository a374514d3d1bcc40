"""The file server inside a real `sipfleet serve` process (the component registered)."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import asyncpg

from tests.support.processes import start_sipfleet
from tests.support.prov_phones import loaded_phone

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
    assert fetched == 1, log


async def test_https_when_a_certificate_is_configured(
    tmp_path: Path, database_url: str, pool: asyncpg.Pool[Any]
) -> None:
    import ssl

    import trustme

    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1", "sipfleet.test")
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    certificate.private_key_pem.write_to_path(str(key_path))
    with open(cert_path, "wb") as handle:
        for blob in certificate.cert_chain_pems:
            handle.write(blob.bytes())
    async with pool.acquire() as conn:
        loaded = await loaded_phone(conn, "yealink-t54w", "0015654AA937")
    running = await asyncio.to_thread(
        start_sipfleet,
        tmp_path / "data",
        env={
            "SIPFLEET_DATABASE_URL": database_url,
            "SIPFLEET_TLS_CERT": str(cert_path),
            "SIPFLEET_TLS_KEY": str(key_path),
            "SIPFLEET_PROVISIONING_HTTP_AUTH": "true",
        },
        sip_transports=("udp", "tls"),
        wait=False,
    )
    context = ssl.create_default_context()
    authority.configure_trust(context)
    base = f"https://127.0.0.1:{running.http_port}"

    def get(path: str, auth: str | None = None) -> tuple[int, str]:
        headers = {"User-Agent": UA} | ({"Authorization": auth} if auth else {})
        request = urllib.request.Request(base + path, headers=headers)
        for _ in range(200):
            try:
                with urllib.request.urlopen(request, timeout=5, context=context) as response:
                    return response.status, response.read().decode()
            except urllib.error.HTTPError as error:
                return error.code, error.read().decode()
            except (urllib.error.URLError, ConnectionError):
                import time

                time.sleep(0.1)  # still starting
        raise AssertionError("no HTTPS answer")

    try:
        from provisioning.fileserver.httpauth import provisioning_password
        from tests.support.database import basic
        from tests.support.factories import TEST_SECRET_KEY

        assert (await asyncio.to_thread(get, "/prov/0015654aa937.cfg"))[0] == 401
        password = provisioning_password(TEST_SECRET_KEY, "0015654AA937")
        auth = basic("0015654AA937", password)["Authorization"]
        status, body = await asyncio.to_thread(get, "/prov/0015654aa937.cfg", auth)
        assert status == 200
        assert f"account.1.password = {loaded.phone.password}" in body.splitlines()
        # the phone is told to keep fetching over HTTPS
        assert (
            f"static.auto_provision.server.url = https://sipfleet.test:{running.http_port}/prov/"
            in body
        )
    finally:
        await asyncio.to_thread(running.stop)
