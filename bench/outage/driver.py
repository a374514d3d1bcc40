"""PostgreSQL outages and fail-over under registration load: the figures.

Starts its own PostgreSQL (pgserver's binaries; with `--scenario failover` a primary and a
synchronous streaming standby) and `sipfleet serve` (two workers) on it, creates phones,
and keeps them registering (each phone again `--pause` seconds after its last answer,
over its own UDP socket, a new Call-ID each time). Then:

- `restart`: PostgreSQL is stopped (`pg_ctl stop -m fast`) for `--outage` seconds and
  started again;
- `failover`: the primary is killed (postmaster and backends, SIGKILL) and the standby
  promoted (`pg_ctl promote`) `--outage` seconds later; `database_url` names both hosts
  with `target_session_attrs=read-write`;
- `partition`: sipfleet reaches PostgreSQL through a TCP proxy that stops forwarding for
  `--outage` seconds (nothing refused, nothing reset: packets dropped), then forwards
  what it held back.

Every second while PostgreSQL is away it reads /healthz, `GET /api/customers`, a phone's
configuration fetch and an OPTIONS over SIP. The report: REGISTER answers by status
before, during and after the outage; seconds from PostgreSQL's return (or the promotion)
to the first 200 and to every phone registered again; registrations lost (a phone whose
last 200 is not in the bindings table afterwards: must be 0); what answered what during
the outage; whether a phone created through the API afterwards registers at once.

    .venv/bin/python bench/outage/driver.py --scenario restart --outage 60
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


from tests.support.blackhole import BlackHoleProxy
from tests.support.outage import (
    DATABASE,
    RegisterLoad,
    create_database,
    fetch_config,
    healthz,
    http_get,
    lost_bindings,
    make_phones,
    pair_url,
    register_new_phone,
    start_node,
    wait_synchronous,
)
from tests.support.pgcluster import PgCluster
from tests.support.processes import SipfleetProcess, free_port
from tests.support.workers import ADMIN_TOKEN


def options_status(node: SipfleetProcess) -> int:
    """An OPTIONS to the SIP port over UDP: the answer's status (0: none in 2 s)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(2)
        port = sock.getsockname()[1]
        tag = os.urandom(4).hex()
        message = (
            f"OPTIONS sip:sipfleet.test SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{tag};rport\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:probe@sipfleet.test>;tag={tag}\r\n"
            f"To: <sip:sipfleet.test>\r\nCall-ID: {tag}@probe\r\nCSeq: 1 OPTIONS\r\n"
            f"Content-Length: 0\r\n\r\n"
        )
        sock.sendto(message.encode(), ("127.0.0.1", node.sip_port))
        try:
            data = sock.recv(65536)
        except TimeoutError:
            return 0
        return int(data.split(b" ", 2)[1])


