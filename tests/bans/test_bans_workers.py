"""One view of the limits across worker processes and nodes, with real `sipfleet serve`
processes on one database: a node of two workers and a second node of one.

- Failed authentications spread over both workers (the UDP partition hands a request to
  the worker of its From user, so the users are chosen to alternate workers) ban the
  address at `auth_failure_limit`, not at twice it; from then on both workers drop its
  requests; the ban is one row of `bans`, one `sip.ban` event (address and reason, no
  user name), one count in `sipfleet_sip_bans`.
- The second node, running beside it, refuses the banned address within seconds, while
  another address is still challenged; a node started later refuses it from the start.
- Unknown-MAC fetches over fresh HTTP connections (spread over the workers by the
  kernel) are throttled after `unknown_mac_limit` for the node, not per worker.
"""

from __future__ import annotations

import asyncio
import base64
import re
import time
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from sipcore.udp_partition import build_program, run
from tests.support.processes import SipfleetProcess, start_sipfleet
from tests.support.sip_client import REALM, SipClient
from tests.support.workers import ADMIN_TOKEN, WORKER_HEADER

LIMIT = 6
PROGRAM = build_program(2)


def _worker_of(username: str) -> int:
    """The worker the UDP partition hands this user's requests to."""
    data = (
        f"REGISTER sip:{REALM} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK1\r\n"
        f"From: <sip:{username}@{REALM}>;tag=1\r\nTo: <sip:{username}@{REALM}>\r\n\r\n"
    ).encode()
    return run(PROGRAM, data, strict=True)


def _users_of_each_worker() -> tuple[str, str]:
    by_worker: dict[int, str] = {}
    for n in range(100):
        by_worker.setdefault(_worker_of(f"guess{n}"), f"guess{n}")
        if len(by_worker) == 2:
            return by_worker[0], by_worker[1]
    raise AssertionError("no user for each worker")


async def _start(
    tmp_path: Path, name: str, database_url: str, workers: int, **env: str
) -> SipfleetProcess:
    settings = {
        "SIPFLEET_WORKERS": str(workers),
        "SIPFLEET_DATABASE_URL": database_url,
        "SIPFLEET_ADMIN_TOKEN": ADMIN_TOKEN,
        "SIPFLEET_AUTH_FAILURE_LIMIT": str(LIMIT),
        "SIPFLEET_AUTH_FAILURE_WINDOW": "600",
        "SIPFLEET_AUTH_BAN_SECONDS": "600",
        **env,
    }
    return await asyncio.to_thread(start_sipfleet, tmp_path / name, env=settings)


async def _guess(port: int, username: str, local_ip: str = "127.0.0.1") -> int | None:
    """A REGISTER with a wrong password (after its challenge): the final status, or None
    when the server dropped it unanswered (a banned address)."""
    async with SipClient(server=("127.0.0.1", port), local_ip=local_ip) as client:
        answer = await client.register(username, "not-the-password", timeout=1.5)
        return None if answer is None else answer.status


async def _per_worker_metrics(service: SipfleetProcess) -> dict[str, str]:
    """/metrics of each worker (fresh connections until both have answered)."""
    found: dict[str, str] = {}
    for _ in range(60):
        connector = aiohttp.TCPConnector(force_close=True)
        async with (
            aiohttp.ClientSession(connector=connector) as session,
            session.get(service.base_url + "/metrics") as response,
        ):
            found[response.headers[WORKER_HEADER]] = await response.text()
        if len(found) == 2:
            return found
    raise AssertionError(f"only workers {set(found)} answered")


