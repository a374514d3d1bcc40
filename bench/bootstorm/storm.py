#!/usr/bin/env python3
"""Boot-storm load client: phones coming back after a power cut, each doing what a Yealink
T54W does on boot, from its own source address and port.

For each phone, at its start time (phone i of the whole fleet starts at T0 + i / rate):
1. HTTP GET of the common file (`y000000000096.cfg`: a T54W runs firmware family 96),
   then of its per-MAC file (`<mac>.cfg`), each on a new TCP connection from the phone's
   address, with its own User-Agent (`Yealink SIP-T54W 96.86.0.100 00:15:65:xx:xx:xx`);
2. reads account.1.user_name / password / sip_server.1.address / port / expires from the
   fetched file (it knows nothing else about itself);
3. REGISTERs over UDP from its own socket (its address, a port of its own): REGISTER,
   401 (it picks the MD5 challenge), REGISTER with credentials, 200.
Then it stays up and answers OPTIONS keep-alives with 200 until SIGTERM.

As a phone does, it retransmits an unanswered REGISTER (RFC 3261 timer E: 0.5 s doubling
to 4 s; timer F: gives up the transaction after 32 s and retries after
--reg-retry seconds), honours 503 + Retry-After (and 429/503 on HTTP) by trying again
after that many seconds, and retries a refused registration (403, a second 401) after
--reg-retry seconds. Everything is counted by kind.

Phones of the fleet are shared among --slice k/K client processes (phone i to process
i mod K), each scheduling its own phones on the same T0 so together they start `rate`
phones a second. Source addresses: phone i uses 127.0.A.B, the (i mod --addresses)-th
address from 127.0.1.1 on (a building's NATs: several phones per address).

Writes --out (JSON): per-phone times and counters, and the process's own CPU seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import re
import resource
import secrets
import signal
import socket
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.common.phones import YEALINK_UA, yealink_user_agent

IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)
T1, T2, TIMER_F = 0.5, 4.0, 32.0


def address(n: int) -> str:
    """The n-th source address: 127.0.1.1, 127.0.1.2, … 127.0.1.250, 127.0.2.1, …"""
    return f"127.0.{1 + n // 250}.{1 + n % 250}"


# ------------------------------------------------------------------------------- HTTP
class HttpResult(Exception):
    """A fetch that did not answer 200: kind ('http_503', 'http_timeout', …), wait."""

    def __init__(self, kind: str, retry_after: float | None = None) -> None:
        super().__init__(kind)
        self.kind = kind
        self.retry_after = retry_after


class _HttpProtocol(asyncio.Protocol):
    def __init__(self, done: asyncio.Future[tuple[int, dict[str, str], bytes]]) -> None:
        self.done = done
        self.buf = bytearray()
        self.head: tuple[int, dict[str, str]] | None = None
        self.length = -1
        self.body_at = 0

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.head is None:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = self.buf[:end].decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            self.head = (status, headers)
            self.body_at = end + 4
            self.length = int(headers.get("content-length", "-1"))
        if (
            self.length >= 0
            and len(self.buf) - self.body_at >= self.length
            and not self.done.done()
        ):
            body = bytes(self.buf[self.body_at : self.body_at + self.length])
            self.done.set_result((self.head[0], self.head[1], body))

    def eof_received(self) -> bool | None:
        self._finish()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._finish(exc)

    def _finish(self, exc: Exception | None = None) -> None:
        if self.done.done():
            return
        if self.head is not None and self.length < 0:  # body up to EOF
            self.done.set_result((self.head[0], self.head[1], bytes(self.buf[self.body_at :])))
        else:
            self.done.set_exception(exc or ConnectionResetError("closed before the answer"))


async def http_get(
    local_ip: str, server: tuple[str, int], path: str, user_agent: str, timeout: float
) -> bytes:
    """GET on a new connection from local_ip (port chosen at connect time); the body of a
    200, else HttpResult."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    transport = None
    try:
        sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        sock.setblocking(False)
        sock.bind((local_ip, 0))
        done: asyncio.Future[tuple[int, dict[str, str], bytes]] = loop.create_future()
        async with asyncio.timeout(timeout):
            await loop.sock_connect(sock, server)
            transport, _ = await loop.create_connection(lambda: _HttpProtocol(done), sock=sock)
            transport.write(
                (
                    f"GET {path} HTTP/1.1\r\nHost: {server[0]}:{server[1]}\r\n"
                    f"User-Agent: {user_agent}\r\nAccept: */*\r\nConnection: close\r\n\r\n"
                ).encode()
            )
            status, headers, body = await done
    except TimeoutError:
        raise HttpResult("http_timeout") from None
    except OSError as error:
        raise HttpResult(f"http_{type(error).__name__}") from None
    finally:
        if transport is not None:
            transport.close()
        else:
            sock.close()
    if status == 200:
        return body
    wait = headers.get("retry-after")
    raise HttpResult(f"http_{status}", float(wait) if wait and wait.isdigit() else None)


