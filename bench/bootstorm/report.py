#!/usr/bin/env python3
"""Boot-storm figures: `storm` turns one storm's client results, verify.json and the CPU
counters run.sh read into one JSON line; `summary` turns all the lines into a table.

A storm is clean when every phone is online — by the clients' 200s and by the API — with
no failure of any kind (HTTP answer other than 200, HTTP timeout or reset, SIP answer other
than the first 401 challenge and the 200, SIP transaction timeout, 503) and no SIP
retransmission.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

# counters that are not failures
NORMAL = {"http_requests", "sip_requests", "sip_401_challenge", "sip_provisional"}
# counters that are reported but are not failures either (the client's view of duplicates)
INFO = {"sip_duplicate_response", "sip_stray_response", "sip_retransmissions"}


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def storm(args: argparse.Namespace) -> None:
    d = Path(args.dir)
    clients = [json.loads(p.read_text()) for p in sorted(d.glob("client-*.json"))]
    verify_path = d / "verify.json"
    verify: dict[str, Any] = {}
    if verify_path.exists() and verify_path.read_text().strip():
        verify = json.loads(verify_path.read_text())
    counts: Counter[str] = Counter()
    per_phone: list[list[Any]] = []
    for c in clients:
        counts.update(c["counts"])
        per_phone += c["per_phone"]
    # [index, mac, ip, scheduled, started, fetched, online, stats]
    online = [p for p in per_phone if p[6]]
    t0 = args.t0
    to_online = [p[6] - p[3] for p in online]
    to_fetched = [p[5] - p[3] for p in per_phone if p[5]]
    register = [p[6] - p[5] for p in online if p[5]]
    last = max((p[6] for p in online), default=None)
    failures = {
        k: v
        for k, v in counts.items()
        if k not in NORMAL and k not in INFO and v and k != "sip_503_retry_after"
    }
    hz = args.hz
    server_s = args.server_ticks / hz
    pg_s = args.pg_ticks / hz
    client_s = sum(c["client_cpu_s"] for c in clients)
    busy, total = (int(x) for x in args.busy.split())
    n = args.nphones
    api_online = verify.get("api_online")
    clean = (
        len(online) == n
        and api_online == n
        and not failures
        and counts.get("sip_503", 0) == 0
        and counts.get("sip_retransmissions", 0) == 0
    )
    # the target's reading: every phone online, no failure and no 503, retransmissions aside
    online_without_failures = (
        len(online) == n and api_online == n and not failures and counts.get("sip_503", 0) == 0
    )
    wall = args.t1 - t0
    result: dict[str, Any] = {
        "rate": args.rate,
        "nphones": n,
        "online_client": len(online),
        "online_api": api_online,
        "online_status_table": verify.get("status_online"),
        "api_checked_after_t0_s": verify.get("api_checked_after_t0_s"),
        "status_last_online_after_t0_s": verify.get("status_last_online_after_t0_s"),
        "bindings": verify.get("bindings"),
        "phones_locked": verify.get("phones_locked"),
        "last_online_after_t0_s": round(last - t0, 2) if last else None,
        "schedule_s": round((n - 1) / args.rate, 2),
        "time_to_online_ms": {
            "p50": round(1000 * (pct(to_online, 0.5) or 0)),
            "p99": round(1000 * (pct(to_online, 0.99) or 0)),
            "max": round(1000 * max(to_online, default=0)),
        },
        "fetch_ms_p50_p99": [
            round(1000 * (pct(to_fetched, 0.5) or 0)),
            round(1000 * (pct(to_fetched, 0.99) or 0)),
        ],
        "register_ms_p50_p99": [
            round(1000 * (pct(register, 0.5) or 0)),
            round(1000 * (pct(register, 0.99) or 0)),
        ],
        "counts": dict(sorted(counts.items())),
        "failures": failures,
        "sip_503": counts.get("sip_503", 0),
        "retransmissions": counts.get("sip_retransmissions", 0),
        "window_s": round(wall, 2),
        "server_cpu_s": round(server_s, 2),
        "pg_cpu_s": round(pg_s, 2),
        "server_cpu_after_s": round(args.server_ticks_after / hz, 2),
        "pg_cpu_after_s": round(args.pg_ticks_after / hz, 2),
        "idle_server_pg_cpu_s_per_3s": round(args.idle_ticks_3s / hz, 2),
        "client_cpu_s": round(client_s, 2),
        # per phone: the storm and the 3 s after it (writes it left queued)
        "server_ms_per_phone": round(1000 * (server_s + args.server_ticks_after / hz) / n, 3),
        "pg_ms_per_phone": round(1000 * (pg_s + args.pg_ticks_after / hz) / n, 3),
        "client_ms_per_phone": round(1000 * client_s / n, 3),
        "machine_busy": round(busy / total, 3) if total else None,
        "listen_overflows": args.overflows,
        "client_start_lag_ms_max": max(
            (c["start_lag_ms"]["max"] or 0 for c in clients), default=None
        ),
        # what the database did, per phone (commits, rows written by table)
        "db_per_phone": {
            k: round(v / n, 2)
            for k, v in sorted(verify.get("db_delta", {}).items())
            if k.endswith((".ins", ".upd", ".del", ".seq_scan", ".seq_tup_read", ".idx_scan"))
            or k.startswith(("xact", "tup_"))
        },
        "load": args.load,
        "workers": args.workers,
        "clients": args.clients,
        "addresses": args.addresses,
        "options_answered": sum(c.get("options_answered", 0) for c in clients),
        "all_online_no_failure": online_without_failures,
        "clean": clean,
    }
    result["line"] = (
        f"{len(online)}/{n} online (API {api_online}), "
        f"last at {result['last_online_after_t0_s']} s "
        f"(schedule {result['schedule_s']} s), failures {failures or 0}, 503 {result['sip_503']}, "
        f"retrans {result['retransmissions']}, server {server_s:.1f} CPU s, PostgreSQL {pg_s:.1f}, "
        f"client {client_s:.1f}, busy {result['machine_busy']}, load {args.load} -> "
        f"{'clean' if clean else 'dirty'}"
    )
    print(json.dumps(result))


def summary(args: argparse.Namespace) -> None:
    out = Path(args.out)
    machine = dict(
        line.split("=", 1) for line in (out / "machine.txt").read_text().splitlines() if "=" in line
    )
    rows = [json.loads(line) for line in (out / "storms.jsonl").read_text().splitlines() if line]
    w = sys.stdout.write
    w("# Boot storm (bench/bootstorm/run.sh)\n\n")
    w(
        f"Machine: {machine.get('machine')}; run {machine.get('start')} → {machine.get('end')}; "
        f"sipfleet {machine.get('commit')}, {machine.get('python')}.\n"
    )
    if rows:
        r0 = rows[0]
        w(
            f"{r0['nphones']:,} phones (yealink-t54w, created through the API, ip OPEN) from "
            f"{r0['addresses']} source addresses; workers={r0['workers']}; "
            f"{r0['clients']} client process(es). CPU in CPU-seconds from T0 until every "
            "phone was online (the clients' last 200) and, apart, over the 3 s that followed "
            "('after': writes the storm left queued); per phone = (storm + after) / phones. "
            "'idle' = sipfleet + PostgreSQL CPU over 3 s of the started server before T0.\n\n"
        )
    columns = [
        "rate asked (phones/s)",
        "online (client / API / status table)",
        "last online after T0 (s)",
        "time to online p50 / p99 / max (ms)",
        "failures",
        "503",
        "retrans",
        "sipfleet CPU s (per phone ms)",
        "PostgreSQL CPU s (per phone ms)",
        "after: sipfleet / PG s",
        "idle s",
        "client CPU s (per phone ms)",
        "machine busy",
        "listen overflows",
        "OPTIONS answered",
        "load avg before / after",
        "all online, 0 failures, 0 503",
        "clean (and 0 retrans)",
    ]
    w("| " + " | ".join(columns) + " |\n")
    w("|" + "---|" * len(columns) + "\n")
    for r in rows:
        t = r["time_to_online_ms"]
        cells = [
            f"{r['rate']:,}",
            f"{r['online_client']:,} / {r['online_api']} / {r['online_status_table']}",
            f"{r['last_online_after_t0_s']} (schedule {r['schedule_s']})",
            f"{t['p50']} / {t['p99']} / {t['max']}",
            str(r["failures"] or 0),
            str(r["sip_503"]),
            str(r["retransmissions"]),
            f"{r['server_cpu_s']} ({r['server_ms_per_phone']})",
            f"{r['pg_cpu_s']} ({r['pg_ms_per_phone']})",
            f"{r['server_cpu_after_s']} / {r['pg_cpu_after_s']}",
            str(r["idle_server_pg_cpu_s_per_3s"]),
            f"{r['client_cpu_s']} ({r['client_ms_per_phone']})",
            str(r["machine_busy"]),
            str(r["listen_overflows"]),
            str(r.get("options_answered", "?")),
            r["load"],
            "yes" if r.get("all_online_no_failure") else "no",
            "yes" if r["clean"] else "no",
        ]
        w("| " + " | ".join(cells) + " |\n")
    w("\n")
    if args.best:
        w(f"Fastest clean rate: **{args.best:,} phones/s**")
        w(
            f" (lowest dirty: {args.worst:,}/s).\n"
            if args.worst
            else " (every rate tried was clean).\n"
        )
    else:
        w("No rate tried was clean.\n")
    relaxed = [r["rate"] for r in rows if r.get("all_online_no_failure")]
    if relaxed:
        w(
            f"Fastest rate with every phone online, no failure and no 503 (retransmissions "
            f"let pass): **{max(relaxed):,} phones/s**.\n"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("storm")
    s.add_argument("--dir", required=True)
    s.add_argument("--rate", type=int, required=True)
    s.add_argument("--nphones", type=int, required=True)
    s.add_argument("--t0", type=float, required=True)
    s.add_argument("--t1", type=float, required=True)
    s.add_argument("--hz", type=int, required=True)
    for name in (
        "server-ticks",
        "pg-ticks",
        "server-ticks-after",
        "pg-ticks-after",
        "overflows",
        "idle-ticks-3s",
    ):
        s.add_argument(f"--{name}", type=int, required=True)
    s.add_argument("--busy", required=True)
    s.add_argument("--load", required=True)
    s.add_argument("--workers", type=int, required=True)
    s.add_argument("--clients", type=int, required=True)
    s.add_argument("--addresses", type=int, required=True)
    m = sub.add_parser("summary")
    m.add_argument("--out", required=True)
    m.add_argument("--best", type=int, default=0)
    m.add_argument("--worst", type=int, default=0)
    args = parser.parse_args()
    storm(args) if args.cmd == "storm" else summary(args)


if __name__ == "__main__":
    main()