def _sample(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for match in re.finditer(rf"^{name}(\{{[^}}]*\}})? (\S+)$", text, re.M):
        if all(f'{key}="{value}"' in (match.group(1) or "") for key, value in labels.items()):
            total += float(match.group(2))
    return total


async def test_failures_on_both_workers_ban_at_the_limit_everywhere(
    tmp_path: Path, database_url: str, pool: asyncpg.Pool[Any]
) -> None:
    first_user, second_user = _users_of_each_worker()
    other_node = await _start(tmp_path, "other", database_url, 1)
    node = await _start(tmp_path, "node", database_url, 2)
    try:
        # LIMIT failures, alternating workers: each is answered (a new challenge) ...
        for attempt in range(LIMIT):
            user = first_user if attempt % 2 == 0 else second_user
            assert await _guess(node.sip_port, user) == 401, attempt
        # ... and the address is banned on both workers from the limit on, not 2 x LIMIT
        assert await _guess(node.sip_port, first_user) is None
        assert await _guess(node.sip_port, second_user) is None
        metrics = await _per_worker_metrics(node)
        failures = {
            worker: _sample(text, "sipfleet_auth_failures_total", reason="unknown_user")
            for worker, text in metrics.items()
        }
        assert failures == {"0": LIMIT / 2, "1": LIMIT / 2}  # counted on both workers
        bans = sum(_sample(text, "sipfleet_sip_bans_total") for text in metrics.values())
        assert bans == 1
        assert await _guess(node.sip_port, first_user, "127.0.0.2") == 401  # others not

        async with pool.acquire() as conn:
            rows = await conn.fetch("SELECT address, reason, node FROM bans")
            events = await conn.fetch("SELECT details FROM events WHERE type = 'sip.ban'")
        assert [(row["address"], row["reason"]) for row in rows] == [("127.0.0.1", "auth_failures")]
        [event] = events
        assert event["details"]["address"] == "127.0.0.1"
        assert event["details"]["reason"] == "auth_failures"
        assert first_user not in str(event["details"]) and second_user not in str(event["details"])

        # the other node, already running, refuses it within a few seconds
        deadline = time.monotonic() + 10
        while await _guess(other_node.sip_port, first_user) is not None:
            assert time.monotonic() < deadline, "the other node did not learn the ban"
        assert await _guess(other_node.sip_port, first_user, "127.0.0.2") == 401
        assert "banned by another node" in other_node.log()

        # a node started now refuses it from the start
        late = await _start(tmp_path, "late", database_url, 1)
        try:
            assert await _guess(late.sip_port, second_user) is None
        finally:
            late.stop()
    finally:
        node.stop()
        other_node.stop()


async def test_unknown_mac_throttle_is_the_nodes_not_each_workers(
    tmp_path: Path, database_url: str
) -> None:
    node = await _start(tmp_path, "node", database_url, 2, SIPFLEET_UNKNOWN_MAC_LIMIT="4")
    try:
        not_found = 0
        refused_by: set[str] = set()
        for n in range(80):
            connector = aiohttp.TCPConnector(force_close=True)
            async with (
                aiohttp.ClientSession(connector=connector) as session,
                session.get(f"{node.base_url}/prov/0015650{n:05X}.cfg") as response,
            ):
                if response.status == 404:
                    not_found += 1
                else:
                    assert response.status == 429
                    refused_by.add(response.headers[WORKER_HEADER])
            if refused_by == {"0", "1"}:
                break
        assert refused_by == {"0", "1"}  # both workers throttle it ...
        assert not_found == 4  # ... after 4 misses for the node, not 4 on each
    finally:
        node.stop()


async def test_http_basic_failures_share_the_nodes_budget_with_sip(
    tmp_path: Path, database_url: str
) -> None:
    """Wrong HTTP Basic passwords on /prov, over fresh connections the kernel spreads over
    both workers, count in the node's one limiter (the SIP side's): the address is refused
    (429) by both workers after `auth_failure_limit` failures for the node, and its SIP
    requests are dropped too — one budget and one ban per address, not one per worker and
    protocol."""
    node = await _start(tmp_path, "node", database_url, 2, SIPFLEET_PROVISIONING_HTTP_AUTH="true")
    wrong = {"Authorization": "Basic " + base64.b64encode(b"0015650AAAAA:guess").decode()}
    try:
        unauthorized = 0
        refused_by: set[str] = set()
        for _ in range(80):
            connector = aiohttp.TCPConnector(force_close=True)
            async with (
                aiohttp.ClientSession(connector=connector) as session,
                session.get(f"{node.base_url}/prov/0015650aaaaa.cfg", headers=wrong) as response,
            ):
                if response.status == 401:
                    unauthorized += 1
                else:
                    assert response.status == 429
                    refused_by.add(response.headers[WORKER_HEADER])
            if refused_by == {"0", "1"}:
                break
        assert refused_by == {"0", "1"}  # both workers refuse the address ...
        assert unauthorized == LIMIT  # ... after LIMIT failures for the node
        # and SIP from that address is dropped unanswered: the same ban
        user0, _ = _users_of_each_worker()
        assert await _guess(node.sip_port, user0) is None
    finally:
        node.stop()
