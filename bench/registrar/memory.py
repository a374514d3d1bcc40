#!/usr/bin/env python3
"""Memory of the registrar's in-memory state per 100,000 bindings (no I/O).

Fills a `LocationService` (and what else the registrar keeps per phone: the directory
entries by username and by id, the flow counts of register.py) the way REGISTERs do —
every value a fresh object, as the parser makes them; the user agent shared, as
register.py interns it — optionally refreshes every binding (a new CSeq and
expiry, new strings off the wire: the steady state), and reports what tracemalloc and the
process RSS say. The RSS of a running sipfleet under SIPp is measured by run.sh; this
isolates the data structures. A whole sipfleet process is about 73 MB before bindings
(bench/RESULTS.md), so "RSS grew" + 73 MB estimates a node holding COUNT bindings.

usage: memory.py [COUNT] [--per-site N] [--refreshes R]   (TRACE=1: tracemalloc too)
  --per-site N: N phones share one public address (one site behind NAT); 1 = all distinct
       memory.py --transactions RATE [--seconds S]
  the server transaction table alone (sipcore.transaction.ServerTransactions) fed RATE
  answered UDP REGISTERs per second of simulated time for S seconds (default 40: Timer J
  is 32 s, so the table is at its steady size), each a fresh parsed request (its own
  branch) answered with fresh 200 OK bytes, handle_timer every simulated second as the
  service's sweep does. Reports the table's size, the memory tracemalloc sees it hold, and
  the CPU per receive+respond (parsing and building excluded: timed apart, untraced).
  SIPFLEET_TREE=/path/to/checkout measures another tree's sipcore (before/after).
       memory.py --serve-traced DIR -- ARGS...
  run `python -m provisioning ARGS` (e.g. `serve`) under tracemalloc (5 frames); each
  SIGUSR1 dumps a snapshot to DIR/snap-N.bin; `memory.py --diff A B` prints what grew
  between two snapshots, by line. (rss_run.sh TRACED=1 uses both.)
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, os.environ.get("SIPFLEET_TREE") or str(Path(__file__).resolve().parents[2]))

from db.sip_directory import DirectoryEntry
from sipcore.headers import clear_caches
from sipcore.location import Binding, LocationService
from sipcore.message import SipRequest, with_received
from sipcore.parser import parse_message
from sipcore.transaction import ServerTransactions


def rss_kb() -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS"):
                return int(line.split()[1])
    return 0


Flow = tuple[str, str, int]


def register(location: LocationService, flows: dict[Flow, int], phone_id: str, user: str,
             i: int, site: int, cseq: int, now: float, user_agent: str) -> None:  # fmt: skip
    """Put one binding built from fresh objects, as a parsed REGISTER would give them,
    and count its flow as register.py does (RegisterHandler._put)."""
    lan = f"192.168.{i >> 8 & 15}.{i & 255}"
    public = f"198.{site >> 16 & 255}.{site >> 8 & 255}.{site & 255}"
    old = location.binding(phone_id, f"sip:{user}@{lan}:5060;transport=udp")
    if old is not None:
        flow = (old.transport, old.source_ip, old.source_port)
        flows[flow] -= 1
        if not flows[flow]:
            del flows[flow]
    binding = Binding(
        phone_id=phone_id, contact=f"sip:{user}@{lan}:5060;transport=udp",
        call_id=f"{phone_id[:16]}@{lan}", cseq=cseq, expires_at=now + 3600, q=None,
        transport="udp", source_ip=public, source_port=int("5060") + i % 7,
        local_ip=f"192.168.{i >> 8 & 15}.{i & 255}", user_agent=user_agent,
        node="host|udp:0.0.0.0:5060",
    )  # fmt: skip
    location.put(binding)
    flow = (binding.transport, binding.source_ip, binding.source_port)
    flows[flow] = flows.get(flow, 0) + 1


def transaction_batch(start: int, size: int) -> tuple[list[SipRequest], list[bytes]]:
    """`size` parsed REGISTERs with credentials (distinct branches, as SIPp sends them)
    and a fresh 200 OK of a realistic size (≈400 bytes) for each."""
    requests, responses = [], []
    for i in range(start, start + size):
        user = f"{i % 100_000:08d}Ij2kLm4nOp6qRs8tUv0wXy1z"
        message = (
            f"REGISTER sip:bench.test SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-1203-{i}-6\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:{user}@bench.test>;tag={i}SIPpTag001\r\n"
            f"To: <sip:{user}@bench.test>\r\n"
            f"Call-ID: {i}-1203@127.0.0.1\r\nCSeq: 2 REGISTER\r\n"
            f"Contact: <sip:{user}@127.0.0.1:5061;transport=UDP>\r\n"
            f'Authorization: Digest username="{user}",realm="bench.test",nonce="x",'
            f'uri="sip:bench.test",response="{i:032x}"\r\n'
            "Expires: 3600\r\nContent-Length: 0\r\n\r\n"
        ).encode()
        parsed = parse_message(message)
        assert isinstance(parsed, SipRequest)
        requests.append(with_received(parsed, "127.0.0.1", 5061))
        responses.append(
            b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-1203-%d-6;"
            b"received=127.0.0.1;rport=5061\r\nFrom: <sip:%s@bench.test>;tag=%dSIPpTag001\r\n"
            b"To: <sip:%s@bench.test>;tag=3f1a\r\nCall-ID: %d-1203@127.0.0.1\r\n"
            b"CSeq: 2 REGISTER\r\nContact: <sip:%s@127.0.0.1:5061;transport=UDP>;"
            b"expires=3600\r\nDate: Mon, 23 Nov 2026 19:00:00 GMT\r\nContent-Length: 0\r\n\r\n"
            % (i, user.encode(), i, user.encode(), i, user.encode())
        )
    return requests, responses


def transactions(rate: int, seconds: int) -> None:
    """The server transaction table at `rate` answered UDP REGISTERs per second."""
    table = ServerTransactions()
    traced = tracemalloc.is_tracing()
    clear_caches()
    gc.collect()
    base = tracemalloc.get_traced_memory()[0] if traced else 0
    cpu = 0.0
    for second in range(seconds):
        requests, responses = transaction_batch(second * rate, rate)
        now = 1000.0 + second
        started = time.process_time()
        for i, request in enumerate(requests):
            at = now + i / rate
            got = table.receive(request, reliable=False, now=at)
            table.respond(got.key, responses[i], status=200, now=at)
        table.handle_timer(now + 1.0)
        cpu += time.process_time() - started
        del requests, responses, request, got
    clear_caches()  # the parser's caches are not the table's memory
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - base if traced else 0
    size = len(table)
    print(
        f"server transactions at {rate}/s for {seconds} s: {size} in the table; "
        + (f"traced {held / 1e6:.1f} MB, {held / max(size, 1):.0f} B each; " if traced else "")
        + f"{cpu / (rate * seconds) * 1e6:.2f} us CPU per receive+respond"
        + (" (under tracemalloc)" if traced else "")
    )


def serve_traced(directory: str, argv: list[str]) -> None:
    """sipfleet itself under tracemalloc, snapshots on SIGUSR1 (slower: ~2x the CPU)."""
    import runpy
    import signal

    Path(directory).mkdir(parents=True, exist_ok=True)
    taken = [0]

    def dump(signum: int, frame: object) -> None:
        taken[0] += 1
        gc.collect()
        tracemalloc.take_snapshot().dump(f"{directory}/snap-{taken[0]}.bin")

    signal.signal(signal.SIGUSR1, dump)
    tracemalloc.start(5)
    sys.argv = ["provisioning", *argv]
    runpy.run_module("provisioning", run_name="__main__", alter_sys=True)


def diff(before: str, after: str, top: int = 25) -> None:
    """What grew between two snapshots of `serve_traced`, by source line."""
    old = tracemalloc.Snapshot.load(before)
    new = tracemalloc.Snapshot.load(after)
    stats = new.compare_to(old, "lineno")
    total = sum(stat.size_diff for stat in stats)
    print(f"grew {total / 1e6:.1f} MB in all ({before} → {after}); the largest by line:")
    for stat in stats[:top]:
        frame = stat.traceback[0]
        print(
            f"{stat.size_diff / 1e6:8.2f} MB {stat.count_diff:+9d} blocks  "
            f"{frame.filename.split('site-packages/')[-1]}:{frame.lineno}"
        )


def main() -> None:
    if sys.argv[1:2] == ["--serve-traced"]:
        serve_traced(sys.argv[2], sys.argv[4:] if sys.argv[3:4] == ["--"] else sys.argv[3:])
        return
    if sys.argv[1:2] == ["--diff"]:
        diff(sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("count", type=int, nargs="?", default=100_000)
    parser.add_argument("--per-site", type=int, default=1)
    parser.add_argument("--refreshes", type=int, default=0)
    parser.add_argument("--transactions", type=int, default=0, metavar="RATE")
    parser.add_argument("--seconds", type=int, default=40)
    args = parser.parse_args()
    if args.transactions:
        if os.environ.get("TRACE") == "1":
            tracemalloc.start()
        transactions(args.transactions, args.seconds)
        return
    count = args.count
    before_rss = rss_kb()
    traced = os.environ.get("TRACE") == "1"
    if traced:
        tracemalloc.start()
    location = LocationService()
    directory: dict[str, DirectoryEntry] = {}  # PhoneDirectory keeps two: by username, by id
    by_id: dict[str, DirectoryEntry] = {}
    flows: dict[Flow, int] = {}
    user_agent = sys.intern("Yealink SIP-T54W 96.86.0.100")
    now = time.time()
    customers = [sys.intern(os.urandom(12).hex()) for _ in range(count // 20 + 1)]
    for i in range(count):
        phone_id = os.urandom(12).hex()
        username = os.urandom(16).hex()
        # as db.sip_directory builds them: customer, mode, vendor and model interned (one
        # customer per 20 phones here), every phone with its own extension and MAC
        directory[username] = by_id[phone_id] = DirectoryEntry(
            phone_id=phone_id, customer_id=customers[i // 20], extension_id=os.urandom(12).hex(),
            username=username, ha1_md5=os.urandom(16).hex(), ha1_sha256=os.urandom(32).hex(),
            ip_mode="OPEN", ip_countries=(), ip_address=None, vendor="yealink", model="T54W",
            mac_address=os.urandom(6).hex(), version=1,
        )  # fmt: skip
        register(location, flows, phone_id, username, i, i // args.per_site, 1, now, user_agent)
    for round_ in range(args.refreshes):
        for i, entry in enumerate(directory.values()):
            register(location, flows, entry.phone_id, entry.username, i, i // args.per_site,
                     2 + round_, now + 1 + round_, user_agent)  # fmt: skip
    current, peak = tracemalloc.get_traced_memory() if traced else (0, 0)
    tracemalloc.stop()
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    grew = (rss_kb() - before_rss) / 1024
    print(
        f"{count} phones + bindings ({args.per_site} per public address, {args.refreshes} "
        f"refreshes each): traced {current / 1e6:.1f} MB (peak {peak / 1e6:.1f} MB); RSS grew "
        f"{grew:.1f} MB (a node: ≈{grew + 73:.0f} MB); max RSS {max_rss:.1f} MB"
    )


if __name__ == "__main__":
    main()
