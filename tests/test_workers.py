"""`sipfleet serve` with worker processes sharing the ports (`workers` = 2), as real
processes: HTTP and SIP spread over both workers, phones registered through both show
online, a binding moving between workers (NAT rebinding) is dropped by the worker that
held it, check-sync reaches a phone whose flow the other worker holds, a credential reset
reaches the worker holding the phone, a killed worker is restarted with its bindings, a
restart with fewer workers keeps every binding, SIGTERM stops everything (embedded
PostgreSQL included), and a port in use is one clear line."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
from pathlib import Path
from typing import Any

import asyncpg
import psutil

from tests.support import factories
from tests.support.processes import (
    SipfleetProcess,
    base_env,
    free_port,
    postgres_processes,
    sigterm,
    sipfleet_command,
    start_sipfleet,
)
from tests.support.waiting import wait_for
from tests.support.workers import (
    ADMIN_TOKEN,
    Http,
    RebindingPhone,
    settle,
    worker_pids,
)

PHONES = 24


def _mac(index: int) -> str:
    return f"001565{index:06X}"


def _ready_pid(service: SipfleetProcess, index: int, count: int) -> list[int]:
    pattern = rf"worker {index} of {count} ready \(pid (\d+)\)"
    return [int(pid) for pid in re.findall(pattern, service.log())]


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def _start(tmp_path: Path, database_url: str, workers: int, **ports: int) -> SipfleetProcess:
    env = {
        "SIPFLEET_WORKERS": str(workers),
        "SIPFLEET_DATABASE_URL": database_url,
        "SIPFLEET_ADMIN_TOKEN": ADMIN_TOKEN,
        # by flow: the NAT-rebinding case below needs a new source port to reach the
        # other worker (by phone it would stay; tests/registrar/test_udp_partition_workers)
        "SIPFLEET_SIP_UDP_PARTITION": "flow",
    }
    return await asyncio.to_thread(start_sipfleet, tmp_path / "data", env=env, **ports)


async def _node_of(pool: asyncpg.Pool[Any], phone_id: str) -> str:
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT node FROM bindings WHERE phone_id = $1", phone_id)
    assert len(rows) == 1
    return str(rows[0]["node"])


async def _reprovision_on_both(http: Http, mac: str, attempts: int = 60) -> list[dict[str, Any]]:
    """Reprovision until both workers have answered at least once; every result."""
    results: list[dict[str, Any]] = []
    answered: set[str | None] = set()
    for _ in range(attempts):
        status, body, worker = await http.request("POST", f"/api/phones/{mac}/reprovision")
        assert status == 200, body
        [result] = body["results"]
        results.append(result)
        answered.add(worker)
        if answered == {"0", "1"}:
            return results
    raise AssertionError(f"only workers {answered} answered")


async def test_two_workers_share_the_ports(
    tmp_path: Path, database_url: str, pool: asyncpg.Pool[Any]
) -> None:
    async with pool.acquire() as conn:
        customer = await factories.customer(conn)
        phones = [
            await factories.phone(conn, customer, model="yealink-t54w", mac_address=_mac(i))
            for i in range(PHONES)
        ]
    service = await _start(tmp_path, database_url, 2)
    server = ("127.0.0.1", service.sip_port)
    sockets = [RebindingPhone(p.username, p.password, server) for p in phones]
    extra: list[RebindingPhone] = []
    try:
        assert len(worker_pids(service)) == 2
        http = Http(service.base_url)
        answered = set()
        for _ in range(40):
            status, _, worker = await http.request("GET", "/healthz")
            assert status == 200
            answered.add(worker)
            if answered == {"0", "1"}:
                break
        assert answered == {"0", "1"}

        # REGISTER from many source ports: all succeed, through both workers
        for phone_socket in sockets:
            await phone_socket.open()
        statuses = await asyncio.gather(
            *(item.register_status(attempts=20, timeout=5.0) for item in sockets)
        )
        assert statuses == [200] * PHONES
        nodes = {phone.id: await _node_of(pool, phone.id) for phone in phones}
        assert len(set(nodes.values())) == 2
        assert {node.rsplit("|", 1)[-1] for node in nodes.values()} >= {"w1"}
        status, body, _ = await http.request("GET", f"/api/pbx/sipphone?online=true&limit={100}")
        assert status == 200 and {item["_id"] for item in body["items"]} == set(nodes)

        # check-sync from either worker reaches the phone, whichever holds its flow
        results = await _reprovision_on_both(http, _mac(0))
        for result in results:
            assert [c["outcome"] for c in result["contacts"]] == ["ok"], result
        assert len(sockets[0].received_notifies) == len(results)

        # the phone's NAT gives it a new source port, which the kernel hands to the other
        # worker: that worker takes the binding, the old one forgets it at once
        moved, old = phones[1], sockets[1]
        old_node = nodes[moved.id]
        for _ in range(40):
            new = RebindingPhone(moved.username, moved.password, server, contact_address=old.local)
            extra.append(new)
            await new.open()
            assert await new.register_status(attempts=20, timeout=5.0) == 200
            if await _node_of(pool, moved.id) != old_node:
                break
        else:
            raise AssertionError("no source port reached the other worker")
        await settle()
        old.requests.clear()
        results = await _reprovision_on_both(http, _mac(1))
        for result in results:
            assert [c["outcome"] for c in result["contacts"]] == ["ok"], result
        assert old.received_notifies == []  # the old worker no longer sends over the old flow
        assert len(new.received_notifies) == len(results)

        # a credential reset reaches the worker holding the phone (directory LISTEN)
        victim = sockets[2]
        status, _, _ = await http.request(
            "POST", f"/api/pbx/sipphone/{phones[2].id}/resetcredentials"
        )
        assert status == 200
        await settle()
        assert await victim.register_status(timeout=3.0) != 200  # the old password is refused
        for result in await _reprovision_on_both(http, _mac(2)):
            assert result["registered"] is False
        assert victim.received_notifies == []

        # kill -9 of worker 1: restarted, and it loads its bindings again
        [first_pid] = _ready_pid(service, 1, 2)
        os.kill(first_pid, signal.SIGKILL)
        await asyncio.to_thread(
            wait_for, lambda: len(_ready_pid(service, 1, 2)) == 2, 30, "worker 1 restarted"
        )
        assert "worker 1 (pid" in service.log() and "restarting in" in service.log()
        held = [i for i in range(3, PHONES) if nodes[phones[i].id].endswith("|w1")]
        assert held
        index = held[0]
        before = len(sockets[index].received_notifies)
        for result in await _reprovision_on_both(http, _mac(index)):
            assert [c["outcome"] for c in result["contacts"]] == ["ok"], result
        assert len(sockets[index].received_notifies) > before
    finally:
        pids = worker_pids(service)
        service.process.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(service.process.wait, 10)
    assert code == 0, service.log()
    assert all(_gone(pid) for pid in pids)
    assert "Traceback" not in service.log()

    # a restart with fewer workers: worker 0 takes over worker 1's bindings
    single = await _start(
        tmp_path, database_url, 1, http_port=service.http_port, sip_port=service.sip_port
    )
    try:
        async with pool.acquire() as conn:
            left = await conn.fetchval("SELECT count(*) FROM bindings WHERE node LIKE '%|w1'")
            total = await conn.fetchval("SELECT count(*) FROM bindings")
        assert left == 0 and total == PHONES - 1  # all but the reset phone
        before = len(sockets[index].received_notifies)
        status, body, _ = await Http(single.base_url).request(
            "POST", f"/api/phones/{_mac(index)}/reprovision"
        )
        assert [c["outcome"] for c in body["results"][0]["contacts"]] == ["ok"]
        assert len(sockets[index].received_notifies) == before + 1
    finally:
        assert single.stop() == 0
        for item in sockets + extra:
            item.close()


def test_sigterm_stops_workers_and_embedded_postgres(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    service = start_sipfleet(data_dir, env={"SIPFLEET_WORKERS": "2"})
    pids = worker_pids(service)
    try:
        assert len(pids) == 2
        assert postgres_processes(data_dir)
    finally:
        code, took = sigterm(service)
    assert code == 0, service.log()
    assert took < 5
    assert all(_gone(pid) for pid in pids)
    assert "Traceback" not in service.log()
    wait_for(lambda: postgres_processes(data_dir) == [], 5, "PostgreSQL to stop")


def test_port_in_use_is_one_clear_line(tmp_path: Path, database_url: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as blocker:
        blocker.bind(("127.0.0.1", 0))
        port = blocker.getsockname()[1]
        result = subprocess.run(
            sipfleet_command("serve"),
            env=base_env(
                {
                    "SIPFLEET_DATA_DIR": str(tmp_path),
                    "SIPFLEET_DATABASE_URL": database_url,
                    "SIPFLEET_WORKERS": "2",
                    "SIPFLEET_HTTP_LISTEN": f"127.0.0.1:{free_port()}",
                    "SIPFLEET_SIP_LISTEN": f"udp:127.0.0.1:{port}",
                }
            ),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("sipfleet: sip_listen: cannot listen"), result.stderr
    assert "in use" in lines[-1]
