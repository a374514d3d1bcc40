"""Load shedding: a per-MAC fetch that waited in the server's queues longer than
`provisioning_queue_limit_ms` is answered 503 + Retry-After before any work, read from the
kernel's own clock of the request (TCP_INFO); fresh fetches and common files are served."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import time
from typing import Any

import asyncpg

from provisioning.config import Settings
from provisioning.credentials import SecretBox
from provisioning.fileserver.busy import StaleFetches, request_age
from tests.support import factories
from tests.support.prov_app import running

MAC = "0015654AA937"
UA = f"Yealink SIP-T54W 96.86.0.100 {':'.join(MAC[i : i + 2] for i in range(0, 12, 2)).lower()}"


def test_request_age_is_the_time_since_the_bytes_arrived() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
        with client, server:
            client.sendall(b"GET / HTTP/1.1\r\n\r\n")
            time.sleep(0.3)
            age = request_age(server)
            assert age is not None and 0.25 <= age < 2.0
            client.sendall(b"more")
            time.sleep(0.02)
            fresh = request_age(server)
            assert fresh is not None and fresh < 0.25
    assert request_age(None) is None


def test_only_requests_past_the_limit_are_refused_and_zero_disables() -> None:
    stale = StaleFetches(0.5)
    assert not stale.stale(None) and not stale.stale(0.4) and not stale.stale(0.5)
    assert stale.stale(0.6) and stale.refused == 1
    assert not StaleFetches(0).stale(100.0)


async def _raw_get(port: int, path: str, *, wait_before_served: float) -> tuple[int, bytes]:
    """Send the request, then keep the server's loop (this test's) from reading it for
    `wait_before_served` seconds — the request sits in the socket as in a storm."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: x\r\nUser-Agent: {UA}\r\nConnection: close\r\n\r\n".encode()
    )
    await writer.drain()
    time.sleep(wait_before_served)  # blocks the event loop: nobody reads the request
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    status = int(answer.split(b" ", 2)[1])
    return status, answer


async def test_a_fetch_that_waited_too_long_gets_503_and_a_fresh_one_the_file(
    aiohttp_client: Any, pool: asyncpg.Pool[Any], settings: Settings, secret_box: SecretBox
) -> None:
    async with pool.acquire() as conn:
        customer = await factories.customer(conn)
        await factories.phone(conn, customer, model="yealink-t54w", mac_address=MAC)
    quick = dataclasses.replace(settings, provisioning_queue_limit_ms=300)
    async with running(aiohttp_client, pool, quick, secret_box, with_sip=False) as prov:
        port = prov.server.port
        path = f"/prov/{MAC.lower()}.cfg"
        status, answer = await _raw_get(port, path, wait_before_served=0.6)
        assert status == 503, answer[:200]
        retry = next(
            line.split(b":", 1)[1].strip()
            for line in answer.split(b"\r\n")
            if line.lower().startswith(b"retry-after:")
        )
        assert 5 <= int(retry) <= 30
        assert b"account.1" not in answer  # nothing of the config
        # the common file is served however long it waited: it costs less than a refusal
        status, _ = await _raw_get(port, "/prov/y000000000096.cfg", wait_before_served=0.6)
        assert status == 200
        # a fetch served in time gets its file
        status, answer = await _raw_get(port, path, wait_before_served=0.0)
        assert status == 200 and b"account.1.user_name" in answer
        assert prov.prov_server.stale.refused == 1
        await prov.prov_server.recorder.flush()
        async with pool.acquire() as conn:  # the refused fetch was not recorded
            fetches = await conn.fetchval(
                "SELECT fetch_count FROM seen_phones WHERE mac_address = $1", MAC
            )
        assert fetches == 1
