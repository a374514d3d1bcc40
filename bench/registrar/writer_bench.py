#!/usr/bin/env python3
"""CPU cost of the durable binding writes: PostgreSQL's and ours, per committed REGISTER.

Starts a fresh embedded PostgreSQL (pgserver) in a temporary directory, inserts COUNT
phone rows straight into it (`hotpath.make_phones`: a component benchmark of the writer
alone, not a measurement of what a user runs — bench/registrar/compare.sh is), registers
each once through `WriteBehind` (new bindings: upsert + status + a phone.registered
event, as register.py submits them), then measures ROUNDS × COUNT refreshes — the steady
state of a registrar: same contact, same flow, a new CSeq and expiry, the status's expiry
moved — with CONCURRENCY requests in
flight, so the writer folds them into batches as it does under load.

PostgreSQL's CPU is the user+system ticks of the postmaster and all its processes
(backends, WAL writer, checkpointer …) between the start and the end of the phase; ours is
`time.process_time()`. Both are divided by the jobs committed. Wall-clock rate is printed
but means little on a shared machine.

usage: flock /tmp/sipfleet-bench.lock python bench/registrar/writer_bench.py
       [--count 10000] [--rounds 5] [--concurrency 256] [--keep DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import asyncpg
import psutil

from db.bindings import StoredBinding
from db.embedded import EmbeddedPostgres, start_embedded
from db.phone_status import EventWrite, StatusWrite
from db.pool import create_pool
from sipcore.server.registrar.writer import WriteBehind, WriteJob

HERE = Path(__file__).resolve().parent
NODE = "bench|udp:127.0.0.1:5090"
USER_AGENT = "Yealink SIP-T54W 96.86.0.100"


def pg_cpu(server: EmbeddedPostgres) -> dict[int, float]:
    """CPU seconds of every PostgreSQL process, by pid."""
    pid = int((server.pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
    main = psutil.Process(pid)
    out: dict[int, float] = {}
    for process in [main, *main.children(recursive=True)]:
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        out[process.pid] = times.user + times.system
    return out


def pg_cpu_spent(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(value - before.get(pid, 0.0) for pid, value in after.items())


def stored(phone_id: str, i: int, cseq: int, expires_at: datetime) -> StoredBinding:
    ip = f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"
    return StoredBinding(
        phone_id=phone_id, contact=f"sip:{phone_id[:16]}@{ip}:5060;transport=udp",
        call_id=f"{phone_id[:12]}@{ip}", cseq=cseq, expires_at=expires_at, q=None,
        transport="udp", source_ip=ip, source_port=5060, local_ip="192.168.1.20",
        user_agent=USER_AGENT, instance_id=None, reg_id=None, node=NODE,
    )  # fmt: skip


def status(item: StoredBinding) -> StatusWrite:
    return StatusWrite(
        phone_id=item.phone_id, online=True, expires_at=item.expires_at,
        local_ip=item.local_ip, public_ip=item.source_ip, user_agent=item.user_agent,
        transport=item.transport,
    )  # fmt: skip


async def drive(writer: WriteBehind, jobs: list[WriteJob], concurrency: int) -> None:
    """Submit every job with at most `concurrency` waiting for their commit."""
    limit = asyncio.Semaphore(concurrency)

    async def one(job: WriteJob) -> None:
        try:
            await writer.submit(job)
        finally:
            limit.release()

    tasks = []
    for job in jobs:
        await limit.acquire()
        tasks.append(asyncio.create_task(one(job)))
    await asyncio.gather(*tasks)


async def run(server: EmbeddedPostgres, args: argparse.Namespace) -> None:
    conn = await asyncpg.connect(server.uri)
    try:
        phones = [row["id"] for row in await conn.fetch("SELECT id, customer_id FROM sip_phones")]
        customer = await conn.fetchval("SELECT id FROM customers LIMIT 1")
    finally:
        await conn.close()
    pool = await create_pool(server.uri, max_size=4)
    writer = WriteBehind(pool, limit=100_000, node=NODE)
    writer.start()
    try:
        now = time.time()
        first = []
        for i, phone_id in enumerate(phones):
            item = stored(phone_id, i, 1, datetime.fromtimestamp(now + 3600, UTC))
            event = EventWrite(
                type="phone.registered", phone_id=phone_id, customer_id=str(customer),
                details={"contact": item.contact, "transport": "udp", "source_ip": item.source_ip},
            )  # fmt: skip
            first.append(WriteJob(upserts=(item,), statuses=(status(item),), events=(event,)))
        await drive(writer, first, args.concurrency)
        print(f"{len(phones)} phones registered ({writer.batches} batches)")
        for round_ in range(args.rounds):
            refreshes = []
            for i, phone_id in enumerate(phones):
                expires = datetime.fromtimestamp(time.time() + 3600 + round_, UTC)
                item = stored(phone_id, i, 2 + round_, expires)
                refreshes.append(WriteJob(upserts=(item,), statuses=(status(item),)))
            batches, committed = writer.batches, writer.committed
            pg0, ours0, wall0 = pg_cpu(server), time.process_time(), time.perf_counter()
            await drive(writer, refreshes, args.concurrency)
            pg1, ours1, wall1 = pg_cpu(server), time.process_time(), time.perf_counter()
            jobs = writer.committed - committed
            pg_us = pg_cpu_spent(pg0, pg1) / jobs * 1e6
            ours_us = (ours1 - ours0) / jobs * 1e6
            print(
                f"refresh round {round_ + 1}: {jobs} jobs in {writer.batches - batches} batches "
                f"(mean {jobs / max(1, writer.batches - batches):.0f}); "
                f"PostgreSQL {pg_us:.0f} µs/registration, writer process {ours_us:.0f} "
                f"µs/registration; {jobs / (wall1 - wall0):.0f}/s wall (shared machine)"
            )
    finally:
        await writer.stop()
        await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--count", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--keep", help="use (and keep) this directory for PostgreSQL")
    args = parser.parse_args()
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="writer-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    server = start_embedded(root)
    try:
        sys.path.insert(0, str(HERE))
        from hotpath import make_phones  # rows inserted straight: see the module's doc

        asyncio.run(make_phones(server.uri, args.count, secrets.token_bytes(32)))
        asyncio.run(run(server, args))
    finally:
        server.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
