"""Provisioning fetches per second over HTTP keep-alive, 10,000 phones, gate and DB in path.

Starts its own embedded PostgreSQL (pgserver), migrates it, writes N Yealink T54W phones
(each with an extension, 6 BLF keys on other extensions and a speed dial; LOCKED to
127.0.0.1 so the IP gate decides on every fetch without a lock write), starts
`python -m provisioning serve` against it as a real subprocess, then drives it for a
bounded time from an aiohttp client with C keep-alive connections, each fetch a random
phone's `{mac}.cfg` with the phone's User-Agent. Prints fetches/s, latency percentiles,
status counts and the server's CPU use. Everything on 127.0.0.1; everything it starts is
stopped at the end.

The figure to compare on a shared machine is `server_cpu_ms_per_fetch`: CPU seconds of
the sipfleet process and every process below it (worker processes), per fetch, from
/proc — wall-clock rates mean little while other work shares the cores. The last line is
one JSON summary. `--workers N` starts the server with `SIPFLEET_WORKERS=N` (HTTP worker
processes sharing the port; ignored by a build without that setting); each worker keeps
its own phone records, so with N > 1 the cold pass is followed by `--warm-passes`
(default 2·(N−1)) untimed passes that warm the other workers too. `--profile FILE`
records the warm phase with py-spy (collapsed stacks, `--native` off) into FILE.

    flock /tmp/sipfleet-bench.lock \
        python bench/provisioning/bench_prov.py --phones 10000 --seconds 15 --connections 32
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import asyncpg  # noqa: E402

from bench.common.phones import yealink_user_agent  # noqa: E402
from db import migrate  # noqa: E402
from db.embedded import start_embedded  # noqa: E402
from provisioning.credentials import SecretBox, new_credentials  # noqa: E402
from tests.support.processes import free_port, start_sipfleet  # noqa: E402

KEY = bytes(range(32))
REALM = "sipfleet.test"


async def populate(uri: str, phones: int) -> list[str]:
    conn = await asyncpg.connect(uri)
    try:
        await migrate.upgrade(conn)
        box = SecretBox(KEY)
        model = await conn.fetchval("SELECT id FROM sip_phone_models WHERE name = 'yealink-t54w'")
        macs = []
        per_customer = 100
        for start in range(0, phones, per_customer):
            cust = await conn.fetchval(
                "INSERT INTO customers (name) VALUES ($1) RETURNING id", f"C{start}"
            )
            exts = await conn.fetch(
                "INSERT INTO extensions (customer_id, number, name) "
                "SELECT $1, (100 + n)::text, 'User ' || n FROM generate_series(1, $2) n "
                "RETURNING id",
                cust,
                per_customer,
            )
            ext_ids = [row["id"] for row in exts]
            rows = []
            for n in range(min(per_customer, phones - start)):
                stored, _ = new_credentials(box, REALM)
                mac = f"0015{start + n:08X}"
                macs.append(mac)
                keys = [
                    {
                        "index": k,
                        "function": "BLF",
                        "value": ext_ids[(n + k + 1) % len(ext_ids)],
                        "label": None,
                    }
                    for k in range(6)
                ] + [{"index": 6, "function": "SPEEDDIAL", "value": "112", "label": "SOS"}]
                rows.append(
                    (
                        cust,
                        ext_ids[n],
                        model,
                        mac,
                        stored.username,
                        stored.password_enc,
                        stored.ha1_md5,
                        stored.ha1_sha256,
                        keys,
                    )
                )
            await conn.executemany(
                "INSERT INTO sip_phones (customer_id, extension_id, model_id, mac_address, "
                "username, password_enc, ha1_md5, ha1_sha256, softkeys, ip_mode, ip_address) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::text::jsonb, 'LOCKED', '127.0.0.1')",
                [(*row[:-1], json.dumps(row[-1])) for row in rows],
            )
        return macs
    finally:
        await conn.close()


async def drive(base: str, macs: list[str], seconds: float, connections: int) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    deadline = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            rng = random.Random()
            while time.monotonic() < deadline:
                mac = rng.choice(macs)
                ua = f"Yealink SIP-T54W 96.86.0.100 {mac.lower()}"
                started = time.perf_counter()
                async with session.get(
                    f"{base}/prov/{mac.lower()}.cfg", headers={"User-Agent": ua}
                ) as response:
                    await response.read()
                    statuses[response.status] = statuses.get(response.status, 0) + 1
                latencies.append(time.perf_counter() - started)

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.monotonic() - started
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000

    return {
        "fetches": len(latencies),
        "seconds": round(elapsed, 2),
        "rate": round(len(latencies) / elapsed),
        "p50_ms": round(pct(0.5), 2),
        "p99_ms": round(pct(0.99), 2),
        "statuses": statuses,
    }


_WRK_SCRIPT = """
local fetches = {%s}
math.randomseed(os.time())
request = function()
  local item = fetches[math.random(#fetches)]
  return wrk.format("GET", item[1], {["User-Agent"] = item[2]})
end
done = function(summary, latency, requests)
  io.write(string.format(
    "WRK %%d %%d %%d %%d %%d %%d\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


def drive_wrk(
    base: str, macs: list[str], seconds: float, connections: int, root: Path
) -> dict[str, Any]:
    """The same load from wrk (C, one thread): the load generator takes far less CPU."""
    items = ",".join(f'{{"/prov/{m.lower()}.cfg","{yealink_user_agent(m)}"}}' for m in macs)
    script = root / "fetch.lua"
    script.write_text(_WRK_SCRIPT % items)
    done = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{int(seconds)}s", "-s", str(script), base],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    )
    line = next(x for x in done.stdout.splitlines() if x.startswith("WRK "))
    requests, duration_us, p50, p99, bad_status, socket_errors = map(int, line.split()[1:])
    return {
        "fetches": requests,
        "seconds": round(duration_us / 1e6, 2),
        "rate": round(requests / (duration_us / 1e6)),
        "p50_ms": round(p50 / 1000, 2),
        "p99_ms": round(p99 / 1000, 2),
        "non_2xx": bad_status,
        "socket_errors": socket_errors,
    }


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


async def drive_once(base: str, macs: list[str], connections: int) -> dict[str, Any]:
    """Every phone's file once, in random order: each fetch a render (cold cache)."""
    order = list(macs)
    random.shuffle(order)
    statuses: dict[int, int] = {}
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            while order:
                mac = order.pop()
                url = f"{base}/prov/{mac.lower()}.cfg"
                async with session.get(
                    url, headers={"User-Agent": yealink_user_agent(mac)}
                ) as response:
                    await response.read()
                    statuses[response.status] = statuses.get(response.status, 0) + 1

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.monotonic() - started
    return {"fetches": len(macs), "rate": round(len(macs) / elapsed), "statuses": statuses}


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def cpu_seconds(pid: int) -> float:
    """CPU (user + system) of `pid` and of every live process below it (workers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    total = 0
    todo = [pid]
    while todo:
        current = todo.pop()
        fields = _stat(current)
        if fields is not None:
            total += int(fields[11]) + int(fields[12])
        todo.extend(children.get(current, ()))
    return total / os.sysconf("SC_CLK_TCK")


def start_profile(pid: int, seconds: float, path: str) -> subprocess.Popen[bytes] | None:
    """py-spy on the server for the warm phase (None when py-spy is not installed)."""
    spy = shutil.which("py-spy")
    if spy is None:
        print("py-spy not found: no profile", file=sys.stderr)
        return None
    command = [spy, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "250"]
    command += ["--format", "raw", "--output", path, "--nonblocking", "--subprocesses"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--phones", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--tool", choices=("wrk", "aiohttp"), default="wrk")
    parser.add_argument("--workers", type=int, default=0, help="SIPFLEET_WORKERS (0: unset)")
    parser.add_argument("--profile", default="", help="py-spy collapsed stacks of the warm run")
    parser.add_argument(
        "--warm-passes",
        type=int,
        default=-1,
        help="untimed passes over every phone before the warm run (-1: 2 per extra worker)",
    )
    args = parser.parse_args()
    if args.tool == "wrk" and shutil.which("wrk") is None:
        print("wrk not found (apt-get install -y wrk): using the aiohttp client", file=sys.stderr)
        args.tool = "aiohttp"
    args.seconds = min(args.seconds, 60.0)  # bounded: this machine is shared
    root = Path(tempfile.mkdtemp(prefix="sf-bench-prov-"))
    server = start_embedded(root / "pg")
    process = None
    try:
        macs = asyncio.run(populate(server.uri, args.phones))
        env = {"SIPFLEET_DATABASE_URL": server.uri, "SIPFLEET_LOG_LEVEL": "warning"}
        if args.workers:
            env["SIPFLEET_WORKERS"] = str(args.workers)
        process = start_sipfleet(root / "data", env=env, sip_port=free_port())
        base = process.base_url
        cold_before = cpu_seconds(process.process.pid)
        cold = asyncio.run(drive_once(base, macs, args.connections))
        cold["server_cpu_ms_per_fetch"] = round(
            1000 * (cpu_seconds(process.process.pid) - cold_before) / cold["fetches"], 2
        )
        print({"cold": cold}, flush=True)
        # every worker keeps its own records: a phone fetched once is warm in one worker
        # only; each more pass (fresh connections, spread anew by SO_REUSEPORT) warms more
        passes = args.warm_passes if args.warm_passes >= 0 else 2 * max(args.workers - 1, 0)
        for number in range(passes):
            prewarm = asyncio.run(drive_once(base, macs, args.connections))
            print({"prewarm": number + 1, **prewarm}, flush=True)
        profiler = None
        if args.profile:
            profiler = start_profile(process.process.pid, args.seconds, args.profile)
        before = cpu_seconds(process.process.pid)
        busy_before, total_before = machine_busy()
        if args.tool == "wrk":
            result = drive_wrk(base, macs, args.seconds, args.connections, root)
        else:
            result = asyncio.run(drive(base, macs, args.seconds, args.connections))
        used = cpu_seconds(process.process.pid) - before
        busy_after, total_after = machine_busy()
        result["machine_busy_percent"] = round(
            100 * (busy_after - busy_before) / max(total_after - total_before, 1)
        )
        result["server_cpu_percent"] = round(100 * used / result["seconds"])
        result["server_cpu_ms_per_fetch"] = round(1000 * used / max(result["fetches"], 1), 2)
        result["phones"] = args.phones
        result["tool"] = args.tool
        result["connections"] = args.connections
        result["workers"] = args.workers
        if profiler is not None:
            profiler.wait(timeout=args.seconds + 30)
        print(result)
        print(json.dumps({"cold": cold, "warm": result}), flush=True)
    finally:
        if process is not None:
            process.stop()
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
