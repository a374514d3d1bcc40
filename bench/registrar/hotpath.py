#!/usr/bin/env python3
"""CPU per registration on the REGISTER hot path, in-process, without SIPp or sockets.

Feeds SIPp-shaped datagrams (`../shared/bench/harness/register_auth.xml`: REGISTER → 401 →
REGISTER with MD5 qop=auth credentials → 200) straight to `SipService.on_message` with a
fake UDP connection that records what would be sent, against a fresh embedded PostgreSQL
(every 200 waits for the writer's commit, as in production). Reports the process CPU
(`time.process_time`, so PostgreSQL's own CPU is not counted) per registration for the
401 half and the 200 half separately: first registrations (new bindings), then refreshes
(a new Call-ID per registration, same Contact: the benchmark's steady state).

usage: python bench/registrar/hotpath.py [--phones 2000] [--rounds 3] [--batch 50]
           [--profile out.pstats]        (cProfile of the measured refresh rounds)
           [--no-commit]                 (jobs accepted without writing them: sipfleet's
                                          own path alone, steadier for before/after runs)
           [--gate]                      (the real IP gate, every phone LOCKED to 127.0.0.1,
                                          instead of allowing all)
           [--ab-fastpath]               (alternate rounds with and without the UDP
                                          REGISTER fast path, `sipcore.fastreg`: an A/B
                                          under the same machine load)
Why the driver's own work (building datagrams, computing digests) is done outside the
timed sections: only sipfleet's share is wanted.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import dataclasses
import hashlib
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import asyncpg
import uvloop

import sipcore.server.service as service_module
from db import migrate
from db.embedded import start_embedded
from db.pool import create_pool
from provisioning.app.components.sip import sip_config
from provisioning.config import Settings
from provisioning.credentials import SecretBox, new_credentials
from provisioning.gate.geoip import GeoDatabase
from provisioning.gate.service import IpGate
from sipcore.fastreg import parse_udp_register
from sipcore.server.config import ListenerSpec
from sipcore.server.service import SipService
from sipcore.server.transport.connections import Address, Connection

REALM = "bench.test"
LOCAL = ("127.0.0.1", 5090)
_NONCE = re.compile(rb'nonce="([^"]+)"')


def _no_fast_path(data: bytes, source_ip: str, source_port: int) -> None:
    """Stands in for `parse_udp_register` in the A/B rounds: every REGISTER takes the full
    parser."""
    return None


class FakeUdp(Connection):
    """A UDP peer whose sends are recorded instead of written to a socket."""

    __slots__ = ("sent", "waiter")

    def __init__(self, remote: Address, waiter: Waiter) -> None:
        self.transport = "udp"
        self.remote = remote
        self.local = LOCAL
        self.sent: list[bytes] = []
        self.waiter = waiter

    def send(self, data: bytes, address: Address | None = None) -> None:
        self.sent.append(data)
        self.waiter.sent()


class Waiter:
    """Resolves a future once `expect` responses were sent (the driver never spins)."""

    def __init__(self) -> None:
        self.remaining = 0
        self.future: asyncio.Future[None] | None = None

    def expect(self, count: int) -> asyncio.Future[None]:
        self.remaining = count
        self.future = asyncio.get_running_loop().create_future()
        return self.future

    def sent(self) -> None:
        self.remaining -= 1
        if self.remaining == 0 and self.future is not None and not self.future.done():
            self.future.set_result(None)


def first_register(user: str, port: int, call_id: str) -> bytes:
    tag = call_id.partition("@")[0]
    return (
        f"REGISTER sip:{REALM} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-{port}-{tag}-1\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:{user}@{REALM}>;tag={port}SIPpTag{call_id}\r\n"
        f"To: <sip:{user}@{REALM}>\r\n"
        f"Call-ID: {call_id}\r\n"
        "CSeq: 1 REGISTER\r\n"
        f"Contact: <sip:{user}@127.0.0.1:{port};transport=UDP>\r\n"
        "Expires: 3600\r\n"
        "User-Agent: sipp-bench\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def second_register(user: str, password: str, port: int, call_id: str, nonce: str) -> bytes:
    tag = call_id.partition("@")[0]
    uri = f"sip:{REALM}"
    ha1 = hashlib.md5(f"{user}:{REALM}:{password}".encode()).hexdigest()
    ha2 = hashlib.md5(f"REGISTER:{uri}".encode()).hexdigest()
    cnonce = "6b8b4567"
    response = hashlib.md5(f"{ha1}:{nonce}:00000001:{cnonce}:auth:{ha2}".encode()).hexdigest()
    auth = (
        f'Digest username="{user}",realm="{REALM}",cnonce="{cnonce}",nc=00000001,qop=auth,'
        f'uri="{uri}",nonce="{nonce}",response="{response}",algorithm=MD5'
    )
    return (
        f"REGISTER sip:{REALM} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-{port}-{tag}-2\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:{user}@{REALM}>;tag={port}SIPpTag{call_id}\r\n"
        f"To: <sip:{user}@{REALM}>\r\n"
        f"Call-ID: {call_id}\r\n"
        "CSeq: 2 REGISTER\r\n"
        f"Contact: <sip:{user}@127.0.0.1:{port};transport=UDP>\r\n"
        f"Authorization: {auth}\r\n"
        "Expires: 3600\r\n"
        "User-Agent: sipp-bench\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


async def make_phones(dsn: str, count: int, key: bytes) -> list[tuple[str, str]]:
    box = SecretBox(key)
    conn = await asyncpg.connect(dsn)
    try:
        await migrate.upgrade(conn)
        customer = await conn.fetchval("INSERT INTO customers (name) VALUES ('bench') RETURNING id")
        model = await conn.fetchval(
            "INSERT INTO sip_phone_models (name, vendor, model, kind) "
            "VALUES ('bench-desk', 'generic', 'Bench', 'desk') RETURNING id"
        )
        rows, users = [], []
        for _ in range(count):
            stored, password = new_credentials(box, REALM)
            rows.append(
                (customer, model, stored.username, stored.password_enc, stored.ha1_md5,
                 stored.ha1_sha256)
            )  # fmt: skip
            users.append((stored.username, password))
        await conn.copy_records_to_table(
            "sip_phones",
            records=rows,
            columns=["customer_id", "model_id", "username", "password_enc", "ha1_md5",
                     "ha1_sha256"],
        )  # fmt: skip
        await conn.execute(
            "INSERT INTO phone_status (phone_id) SELECT id FROM sip_phones ON CONFLICT DO NOTHING"
        )
    finally:
        await conn.close()
    return users


async def one_round(
    service: SipService,
    users: list[tuple[str, str]],
    tag: str,
    batch: int,
    profiler: cProfile.Profile | None,
) -> tuple[float, float]:
    """One registration per phone; (µs CPU per 401 half, µs CPU per 200 half)."""
    waiter = Waiter()
    peers = [FakeUdp(("127.0.0.1", 20000 + i), waiter) for i in range(len(users))]
    firsts = [
        first_register(user, peer.remote[1], f"{tag}-{i}@bench")
        for i, ((user, _), peer) in enumerate(zip(users, peers, strict=True))
    ]
    on_message = service.on_message
    if profiler:
        profiler.enable()
    started = time.process_time()
    for peer, data in zip(peers, firsts, strict=True):
        on_message(peer, data, peer.remote)
    challenge_cpu = time.process_time() - started
    if profiler:
        profiler.disable()
    seconds = []
    for i, ((user, password), peer) in enumerate(zip(users, peers, strict=True)):
        match = _NONCE.search(peer.sent[-1])
        assert match is not None and peer.sent[-1].startswith(b"SIP/2.0 401"), peer.sent[-1][:200]
        nonce = match.group(1).decode()
        seconds.append(second_register(user, password, peer.remote[1], f"{tag}-{i}@bench", nonce))
    if profiler:
        profiler.enable()
    started = time.process_time()
    for start in range(0, len(users), batch):
        chunk = range(start, min(start + batch, len(users)))
        answered = waiter.expect(len(chunk))
        for i in chunk:
            on_message(peers[i], seconds[i], peers[i].remote)
        await answered  # every REGISTER of the batch answered (after the commit)
    register_cpu = time.process_time() - started
    if profiler:
        profiler.disable()
    for peer in peers:
        assert peer.sent[-1].startswith(b"SIP/2.0 200"), peer.sent[-1][:200]
    count = len(users)
    return challenge_cpu / count * 1e6, register_cpu / count * 1e6


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--phones", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=50, help="REGISTERs in flight together")
    parser.add_argument("--profile", help="write a cProfile of the refresh rounds here")
    parser.add_argument("--gate", action="store_true", help="the real IP gate (LOCKED phones)")
    parser.add_argument(
        "--ab-fastpath", action="store_true", help="alternate rounds without the fast path"
    )
    parser.add_argument(
        "--no-commit", action="store_true", help="accept write jobs without writing them"
    )
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="sipfleet-hotpath-"))
    root.chmod(0o755)
    server = start_embedded(root)
    key = os.urandom(32)
    try:
        users = await make_phones(server.uri, args.phones, key)
        pool = await create_pool(server.uri, max_size=4)
        settings = Settings(data_dir=str(root / "data"), sip_domain=REALM,
                            sip_listen="udp:127.0.0.1:0")  # fmt: skip
        config = dataclasses.replace(
            sip_config(settings, secret_key=key, node_id="hotpath"),
            listeners=(ListenerSpec(transport="udp", host="127.0.0.1", port=0),),
            digest_algorithms=("MD5",),
            keepalive_interval=0,
        )
        if args.gate:
            async with pool.acquire() as conn:
                await conn.execute(
                    "UPDATE sip_phones SET ip_mode = 'LOCKED', ip_address = '127.0.0.1'"
                )
            service = SipService(config, pool, IpGate(pool=pool, geo=GeoDatabase(None)))
        else:
            service = SipService(config, pool)
        await service.start()
        if args.no_commit:
            loop = asyncio.get_running_loop()

            def accepted(job: object) -> asyncio.Future[None]:
                done: asyncio.Future[None] = loop.create_future()
                done.set_result(None)
                return done

            service.writer.submit_nowait = accepted  # type: ignore[method-assign,assignment]

            def accepted_then(job: object, then: Callable[[None], None]) -> None:
                then(None)

            service.writer.submit_then = accepted_then  # type: ignore[method-assign,assignment]
        if os.environ.get("HOTPATH_GC") == "off":
            import gc

            gc.disable()
        if os.environ.get("HOTPATH_GC") == "freeze":
            import gc

            gc.freeze()
            gc.set_threshold(20000, 20, 20)
        try:
            c401, c200 = await one_round(service, users, "new", args.batch, None)
            print(f"new bindings  : 401 half {c401:7.1f} µs  200 half {c200:7.1f} µs  "
                  f"total {c401 + c200:7.1f} µs CPU per registration")  # fmt: skip
            profiler = cProfile.Profile() if args.profile else None
            totals: list[tuple[float, float]] = []
            without: list[tuple[float, float]] = []
            for r in range(args.rounds):
                c401, c200 = await one_round(service, users, f"r{r}", args.batch, profiler)
                totals.append((c401, c200))
                print(f"refresh {r + 1}     : 401 half {c401:7.1f} µs  200 half {c200:7.1f} µs  "
                      f"total {c401 + c200:7.1f} µs CPU per registration")  # fmt: skip
                if args.ab_fastpath:
                    service_module.parse_udp_register = _no_fast_path  # type: ignore[attr-defined]
                    try:
                        c401, c200 = await one_round(service, users, f"s{r}", args.batch, None)
                    finally:
                        service_module.parse_udp_register = parse_udp_register  # type: ignore[attr-defined]
                    without.append((c401, c200))
                    print(f"  no fastpath : 401 half {c401:7.1f} µs  200 half {c200:7.1f} µs  "
                          f"total {c401 + c200:7.1f} µs CPU per registration")  # fmt: skip
            best = min(totals, key=sum)
            print(f"best refresh  : {best[0]:.1f} + {best[1]:.1f} = {sum(best):.1f} µs "
                  f"(≈ {1e6 / sum(best):,.0f} registrations/s per core)")  # fmt: skip
            if without:
                slow = min(without, key=sum)
                print(f"best without the fast path: {slow[0]:.1f} + {slow[1]:.1f} = "
                      f"{sum(slow):.1f} µs")  # fmt: skip
            if profiler is not None and args.profile:
                profiler.dump_stats(args.profile)
        finally:
            await service.stop()
            await pool.close()
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    uvloop.run(main())
