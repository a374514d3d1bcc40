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
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from db.sip_directory import DirectoryEntry
from sipcore.location import Binding, LocationService


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("count", type=int, nargs="?", default=100_000)
    parser.add_argument("--per-site", type=int, default=1)
    parser.add_argument("--refreshes", type=int, default=0)
    args = parser.parse_args()
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
