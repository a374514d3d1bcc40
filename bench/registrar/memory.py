#!/usr/bin/env python3
"""Memory of the registrar's in-memory state per 100,000 bindings (no I/O).

Fills a `LocationService` (and the directory entries the registrar keeps per phone) the
way REGISTERs do, and reports what tracemalloc and the process RSS say. The RSS of a
running sipfleet under SIPp is measured by run.sh; this isolates the data structures.
usage: memory.py [COUNT]
"""

from __future__ import annotations

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


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    before_rss = rss_kb()
    traced = os.environ.get("TRACE") == "1"
    if traced:
        tracemalloc.start()
    location = LocationService()
    directory: dict[str, DirectoryEntry] = {}
    now = time.time()
    for i in range(count):
        phone_id = os.urandom(12).hex()
        username = os.urandom(16).hex()
        directory[username] = DirectoryEntry(
            phone_id=phone_id, customer_id=os.urandom(12).hex(), extension_id=None,
            username=username, ha1_md5=os.urandom(16).hex(), ha1_sha256=os.urandom(32).hex(),
            ip_mode="OPEN", ip_countries=(), ip_address=None, vendor="yealink", model="T54W",
            mac_address=None, version=1,
        )  # fmt: skip
        location.put(
            Binding(
                phone_id=phone_id, contact=f"sip:{username}@10.{i >> 16 & 255}.{i >> 8 & 255}"
                f".{i & 255}:5060;transport=udp", call_id=f"{os.urandom(8).hex()}@10.0.0.1",
                cseq=2, expires_at=now + 3600, q=None, transport="udp",
                source_ip=f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", source_port=5060,
                local_ip="192.168.1.20", user_agent="Yealink SIP-T54W 96.86.0.100",
                node="host|udp:0.0.0.0:5060",
            )
        )  # fmt: skip
    current, peak = tracemalloc.get_traced_memory() if traced else (0, 0)
    tracemalloc.stop()
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{count} phones + bindings: traced {current / 1e6:.1f} MB (peak {peak / 1e6:.1f} MB); "
        f"RSS grew {(rss_kb() - before_rss) / 1024:.1f} MB; max RSS {max_rss:.1f} MB"
    )


if __name__ == "__main__":
    main()
