"""Read-your-writes across workers and nodes, as real processes: two `sipfleet serve`
nodes of two workers each on one PostgreSQL. When an API call that changes a phone has
answered, every worker of both nodes decides SIP and provisioning by the new state — no
retry, no settling time: a phone created on one node registers at once on the other,
reset and deleted credentials are refused, a LOCKED policy holds, a changed
configuration is what the next fetch serves."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from tests.support import factories
from tests.support.processes import SipfleetProcess, start_sipfleet
from tests.support.sip_client import SipClient
from tests.support.workers import ADMIN_TOKEN, Http

CREATIONS = 1000
CONCURRENCY = 16


async def _node(tmp_path: Path, name: str, database_url: str) -> SipfleetProcess:
    env = {
        "SIPFLEET_WORKERS": "2",
        "SIPFLEET_DATABASE_URL": database_url,
        "SIPFLEET_ADMIN_TOKEN": ADMIN_TOKEN,
        # no ban: a refused REGISTER in this test must be a decision, not a lockout
        "SIPFLEET_AUTH_FAILURE_LIMIT": "100000",
        # deleted phones are fetched on purpose: unknown MACs, not a scan
        "SIPFLEET_UNKNOWN_MAC_LIMIT": "100000",
    }
    return await asyncio.to_thread(start_sipfleet, tmp_path / name, env=env)


@pytest.fixture
async def nodes(
    tmp_path: Path, database_url: str
) -> AsyncIterator[tuple[SipfleetProcess, SipfleetProcess]]:
    first = await _node(tmp_path, "a", database_url)
    try:
        second = await _node(tmp_path, "b", database_url)
    except BaseException:
        first.stop()
        raise
    try:
        yield first, second
    finally:
        for node in (first, second):
            node.stop()
        for node in (first, second):
            assert "Traceback" not in node.log(), node.log()
            assert "not confirmed" not in node.log(), node.log()


async def _tenant(pool: asyncpg.Pool[Any], numbers: int = 1) -> tuple[str, list[str], str]:
    async with pool.acquire() as conn:
        customer = await factories.customer(conn, f"RYW {secrets.token_hex(3)}")
        extensions = [
            await factories.extension(conn, customer, str(100 + i)) for i in range(numbers)
        ]
        model = await factories.model_id(conn, "yealink-t54w")
    return customer, extensions, model


def _mac() -> str:
    return "001565" + secrets.token_hex(3).upper()


async def _create(http: Http, customer: str, extension: str, model: str, **extra: Any) -> Any:
    body = {
        "customer": customer,
        "extension": extension,
        "sipPhoneModel": model,
        "macAddress": _mac(),
        **extra,
    }
    status, phone, _ = await http.request("PUT", "/api/pbx/sipphone", body)
    assert status == 201, phone
    return phone


async def _register_once(
    node: SipfleetProcess, username: str, password: str, local_ip: str = "127.0.0.1"
) -> int:
    phone = SipClient(username, password, ("127.0.0.1", node.sip_port), local_ip=local_ip)
    await phone.open()
    try:
        return await phone.register_status(timeout=3.0)
    finally:
        phone.close()


async def _armed(
    node: SipfleetProcess, username: str, password: str, local_ip: str = "127.0.0.1"
) -> tuple[SipClient, bytes]:
    """A client that has its challenge and the authenticated REGISTER ready to send: what
    an attacker holding a leaked password, or a phone mid-registration, would send the
    instant after the API answered."""
    client = await SipClient(server=("127.0.0.1", node.sip_port), local_ip=local_ip).open()
    challenge = await client.challenge(username)
    assert challenge.status == 401
    auth = client.credentials(challenge, username, password)
    return client, client.register_bytes(username, authorization=auth)


async def _fire(armed: tuple[SipClient, bytes]) -> int:
    client, data = armed
    try:
        client.send(data)
        answer = await client.receive()
        assert answer is not None
        return answer.status
    finally:
        client.close()


async def _fetch(node: SipfleetProcess, mac: str) -> tuple[int, str]:
    colons = ":".join(mac.lower()[i : i + 2] for i in range(0, 12, 2))
    headers = {"User-Agent": f"Yealink SIP-T54W 96.86.0.100 {colons}"}
    connector = aiohttp.TCPConnector(force_close=True)
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.get(f"{node.base_url}/prov/{mac.lower()}.cfg", headers=headers) as response,
    ):
        return response.status, await response.text()


async def test_created_phones_register_at_once_on_every_worker_of_every_node(
    nodes: tuple[SipfleetProcess, SipfleetProcess], pool: asyncpg.Pool[Any]
) -> None:
    """Create through one node, REGISTER through the other at once, a thousand times:
    never a 401 (which would also count towards a ban of the office's address)."""
    first, second = nodes
    customer, [extension], model = await _tenant(pool)
    statuses: list[int] = []

    async def loop(index: int) -> None:
        api, sip = (first, second) if index % 2 else (second, first)
        http = Http(api.base_url)
        for _ in range(CREATIONS // CONCURRENCY + (index < CREATIONS % CONCURRENCY)):
            phone = await _create(http, customer, extension, model)
            statuses.append(await _register_once(sip, phone["username"], phone["password"]))

    await asyncio.gather(*(loop(i) for i in range(CONCURRENCY)))
    assert len(statuses) == CREATIONS
    assert statuses.count(200) == CREATIONS, {s: statuses.count(s) for s in set(statuses)}


async def test_every_change_is_in_force_when_the_api_answers(
    nodes: tuple[SipfleetProcess, SipfleetProcess], pool: asyncpg.Pool[Any]
) -> None:
    first, second = nodes
    customer, [extension], model = await _tenant(pool)
    http = Http(first.base_url)
    rounds = 20

    # reset credentials: the old password is refused on every worker from the answer on,
    # the new one registers at once
    for _ in range(rounds):
        phone = await _create(http, customer, extension, model)
        assert await _register_once(second, phone["username"], phone["password"]) == 200
        armed = [await _armed(n, phone["username"], phone["password"]) for n in (second, first)]
        status, reset, _ = await http.request(
            "POST", f"/api/pbx/sipphone/{phone['_id']}/resetcredentials"
        )
        assert status == 200, reset
        assert [await _fire(item) for item in armed] == [401, 401]
        assert await _register_once(second, reset["username"], reset["password"]) == 200

    # delete: neither registers nor fetches, anywhere, at once
    for _ in range(rounds):
        phone = await _create(http, customer, extension, model)
        assert (await _fetch(second, phone["macAddress"]))[0] == 200
        armed = [await _armed(n, phone["username"], phone["password"]) for n in (second, first)]
        status, _, _ = await http.request("DELETE", f"/api/pbx/sipphone/{phone['_id']}")
        assert status in (200, 204)
        fetched = await asyncio.gather(*(_fetch(n, phone["macAddress"]) for n in (second, first)))
        assert [status for status, _ in fetched] == [404, 404]
        assert [await _fire(item) for item in armed] == [401, 401]

    # LOCKED to one address: another address is refused at once
    for _ in range(rounds):
        phone = await _create(http, customer, extension, model)
        armed = [
            await _armed(n, phone["username"], phone["password"], local_ip="127.0.3.33")
            for n in (second, first)
        ]
        status, body, _ = await http.request(
            "POST",
            f"/api/pbx/sipphone/{phone['_id']}",
            {"ip": {"mode": "LOCKED", "address": "127.0.0.1"}},
        )
        assert status == 200, body
        assert [await _fire(item) for item in armed] == [403, 403]
        assert await _register_once(second, phone["username"], phone["password"]) == 200

    # a changed configuration is what the next fetch serves
    phone = await _create(http, customer, extension, model)
    for volume in range(1, rounds + 1):
        volume = volume % 15 + 1
        status, body, _ = await http.request(
            "POST", f"/api/pbx/sipphone/{phone['_id']}", {"ringer": {"volume": volume}}
        )
        assert status == 200, body
        fetched = await asyncio.gather(*(_fetch(n, phone["macAddress"]) for n in (second, first)))
        for status, text in fetched:
            assert status == 200 and f"voice.ring_vol = {volume}" in text