# ------------------------------------------------------------------------------- SIP
def md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


_PARAM = re.compile(r'([A-Za-z-]+)\s*=\s*(?:"([^"]*)"|([^,\s]+))')


def challenge_params(value: str) -> dict[str, str]:
    return {k.lower(): a or b for k, a, b in _PARAM.findall(value)}


def parse_sip(data: bytes) -> tuple[str, dict[str, list[str]]]:
    head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    lines = head.split("\r\n")
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return lines[0], headers


class _SipProtocol(asyncio.DatagramProtocol):
    def __init__(self, phone: Phone) -> None:
        self.phone = phone

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.phone.received(data, addr)


@dataclass
class Phone:
    index: int
    mac: str
    local_ip: str
    start: float  # wall-clock start time
    stats: Counter[str] = field(default_factory=Counter)
    times: dict[str, float] = field(default_factory=dict)
    transport: asyncio.DatagramTransport | None = None
    waiting: asyncio.Future[tuple[str, dict[str, list[str]]]] | None = None
    branch: str = ""
    options_answered: int = 0

    @property
    def user_agent(self) -> str:
        """What a T54W sends on its provisioning fetches: model, firmware, its MAC."""
        return yealink_user_agent(self.mac)

    #: what it sends in SIP (no MAC there: provisioning.gate.identity)
    sip_user_agent = YEALINK_UA

    def received(self, data: bytes, addr: tuple[str, int]) -> None:
        if data.startswith(b"SIP/2.0 "):
            start, headers = parse_sip(data)
            via = headers.get("via", [""])[0]
            if self.branch and f"branch={self.branch}" not in via:
                self.stats["sip_stray_response"] += 1
                return
            if start.split()[1].startswith("1"):
                self.stats["sip_provisional"] += 1
                if self.waiting is not None and not self.waiting.done():
                    self.stats["_provisional_now"] = 1
                return
            if self.waiting is not None and not self.waiting.done():
                self.waiting.set_result((start, headers))
            else:
                self.stats["sip_duplicate_response"] += 1
        elif data.startswith(b"OPTIONS ") or data.startswith(b"NOTIFY "):
            self.answer(data, addr)
        elif data.strip():
            self.stats["sip_other_request"] += 1

    def answer(self, data: bytes, addr: tuple[str, int]) -> None:
        """200 OK to an in- or out-of-dialog request (keep-alive OPTIONS, check-sync)."""
        head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace").split("\r\n")
        keep = ("via", "v", "from", "f", "to", "t", "call-id", "i", "cseq")
        lines = ["SIP/2.0 200 OK"]
        for line in head[1:]:
            name = line.partition(":")[0].strip().lower()
            if name in keep:
                if name in ("to", "t") and ";tag=" not in line:
                    line += f";tag={secrets.token_hex(4)}"
                lines.append(line)
        lines += [f"User-Agent: {self.sip_user_agent}", "Content-Length: 0", "", ""]
        assert self.transport is not None
        self.transport.sendto("\r\n".join(lines).encode(), addr)
        self.options_answered += 1


async def transaction(phone: Phone, build: Any) -> tuple[str, dict[str, list[str]]] | None:
    """One non-INVITE client transaction over UDP (RFC 3261 §17.1.2): the final answer,
    or None after timer F. Retransmissions run on timer callbacks (no task per wait)."""
    loop = asyncio.get_running_loop()
    phone.branch = "z9hG4bK" + secrets.token_hex(8)
    data = build(phone.branch)
    transport = phone.transport
    assert transport is not None
    waiting: asyncio.Future[tuple[str, dict[str, list[str]]] | None] = loop.create_future()
    phone.waiting = waiting  # type: ignore[assignment]
    phone.stats.pop("_provisional_now", None)
    began = loop.time()
    interval = T1
    timer: asyncio.TimerHandle | None = None

    def retransmit() -> None:
        nonlocal interval, timer
        if waiting.done():
            return
        if loop.time() - began >= TIMER_F - 1e-3:
            waiting.set_result(None)
            return
        phone.stats["sip_retransmissions"] += 1
        transport.sendto(data)
        interval = T2 if phone.stats.get("_provisional_now") else min(interval * 2, T2)
        timer = loop.call_at(min(loop.time() + interval, began + TIMER_F), retransmit)

    transport.sendto(data)
    timer = loop.call_at(began + interval, retransmit)
    try:
        return await waiting
    finally:
        phone.waiting = None
        if timer is not None:
            timer.cancel()


