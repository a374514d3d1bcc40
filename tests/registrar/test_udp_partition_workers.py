"""`workers = 2` with `sip_udp_partition = phone`, as real processes: pjsua2 phones that
all share ONE UDP flow (one transport, one source port — a load generator, or every phone
behind one SBC) spread over both workers by their user, exactly where the program says;
keep-alive OPTIONS from both workers are answered (the answers reach the worker that
sent them, by the mark in its branch); a buddy on one worker sees a phone registered on
the other; a retransmitted REGISTER is absorbed by the worker that answered it; and a
re-registration, from the same flow or from another, stays on the same worker. And a
check-sync NOTIFY that either worker sends is answered to that worker."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from sipcore.udp_partition import build_program, run
from tests.support import factories
from tests.support.pjsua import SharedTransport, offline, online
from tests.support.processes import SipfleetProcess, start_sipfleet
from tests.support.sip_client import REALM, SipClient
from tests.support.workers import ADMIN_TOKEN, Http

pytestmark = pytest.mark.pjsua

PROGRAM = build_program(2)
PER_WORKER = 3  # phones on each worker (besides the desk and the watcher)


def predicted_worker(username: str) -> int:
    """The worker the kernel hands this phone's requests to (the program, interpreted)."""
    data = (
        f"REGISTER sip:{REALM} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK1\r\n"
        f"From: <sip:{username}@{REALM}>;tag=1\r\nTo: <sip:{username}@{REALM}>\r\n\r\n"
    ).encode()
    index = run(PROGRAM, data, strict=True)
    assert index in (0, 1)
    return index


async def seed(database_url: str) -> dict[str, Any]:
    """A desk phone on extension 101, a watcher (102) on the other worker, and more
    phones until each worker has PER_WORKER of them."""
    conn = await asyncpg.connect(database_url)
    try:
        customer = await factories.customer(conn, "Partition")
        ext101 = await factories.extension(conn, customer, "101")
        ext102 = await factories.extension(conn, customer, "102")
        desk = await factories.phone(conn, customer, extension_id=ext101)
        while True:
            watcher = await factories.phone(conn, customer, extension_id=ext102)
            if predicted_worker(watcher.username) != predicted_worker(desk.username):
                break
        others: dict[int, list[factories.TestPhone]] = {0: [], 1: []}
        while min(len(items) for items in others.values()) < PER_WORKER:
            phone = await factories.phone(conn, customer)
            bucket = others[predicted_worker(phone.username)]
            if len(bucket) < PER_WORKER:
                bucket.append(phone)
    finally:
        await conn.close()
    return {"desk": desk, "watcher": watcher, "others": others[0] + others[1]}


async def bindings(database_url: str) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT p.username, b.node, b.unreachable, b.contact FROM bindings b "
            "JOIN sip_phones p ON p.id = b.phone_id"
        )
    finally:
        await conn.close()
    return [dict(row) for row in rows]


def worker_of(node: str) -> int:
    return 1 if node.endswith("|w1") else 0


def _start(tmp_path: Path, database_url: str, keepalive: int = 1) -> SipfleetProcess:
    env = {
        "SIPFLEET_DATABASE_URL": database_url,
        "SIPFLEET_WORKERS": "2",
        "SIPFLEET_SIP_UDP_PARTITION": "phone",
        "SIPFLEET_KEEPALIVE_INTERVAL": str(keepalive),
        "SIPFLEET_KEEPALIVE_MAX_MISSED": "1",
        "SIPFLEET_ADMIN_TOKEN": ADMIN_TOKEN,
    }
    return start_sipfleet(tmp_path / "data", env=env, sip_transports=("udp",))


async def _retransmit_and_reregister(
    server: tuple[str, int], database_url: str, username: str, password: str
) -> tuple[bytes, bytes, set[str]]:
    """A registration from a new flow whose authenticated REGISTER is sent three times
    (the two answers), the nodes holding the phone's bindings then, its unregistration."""
    # the pjsua2 flow's address (the IP gate locks a phone to it), another port
    async with SipClient(server=server, local_ip="127.0.1.31") as client:
        challenge = await client.challenge(username)
        assert challenge.status == 401
        auth = client.credentials(challenge, username, password)
        data = client.register_bytes(username, authorization=auth)
        first, second, more = await client.retransmitted(data)
        assert more is None
        assert first is not None and second is not None and first.status == 200
        rows = await bindings(database_url)
        mine = [row for row in rows if row["username"] == username]
        assert len(mine) == 2  # the pjsua2 binding and this one
        response = await client.register(username, password, expires=0)
        assert response is not None and response.status == 200
        return first.to_bytes(), second.to_bytes(), {row["node"] for row in mine}


