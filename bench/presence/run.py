#!/usr/bin/env python3
"""BLF fan-out benchmark of sipfleet with the shared tool `blf_fanout.py`.

Starts an embedded PostgreSQL (pgserver) in a temporary directory, migrates and seeds it
(one customer, the watched extension 102 with a phone, N watcher phones with their
32-character credentials, a MANAGER token), starts `sipfleet serve` on it (UDP SIP on
loopback, presence with `notify_min_interval_ms`), and runs
`../shared/bench/presence/blf_fanout.py` with N authenticated watchers and the HTTP
trigger `POST /api/presence/102 {"state": …}`. Everything it starts is stopped at the end
(the server by its PID, PostgreSQL by pgserver), also on error.

    .venv/bin/python bench/presence/run.py -n 1000
    .venv/bin/python bench/presence/run.py -n 100 --mode fanout --rounds 2      # a smoke run

blf_fanout's JSON results go to `--json` (default bench/out/presence/<label>-n<N>.json;
bench/out/ is not tracked by git).

At the end it prints sipfleet's CPU per NOTIFY of each phase (the process's CPU seconds
as the tool measured them from /proc, divided by the NOTIFYs: the fan-out phase sends
rounds x 2 x N; sustained counts what the watchers received), everything included: HTTP
pushes, database, idle timers. `bench/presence/cpu.py` measures the NOTIFY path alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402

from bench.common.pg import fresh_database  # noqa: E402
from db import migrate  # noqa: E402
from db.embedded import start_embedded  # noqa: E402
from tests.support import factories  # noqa: E402
from tests.support.database import insert_token  # noqa: E402
from tests.support.processes import start_sipfleet  # noqa: E402

TOOL = Path(os.environ.get("BLF_TOOL", "/work/shared/bench/presence/blf_fanout.py"))


async def seed(uri: str, watchers: int, csv_path: Path) -> str:
    conn = await asyncpg.connect(uri)
    try:
        await migrate.upgrade(conn)
        customer = await factories.customer(conn, "Bench")
        ext = await factories.extension(conn, customer, "102")
        await factories.phone(conn, customer, extension_id=ext)
        rows = []
        for _ in range(watchers):
            phone = await factories.phone(conn, customer)
            rows.append(f"{phone.username},{phone.password}")
        csv_path.write_text("\n".join(rows) + "\n")
        return await insert_token(conn, "MANAGER", customer_id=customer)
    finally:
        await conn.close()


def cpu_per_notify(out: dict[str, Any], watchers: int, rounds: int) -> str:
    """sipfleet's CPU per NOTIFY in each phase the tool ran (µs, all included)."""
    parts = []
    fanout = out.get("fanout")
    if fanout:
        cpu = fanout["cpu"]["sipfleet_cpu_s"]
        parts.append(f"fanout {cpu / (rounds * 2 * watchers) * 1e6:.0f} us")
    sustained = out.get("sustained")
    if sustained and sustained.get("notifies_received"):
        cpu = sustained["cpu"]["sipfleet_cpu_s"]
        parts.append(f"sustained {cpu / sustained['notifies_received'] * 1e6:.0f} us")
    return "sipfleet CPU per NOTIFY: " + (", ".join(parts) or "n/a")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", "--watchers", type=int, default=1000)
    parser.add_argument("--mode", default="both", choices=("fanout", "sustained", "both"))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--interval", type=float, default=0.1)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--notify-interval-ms", type=int, default=0)
    parser.add_argument(
        "--json", help="blf_fanout's JSON results (default: bench/out/presence/<label>-n<N>.json)"
    )
    parser.add_argument("--label", default="sipfleet")
    args = parser.parse_args()
    if not 0 < args.watchers <= 5000:
        parser.error("--watchers must be 1..5000")
    work = Path(tempfile.mkdtemp(prefix="sf-blf-"))
    pg = start_embedded(work / "pg")
    node = None
    try:
        uri = asyncio.run(fresh_database(pg.uri, "blfbench"))
        users = work / "users.csv"
        token = asyncio.run(seed(uri, args.watchers, users))
        node = start_sipfleet(
            work / "data",
            sip_transports=("udp",),
            env={
                "SIPFLEET_DATABASE_URL": uri,
                "SIPFLEET_KEEPALIVE_INTERVAL": "0",
                "SIPFLEET_LOG_LEVEL": "warning",
                "SIPFLEET_NOTIFY_MIN_INTERVAL_MS": str(args.notify_interval_ms),
                "SIPFLEET_DATABASE_POOL_SIZE": "20",
            },
        )
        command = [
            sys.executable, str(TOOL),
            "--server", f"127.0.0.1:{node.sip_port}",
            "--resource", "sip:102@sipfleet.test", "--domain", "sipfleet.test",
            "-n", str(args.watchers), "--credentials", str(users),
            "--trigger", "http", "--trigger-url", f"{node.base_url}/api/presence/102",
            "--http-body", '{"state": "{state}"}',
            "--http-header", f"Authorization: Bearer {token}",
            "--mode", args.mode, "--rounds", str(args.rounds),
            "--interval", str(args.interval), "--duration", str(args.duration),
            "--cpu-pid", f"sipfleet={node.process.pid}", "--label", args.label,
        ]  # fmt: skip
        results = (
            Path(args.json)
            if args.json
            else ROOT / "bench/out/presence" / f"{args.label}-n{args.watchers}.json"
        )
        results.parent.mkdir(parents=True, exist_ok=True)
        command += ["--json", str(results)]
        code = subprocess.run(command, check=False, timeout=900).returncode
        if results.exists():
            print(cpu_per_notify(json.loads(results.read_text()), args.watchers, args.rounds))
        return code
    finally:
        if node is not None:
            node.stop()
            log = node.log()
            if "Traceback" in log or "ERROR" in log:
                print("--- sipfleet log (errors) ---\n" + log[-4000:])
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