async def boot(phone: Phone, args: argparse.Namespace, deadline: float) -> None:
    """Fetch both files, read the account, register; record when it got there."""
    loop = asyncio.get_running_loop()
    http = (args.http_host, args.http_port)
    files = [f"/prov/{args.common_file}", f"/prov/{phone.mac.lower()}.cfg"]
    bodies = []
    for path in files:
        while True:
            if time.time() > deadline:
                phone.stats["gave_up"] += 1
                return
            phone.stats["http_requests"] += 1
            try:
                bodies.append(
                    await http_get(phone.local_ip, http, path, phone.user_agent, args.http_timeout)
                )
                break
            except HttpResult as result:
                phone.stats[result.kind] += 1
                await asyncio.sleep(
                    result.retry_after if result.retry_after is not None else args.http_retry
                )
    phone.times["fetched"] = time.time()
    config = dict(
        (k.strip(), v.strip())
        for k, _, v in (line.partition("=") for line in bodies[1].decode().splitlines())
        if _
    )
    try:
        user = config["account.1.user_name"]
        auth_name = config.get("account.1.auth_name", user)
        password = config["account.1.password"]
        server = (
            config["account.1.sip_server.1.address"],
            int(config["account.1.sip_server.1.port"]),
        )
        expires = int(config.get("account.1.sip_server.1.expires", "3600"))
    except (KeyError, ValueError):
        phone.stats["config_without_account"] += 1
        return
    if config.get("account.1.sip_server.1.transport_type", "0") != "0":
        phone.stats["config_not_udp"] += 1
        return

    phone.transport, _ = await loop.create_datagram_endpoint(
        lambda: _SipProtocol(phone), local_addr=(phone.local_ip, 0), remote_addr=server
    )
    port = phone.transport.get_extra_info("sockname")[1]
    host = server[0] if server[1] == 5060 else f"{server[0]}:{server[1]}"
    uri = f"sip:{host}"
    call_id = f"{secrets.token_hex(8)}@{phone.local_ip}"
    tag = secrets.token_hex(5)
    cseq = 0
    label = config.get("account.1.display_name", "")

    def request(auth: str | None) -> Any:
        nonlocal cseq
        cseq += 1
        number = cseq

        def build(branch: str) -> bytes:
            lines = [
                f"REGISTER {uri} SIP/2.0",
                f"Via: SIP/2.0/UDP {phone.local_ip}:{port};branch={branch};rport",
                f'From: "{label}" <sip:{user}@{host}>;tag={tag}',
                f'To: "{label}" <sip:{user}@{host}>',
                f"Call-ID: {call_id}",
                f"CSeq: {number} REGISTER",
                f"Contact: <sip:{user}@{phone.local_ip}:{port}>",
                "Max-Forwards: 70",
                f"User-Agent: {phone.sip_user_agent}",
                f"Expires: {expires}",
                "Allow: INVITE, INFO, PRACK, ACK, BYE, CANCEL, OPTIONS, NOTIFY, REGISTER, "
                "SUBSCRIBE, REFER, PUBLISH, UPDATE, MESSAGE",
            ]
            if auth:
                lines.append(f"Authorization: {auth}")
            lines += ["Content-Length: 0", "", ""]
            return "\r\n".join(lines).encode()

        return build

    auth: str | None = None
    while True:
        if time.time() > deadline:
            phone.stats["gave_up"] += 1
            return
        phone.stats["sip_requests"] += 1
        answer = await transaction(phone, request(auth))
        if answer is None:
            phone.stats["sip_timeout"] += 1
            auth = None
            await asyncio.sleep(args.reg_retry)
            continue
        start, headers = answer
        code = int(start.split()[1])
        if code == 200:
            phone.times["online"] = time.time()
            return
        if code == 401:
            challenges = [challenge_params(v) for v in headers.get("www-authenticate", [])]
            md5s = [c for c in challenges if c.get("algorithm", "MD5").upper() == "MD5"]
            chosen = md5s[0] if md5s else None
            if auth is None or (chosen is not None and chosen.get("stale", "").lower() == "true"):
                phone.stats["sip_401_challenge"] += 1
                if chosen is None:
                    phone.stats["sip_401_no_md5"] += 1
                    return
                cnonce = secrets.token_hex(8)
                ha1 = md5(f"{auth_name}:{chosen['realm']}:{password}")
                ha2 = md5(f"REGISTER:{uri}")
                response = md5(f"{ha1}:{chosen['nonce']}:00000001:{cnonce}:auth:{ha2}")
                auth = (
                    f'Digest username="{auth_name}", realm="{chosen["realm"]}", '
                    f'nonce="{chosen["nonce"]}", uri="{uri}", response="{response}", '
                    f'algorithm=MD5, cnonce="{cnonce}", qop=auth, nc=00000001'
                )
                continue
            phone.stats["sip_401_refused"] += 1  # credentials refused
        elif code == 503:
            wait = headers.get("retry-after", [""])[0].split(";")[0].strip()
            phone.stats["sip_503"] += 1
            if wait.isdigit():
                phone.stats["sip_503_retry_after"] += 1
                auth = None
                await asyncio.sleep(int(wait))
                continue
        else:
            phone.stats[f"sip_{code}"] += 1
        auth = None
        await asyncio.sleep(args.reg_retry)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--phones", required=True, help="fleet.py's TSV (the MAC column is used)")
    parser.add_argument("--slice", default="0/1", help="k/K: this process takes phones i ≡ k mod K")
    parser.add_argument(
        "--rate", type=float, required=True, help="new phones a second (whole fleet)"
    )
    parser.add_argument("--t0", type=float, required=True, help="wall-clock start of phone 0")
    parser.add_argument("--addresses", type=int, default=50)
    parser.add_argument("--http-host", default="127.0.0.1")
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--common-file", default="y000000000096.cfg")
    parser.add_argument("--http-timeout", type=float, default=10.0)
    parser.add_argument("--http-retry", type=float, default=5.0)
    parser.add_argument("--reg-retry", type=float, default=30.0, help="after a refused REGISTER")
    parser.add_argument(
        "--max-seconds", type=float, default=180.0, help="after its own start, a phone gives up"
    )
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    k, n = (int(x) for x in args.slice.split("/"))
    macs = [line.split("\t", 1)[0] for line in Path(args.phones).read_text().splitlines() if line]
    phones = [
        Phone(i, mac, address(i % args.addresses), args.t0 + i / args.rate)
        for i, mac in enumerate(macs)
        if i % n == k
    ]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    tasks = []
    late = []  # how late each phone was started against its schedule (the client's own lag)
    for phone in phones:
        delay = phone.start - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        late.append(time.time() - phone.start)
        phone.times["started"] = time.time()
        tasks.append(loop.create_task(boot(phone, args, phone.start + args.max_seconds)))
    await asyncio.gather(*tasks)
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    totals: Counter[str] = Counter()
    for phone in phones:
        totals.update({k: v for k, v in phone.stats.items() if not k.startswith("_")})
    late.sort()
    result: dict[str, Any] = {
        "slice": args.slice,
        "phones": len(phones),
        "online": sum("online" in p.times for p in phones),
        # keep-alive OPTIONS the phones already online answered while the others booted
        "options_answered": sum(p.options_answered for p in phones),
        "counts": dict(sorted(totals.items())),
        "client_cpu_s": round(ru1.ru_utime + ru1.ru_stime - ru0.ru_utime - ru0.ru_stime, 3),
        "start_lag_ms": {
            "p50": round(1000 * late[len(late) // 2], 1) if late else None,
            "p99": round(1000 * late[int(len(late) * 0.99)], 1) if late else None,
            "max": round(1000 * late[-1], 1) if late else None,
        },
        "per_phone": [
            [p.index, p.mac, p.local_ip, round(p.start, 4)]
            + [round(p.times.get(k, 0.0), 4) for k in ("started", "fetched", "online")]
            + [{k: v for k, v in p.stats.items() if not k.startswith("_")}]
            for p in phones
        ],
    }
    tmp = Path(args.out + ".tmp")
    tmp.write_text(json.dumps(result))
    os.replace(tmp, args.out)
    print(
        f"client {args.slice}: {result['online']}/{len(phones)} online, "
        f"{result['client_cpu_s']} CPU s, counts {result['counts']}",
        file=sys.stderr,
    )
    # stay up as phones do: answer keep-alive OPTIONS until told to stop
    await stop.wait()
    for phone in phones:
        if phone.transport is not None:
            phone.transport.close()
    print(
        f"client {args.slice}: answered {sum(p.options_answered for p in phones)} OPTIONS",
        file=sys.stderr,
    )


if __name__ == "__main__":
    try:
        import uvloop
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())