def test_one_flow_of_pjsua_phones_spreads_over_two_workers(
    tmp_path: Path, database_url: str
) -> None:
    data = asyncio.run(seed(database_url))
    desk, watcher, others = data["desk"], data["watcher"], data["others"]
    node = _start(tmp_path, database_url)
    server = ("127.0.0.1", node.sip_port)
    flow = SharedTransport(server)
    flow.add_transport("127.0.1.31")
    try:
        for phone in (desk, watcher, *others):
            flow.add(phone.username, phone.password)
        names = [phone.username for phone in (watcher, *others)]
        assert flow.register(*names) == [200] * len(names)

        # every phone where the program says, both workers used, one flow
        rows = asyncio.run(bindings(database_url))
        assert {row["username"] for row in rows} == set(names)
        for row in rows:
            assert worker_of(row["node"]) == predicted_worker(row["username"]), row
        assert {worker_of(row["node"]) for row in rows} == {0, 1}
        assert len({row["contact"].rsplit("@", 1)[1] for row in rows}) == 1  # one flow

        # presence across workers: the watcher's worker sees the desk registered on the
        # other one, and its NOTIFYs' answers come back to it
        buddy = flow.watch(watcher.username, "101")
        assert flow.wait(lambda: offline(buddy), 5), "buddy never saw 101 offline"
        assert flow.register(desk.username) == [200]
        assert flow.wait(lambda: online(buddy), 5), "buddy never saw 101 online"

        # keep-alive OPTIONS from both workers every second, one miss marks a binding
        # unreachable: the answers (sent on the one flow) reach the worker that asked
        flow.wait(lambda: False, 4.0)
        rows = asyncio.run(bindings(database_url))
        assert len(rows) == len(names) + 1
        assert [row for row in rows if row["unreachable"]] == []

        # a retransmission is answered by the same worker (its stored answer), and a
        # registration from another flow stays on the phone's worker
        moved = others[0]
        first, second, nodes = asyncio.run(
            _retransmit_and_reregister(server, database_url, moved.username, moved.password)
        )
        assert first == second
        assert {worker_of(item) for item in nodes} == {predicted_worker(moved.username)}
        rows = asyncio.run(bindings(database_url))

        # re-registration over the shared flow: same workers
        before = {row["username"]: row["node"] for row in rows}
        assert flow.register(*names) == [200] * len(names)
        after = {row["username"]: row["node"] for row in asyncio.run(bindings(database_url))}
        assert after == before
        assert flow.wait(lambda: online(buddy), 1)
    finally:
        flow.close()
        code = node.stop()
    assert code == 0, node.log()
    assert "Traceback" not in node.log()


async def test_check_sync_from_either_worker_is_answered_to_it(
    tmp_path: Path, database_url: str, pool: asyncpg.Pool[Any]
) -> None:
    """Reprovision (a check-sync NOTIFY) asked of each worker, for a phone on each worker:
    the phone's 200 reaches the worker that sent the NOTIFY (outcome ok, not a timeout)."""
    chosen: dict[int, tuple[factories.TestPhone, str]] = {}
    async with pool.acquire() as conn:
        customer = await factories.customer(conn)
        serial = 0
        while len(chosen) < 2:
            serial += 1
            mac = f"001566{serial:06X}"
            phone = await factories.phone(conn, customer, model="yealink-t54w", mac_address=mac)
            chosen.setdefault(predicted_worker(phone.username), (phone, mac))
    node = await asyncio.to_thread(_start, tmp_path, database_url, 0)
    server = ("127.0.0.1", node.sip_port)
    clients = [SipClient(p.username, p.password, server) for p, _ in chosen.values()]
    try:
        for client in clients:
            await client.open()
            assert await client.register_status(attempts=20, timeout=5.0) == 200
        http = Http(node.base_url)
        for client, (_, mac) in zip(clients, chosen.values(), strict=True):
            answered: set[str | None] = set()
            outcomes = []
            for _ in range(60):
                status, body, worker = await http.request("POST", f"/api/phones/{mac}/reprovision")
                assert status == 200, body
                outcomes += [c["outcome"] for c in body["results"][0]["contacts"]]
                answered.add(worker)
                if answered == {"0", "1"}:
                    break
            assert answered == {"0", "1"}
            assert set(outcomes) == {"ok"}
            assert len(client.received_notifies) == len(outcomes)
    finally:
        for client in clients:
            client.close()
        code = await asyncio.to_thread(node.stop)
    assert code == 0, node.log()
    assert "Traceback" not in node.log()
