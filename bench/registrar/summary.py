#!/usr/bin/env python3
"""Write compare.sh's summary (markdown, to stdout) from $OUT/<server>/steps.tsv,
durability and machine.txt: for FIRST registrations and for REFRESHES apart, each server's
highest clean rate, the ratios of sipfleet to Kamailio of the same run, and the CPU of each
server and of its PostgreSQL per registration at that rate.

usage: summary.py OUT
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

out = Path(sys.argv[1])
machine = dict(
    line.split("=", 1) for line in (out / "machine.txt").read_text().splitlines() if "=" in line
)
SERVERS = [
    ("kamailio_db0", "Kamailio, usrloc db_mode=0 (memory only)"),
    ("kamailio_db1", "Kamailio, usrloc db_mode=1 (write-through)"),
    ("sipfleet", f"sipfleet (every 200 after its commit; workers={machine.get('workers')})"),
]
KINDS = [
    ("first", "First registrations (each phone's first REGISTER; sipfleet locks the OPEN phone)"),
    ("refresh", "Refreshes (re-registrations of phones with a binding)"),
]


def steps(name: str) -> list[dict[str, str]]:
    path = out / name / "steps.tsv"
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def p50_p99(cell: str) -> str:
    parts = dict(p.split("=") for p in cell.split() if "=" in p)
    return f"{parts.get('p50', '?')} / {parts.get('p99', '?')}" if parts else cell


def text(path: Path) -> str:
    return path.read_text().strip() if path.exists() else "?"


lines: list[str] = []
add = lines.append
add("# Registrar: Kamailio and sipfleet in one run (bench/registrar/compare.sh)\n")
add(
    f"Machine: {machine.get('nproc')} CPUs ({machine.get('model')}), {machine.get('memory')}, "
    f"kernel {machine.get('kernel')}; run {machine.get('start')} → {machine.get('end')} "
    f"({machine.get('duration_s')} s); load average at start {machine.get('loadavg_at_start')}, "
    f"at end {machine.get('loadavg_at_end')}.  "
)
add(
    f"Versions: Kamailio {machine.get('kamailio')}, {machine.get('sipp')}, "
    f"{machine.get('postgresql_kamailio')} (Kamailio's, private cluster), sipfleet "
    f"{machine.get('sipfleet_commit')} (its embedded PostgreSQL), {machine.get('python')}.  "
)
add(
    f"Method: SIPp transport `{machine.get('transport')}`, {machine.get('users')} users, "
    f"User-Agent `{machine.get('user_agent')}`. "
    f"First registrations: {machine.get('first_step')}, rates {machine.get('first_rates')}. "
    f"Refreshes: {machine.get('refresh_step')}, rates {machine.get('refresh_rates')}. "
    f"{machine.get('pauses')}. Clean = every call OK, 0 failed, 0 retransmissions. "
    f"Kamailio: {machine.get('kamailio_children')} UDP workers. sipfleet's phones were created "
    "through its REST API (yealink-t54w, default settings: ip OPEN). CPU: cores = CPU-seconds "
    "per wall second over the step (the server's and PostgreSQL's whole process trees); "
    "ms per registration = CPU over the step and the seconds after it / registrations "
    "answered 200; sys busy = the whole machine; load = 1-min load average at the step's "
    "start.\n"
)

results: dict[tuple[str, str], int] = {}
capped: set[tuple[str, str]] = set()
for kind, title in KINDS:
    add(f"## {title}\n")
    add(
        "| server | highest clean rate (reg/s) | achieved | lowest dirty rate above it | "
        "200 round trip p50 / p99 ms | server CPU ms per registration | PostgreSQL CPU ms per "
        "registration | server cores | PostgreSQL cores | SIPp cores | sys busy | load |"
    )
    add("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, label in SERVERS:
        rows = [r for r in steps(name) if r["kind"] == kind and r["phase"] != "warmup"]
        if not rows:
            if (out / name).exists():
                add(f"| {label} | **not measured** (see compare.log) |" + " – |" * 10)
            continue
        clean = [r for r in rows if r["clean"] == "1"]
        best = max(clean, key=lambda r: int(r["rate_asked"]), default=None)
        rate = int(best["rate_asked"]) if best else 0
        dirty = [int(r["rate_asked"]) for r in rows if r["clean"] != "1"]
        above = min((x for x in dirty if x > rate), default=None)
        label = f"{label}, {text(out / name / 'server_processes')} processes"
        if best is None:
            low = min(rows, key=lambda r: int(r["rate_asked"]))
            add(
                f"| {label} | **none clean** (figures at the lowest rate tried, "
                f"{int(low['rate_asked']):,}/s: ok {low['ok']}, failed {low['failed']}, "
                f"retrans {low['retrans']}) | {low['rate_achieved']} | {above} | "
                f"{p50_p99(low['rtd2_200_ms'])} | {low['server_ms_per_reg']} | "
                f"{low['pg_ms_per_reg']} | {low['server_cores']} | {low['pg_cores']} | "
                f"{low['sipp_cores']} | {low['sys_busy']} | {low['load']} |"
            )
            results[(name, kind)] = 0
            continue
        results[(name, kind)] = rate
        if above is None:
            capped.add((name, kind))
        shown = f"**≥ {rate:,}** (clean at every rate tried)" if above is None else f"**{rate:,}**"
        add(
            f"| {label} | {shown} | {best['rate_achieved']} | {above or '–'} | "
            f"{p50_p99(best['rtd2_200_ms'])} | {best['server_ms_per_reg']} | "
            f"{best['pg_ms_per_reg']} | {best['server_cores']} | {best['pg_cores']} | "
            f"{best['sipp_cores']} | {best['sys_busy']} | {best['load']} |"
        )
    add("")
    sf = results.get(("sipfleet", kind))
    for key, word in (("kamailio_db0", "memory-only"), ("kamailio_db1", "write-through")):
        k = results.get((key, kind))
        if sf == 0 and k:
            add(f"- **{kind}: sipfleet ÷ Kamailio {word}: 0** (sipfleet clean at no rate tried)")
        elif sf is not None and k:
            cap = [n for n in ("sipfleet", key) if (n, kind) in capped]
            note = f"; not a limit: {' and '.join(cap)} clean at every rate tried" if cap else ""
            add(f"- **{kind}: sipfleet ÷ Kamailio {word}: {sf / k:.2f}** ({sf:,} / {k:,}{note})")
        else:
            add(f"- {kind}: sipfleet ÷ Kamailio {word}: n/a (not measured, or no clean rate)")
    add("")

add(
    f"## The same rate for all: the warm-up ({machine.get('users')} first registrations at "
    "the warm-up rate, before the refreshes)\n"
)
add(
    "| server | asked/s | ok | failed | retrans | achieved/s | 200 round trip p50 / p99 ms | "
    "server CPU ms per registration | PostgreSQL CPU ms per registration | sys busy | load |"
)
add("|---|---|---|---|---|---|---|---|---|---|---|")
for name, label in SERVERS:
    for r in steps(name):
        if r["phase"] == "warmup":
            add(
                f"| {label} | {r['rate_asked']} | {r['ok']} | {r['failed']} | {r['retrans']} | "
                f"{r['rate_achieved']} | {p50_p99(r['rtd2_200_ms'])} | {r['server_ms_per_reg']} | "
                f"{r['pg_ms_per_reg']} | {r['sys_busy']} | {r['load']} |"
            )
add("")

add("## Durability (kill -9, restart)\n")
for name, label in SERVERS:
    dur = text(out / name / "durability").split()
    if len(dur) == 2:
        add(f"- {label}: {dur[1]} of {dur[0]} bindings back")
add("")
add(
    "Near the limit the clean/dirty boundary moves by about ±10–15 % run to run (one 500 ms "
    "stall makes a step dirty): repeat a boundary rate before trusting a small difference.\n"
)

# per step: the figures that decide and explain a verdict (steps.tsv has them all)
COLUMNS = (
    ("step", "label"), ("kind", "kind"), ("asked/s", "rate_asked"), ("ok", "ok"),
    ("failed", "failed"), ("retrans", "retrans"), ("achieved/s", "rate_achieved"),
    ("200 rtt p50 / p99 ms", "rtd2_200_ms"), ("server ms/reg", "server_ms_per_reg"),
    ("PG ms/reg", "pg_ms_per_reg"), ("busy", "sys_busy"), ("load", "load"), ("clean", "clean"),
)  # fmt: skip
for name, label in SERVERS:
    rows = steps(name)
    if not rows:
        continue
    add(f"### Steps: {label}\n")
    add("| " + " | ".join(title for title, _ in COLUMNS) + " |")
    add("|" + "---|" * len(COLUMNS))
    for r in rows:
        cells = [r.get(key, "?") for _, key in COLUMNS]
        cells[7] = p50_p99(cells[7])
        add("| " + " | ".join(cells) + " |")
    add("")
print("\n".join(lines))
