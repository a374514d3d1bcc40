"""kill -9 durability: every binding answered 200 is back after a crash and restart."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import asyncpg

from tests.support import factories
from tests.support.processes import start_sipfleet
from tests.support.sip_client import SipClient

PHONES = 40


async def test_bindings_survive_kill_9(
    pool: asyncpg.Pool[Any], database_url: str, tmp_path: Path
) -> None:
    async with pool.acquire() as conn:
        customer = await factories.customer(conn)
        phones = [await factories.phone(conn, customer) for _ in range(PHONES)]
    env = {"SIPFLEET_DATABASE_URL": database_url, "SIPFLEET_KEEPALIVE_INTERVAL": "0"}
    server = await asyncio.to_thread(
        start_sipfleet, tmp_path / "data", env=env, sip_transports=("udp",)
    )
    clients = []
    try:
        clients = [
            await SipClient(
                server=("127.0.0.1", server.sip_port), local_ip=f"127.0.4.{i + 1}"
            ).open()
            for i in range(PHONES)
        ]
        results = await asyncio.gather(
            *(
                c.register(p.username, p.password, expires=600)
                for c, p in zip(clients, phones, strict=True)
            )
        )
        assert [r.status if r else None for r in results] == [200] * PHONES
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(10)
        async with pool.acquire() as conn:
            assert (
                await conn.fetchval("SELECT count(*) FROM bindings WHERE expires_at > now()")
                == PHONES
            )
        server = await asyncio.to_thread(
            start_sipfleet,
            tmp_path / "data",
            env=env,
            sip_transports=("udp",),
            sip_port=server.sip_port,
            http_port=server.http_port,
        )
        # the restarted registrar has them in memory: a REGISTER without Contact lists them
        for client, phone in zip(clients[:5], phones[:5], strict=True):
            listing = await client.register(phone.username, phone.password, contact="")
            assert listing is not None and listing.status == 200
            assert [c.split(">")[0] for c in listing.all("Contact")] == [
                client.contact.split(">")[0]
            ]
        async with pool.acquire() as conn:
            online = await conn.fetchval("SELECT count(*) FROM phone_status WHERE online")
        assert online == PHONES
    finally:
        for client in clients:
            client.close()
        server.stop()
