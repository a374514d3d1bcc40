#!/usr/bin/env python3
"""CPU per NOTIFY of the presence fan-out, measured in-process (no HTTP, no database in
the measured part).

Starts an embedded PostgreSQL (the SIP service loads its directory from it), an
in-process `SipService` on a loopback UDP port and a `PresenceService` holding N dialog
subscriptions of one extension, each aimed at a responder in a child process that
answers every NOTIFY with a 200 OK (its own process, so its CPU is not counted). Each
round applies a state change (`_apply_state`, what a committed push does after the
compare-and-set) and waits until every subscription's NOTIFY was answered; the figure is
this process's CPU time (`time.process_time`) over the rounds divided by the NOTIFYs:
building, sending, matching the 200 OK, coalescing — everything but HTTP and the commit.

    python bench/presence/cpu.py -n 1000 --rounds 20
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
import uvloop  # noqa: E402

from db import migrate  # noqa: E402
from db.embedded import start_embedded  # noqa: E402
from sipcore.presence import coalesce  # noqa: E402
from sipcore.presence.state import CallUpdate, Change, ExtensionState, apply  # noqa: E402
from sipcore.presence.subscription import Subscription, SubscriptionDialog  # noqa: E402
from sipcore.server.context import Target  # noqa: E402
from sipcore.server.presence.changes import parse_call_update  # noqa: E402
from sipcore.server.presence.model import LiveSub, Watched  # noqa: E402
from sipcore.server.presence.service import PresenceConfig, PresenceService  # noqa: E402
from sipcore.server.service import SipService  # noqa: E402

RESPONDER = r"""
import socket, sys
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
sock.bind(("127.0.0.1", 0))
print(sock.getsockname()[1], flush=True)
KEEP = (b"via:", b"v:", b"from:", b"f:", b"to:", b"t:", b"call-id:", b"i:", b"cseq:")
while True:
    data, peer = sock.recvfrom(65535)
    if data == b"quit":
        break
    head = data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]
    lines = [line for line in head if line.lower().startswith(KEEP)]
    sock.sendto(b"SIP/2.0 200 OK\r\n" + b"\r\n".join(lines)
                + b"\r\nContent-Length: 0\r\n\r\n", peer)
"""


def live_sub(index: int, port: int, extension_id: str) -> LiveSub:
    sub = Subscription(
        id=f"bench{index}",
        package="dialog",
        event_id=None,
        content_type="application/dialog-info+xml",
        extension_id=extension_id,
        customer_id="bench",
        entity="sip:102@sipfleet.test",
        profile="generic",
        dialog=SubscriptionDialog(
            call_id=f"{index:08x}bench@127.0.0.1",
            local_tag=f"l{index}",
            remote_tag=f"r{index}",
            local_uri="sip:102@sipfleet.test",
            remote_uri=f"sip:w{index}@sipfleet.test",
            remote_target=f"sip:w{index}@127.0.0.1:{port}",
            route_set=(),
            local_cseq=0,
            remote_cseq=1,
        ),
        expires_at=time.time() + 3600,
    )
    return LiveSub(
        sub=sub,
        phone_id=f"phone{index}",
        target=Target(transport="udp", host="127.0.0.1", port=port),
        via=("udp", "127.0.0.1", 5060),
        pacer=coalesce.Pacer(interval=0.0),
    )


async def run(uri: str, watchers: int, rounds: int, port: int) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from tests.support.sip_service import presence_sip_config as sip_test_config

    pool = await asyncpg.create_pool(uri, min_size=1, max_size=4)
    config = sip_test_config(timer_t1=0.5, timer_t2=4.0)
    config = dataclasses.replace(config, listeners=config.listeners[:1])
    sip = SipService(config, pool, None)
    await sip.start()
    presence = PresenceService(
        sip=sip,
        pool=pool,
        config=PresenceConfig(realm="sipfleet.test", node="bench", min_expires=1,
                              max_expires=3600, default_expires=3600, notify_min_interval=0),
    )  # fmt: skip
    extension_id = "00000000-0000-0000-0000-000000000102"
    watched = presence.watched[extension_id] = Watched(
        number="102", customer_id="bench", state=ExtensionState(extension_id=extension_id, seq=1)
    )
    for index in range(watchers):
        live = live_sub(index, port, extension_id)
        presence.subs[live.sub.id] = live
        watched.subs.add(live.sub.id)
    try:
        cpu = 0.0
        wall = 0.0
        for number in range(rounds + 1):  # round 0 warms up (first NOTIFY, caches)
            state = "confirmed" if number % 2 == 0 else "terminated"
            change: Change = CallUpdate(dialog=parse_call_update({"state": state}))
            new = apply(watched.state, change)
            assert new is not None
            new = dataclasses.replace(new, seq=watched.state.seq + 1)
            lives = list(presence.subs.values())
            before = [live.sub.version for live in lives]  # +1 per NOTIFY sent
            c0, w0 = time.process_time(), time.perf_counter()
            presence._apply_state(new)  # the fan-out may run at the next loop turn
            while any(
                live.pacer.in_flight or live.sub.version == version
                for live, version in zip(lives, before, strict=True)
            ):
                await asyncio.sleep(0.01)  # a cheap poll: its CPU counts too
            if number:
                cpu += time.process_time() - c0
                wall += time.perf_counter() - w0
        notifies = rounds * watchers
        return {
            "watchers": watchers,
            "rounds": rounds,
            "notifies": notifies,
            "cpu_us_per_notify": round(cpu / notifies * 1e6, 1),
            "wall_ms_per_round": round(wall / rounds * 1e3, 1),
        }
    finally:
        await sip.stop()
        await pool.close()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", "--watchers", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sf-blfcpu-"))
    pg = start_embedded(work / "pg")
    responder = subprocess.Popen(
        [sys.executable, "-c", RESPONDER], stdout=subprocess.PIPE, text=True
    )
    assert responder.stdout is not None
    port = int(responder.stdout.readline())
    try:

        async def prepare() -> None:
            conn = await asyncpg.connect(pg.uri)
            try:
                await migrate.upgrade(conn)
            finally:
                await conn.close()

        asyncio.run(prepare())
        result = uvloop.run(run(pg.uri, args.watchers, args.rounds, port))
        print(result)
        return 0
    finally:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as quit_sock:
            quit_sock.sendto(b"quit", ("127.0.0.1", port))
        responder.wait(timeout=5)
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