def probe(node: SipfleetProcess, mac: str) -> dict[str, int]:
    return {
        "/healthz": healthz(node),
        "GET /api/customers": http_get(
            node, "/api/customers", {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        )[0],
        "configuration fetch": fetch_config(node, mac),
        "SIP OPTIONS": options_status(node),
    }


async def run(args: argparse.Namespace) -> str:
    cluster = PgCluster()
    node = None
    proxy = None
    try:
        primary = cluster.server("primary", free_port())
        primary.init(synchronous_standby=args.scenario == "failover")
        primary.start()
        standby = None
        url = primary.uri(DATABASE)
        if args.scenario == "failover":
            standby = cluster.server("standby", free_port()).standby_of(primary)
            standby.start()
            await wait_synchronous(primary)
            url = pair_url(primary, standby)
        proxy = None
        if args.scenario == "partition":
            proxy = await BlackHoleProxy(("127.0.0.1", primary.port)).start()
            url = f"postgresql://postgres@{proxy.host}/{DATABASE}"
        await create_database(primary.uri())
        work = Path(tempfile.mkdtemp(prefix="sf-outage-bench-"))
        node = await asyncio.to_thread(start_node, work / "node", url)
        customer, extension, model, phones = await make_phones(primary.uri(DATABASE), args.phones)
        mac = phones[0].mac_address or ""
        load = RegisterLoad(node, phones, pause=args.pause, timeout=args.answer_timeout)
        await load.start()
        await asyncio.sleep(args.warmup)
        stopping = time.monotonic()
        if proxy is not None:
            proxy.cut = True
        elif args.scenario == "restart":
            await asyncio.to_thread(primary.stop, "fast")
        else:
            await asyncio.to_thread(primary.kill)
        down = time.monotonic()  # REGISTERs committed while pg_ctl was stopping count before
        seen: dict[str, Counter[int]] = {}
        while time.monotonic() - down < args.outage:
            await asyncio.sleep(1.0)
            for what, status in (await asyncio.to_thread(probe, node, mac)).items():
                seen.setdefault(what, Counter())[status] += 1
        if proxy is not None:
            proxy.cut = False
        elif args.scenario == "restart":
            await asyncio.to_thread(primary.start)
        else:
            assert standby is not None
            await asyncio.to_thread(standby.promote)
        up = time.monotonic()
        health_back = None
        while time.monotonic() - up < 60:
            if health_back is None and await asyncio.to_thread(healthz, node) == 200:
                health_back = time.monotonic()
            if health_back is not None and load.all_ok_after(up) is not None:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(args.after)
        await load.stop()
        after = await asyncio.to_thread(probe, node, mac)
        new_phone = await register_new_phone(node, customer, extension, model)
        writer_uri = (standby or primary).uri(DATABASE)
        lost = await lost_bindings(writer_uri, load.phones)
        acked = sum(1 for p in load.phones for a in p.attempts if a.status == 200)
        first_ok, all_ok = load.first_ok_after(up), load.all_ok_after(up)
        node.stop()
        log = node.log()
    finally:
        if node is not None:
            node.stop()
        if proxy is not None:
            await proxy.close()
        cluster.close()

    def since(moment: float | None) -> str:
        return "never" if moment is None else f"{moment - up:.2f} s"

    before, during, later = (load.statuses(0, down), load.statuses(down, up),
                             load.statuses(up))  # fmt: skip
    how = {"restart": "pg_ctl stop -m fast", "failover": "SIGKILL of the primary",
           "partition": "cutting the proxy"}[args.scenario]  # fmt: skip
    event = {"restart": "PostgreSQL started again", "failover": "standby promoted",
             "partition": "the network back"}[args.scenario]  # fmt: skip
    lines = [
        f"scenario {args.scenario}: {args.phones} phones, each registering again {args.pause} s "
        f"after its answer; PostgreSQL away {up - down:.1f} s ({how} took "
        f"{down - stopping:.2f} s before that)",
        f"- REGISTER answers before: {dict(before)}; during: {dict(during)}; after: {dict(later)}"
        f" (0 = no answer within {args.answer_timeout:g} s)",
        f"- 503 answers without Retry-After: {sum(p.no_retry_after for p in load.phones)}",
        f"- from '{event}' to the first 200: {since(first_ok)}; to every phone registered "
        f"again: {since(all_ok)}; to /healthz 200: {since(health_back)}",
        f"- 200 answers in all: {acked}; registrations lost (last 200 not in the bindings "
        f"table afterwards): {len(lost)}",
        "- while PostgreSQL was away, answers by status: "
        + "; ".join(f"{what} {dict(counts)}" for what, counts in seen.items()),
        "- afterwards: " + "; ".join(f"{what} {status}" for what, status in after.items()),
        f"- a phone created through the API afterwards, six REGISTERs at once: {new_phone}",
        f"- server log: {log.count('Traceback')} tracebacks, "
        f"{sum(1 for line in log.splitlines() if ' ERROR ' in line)} ERROR lines, "
        f"{len(log.splitlines())} lines",
    ]
    if lost:
        lines += ["- lost:", *(f"  - {item}" for item in lost[:20])]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--scenario", choices=("restart", "failover", "partition"), default="restart"
    )
    parser.add_argument("--outage", type=float, default=60.0, help="seconds PostgreSQL is away")
    parser.add_argument("--phones", type=int, default=200)
    parser.add_argument("--pause", type=float, default=0.5)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument(
        "--answer-timeout", type=float, default=32.0,
        help="seconds a phone waits for each answer (a SIP client transaction: 64*T1)",
    )  # fmt: skip
    parser.add_argument("--after", type=float, default=5.0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    report = asyncio.run(run(args))
    print(report, end="")
    if args.out:
        args.out.write_text(report)


if __name__ == "__main__":
    main()
