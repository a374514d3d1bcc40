"""Fuzz benchmark: mutated SIP messages over UDP, TCP and WebSocket against a real
`sipfleet serve`, then what it made of them.

It starts `python -m provisioning serve` as a subprocess (its own data directory and
embedded PostgreSQL, `--workers` worker processes, UDP and TCP on one port, WebSocket at
/ws), creates `--phones` phones through the REST API, and sends `--messages` messages at
about `--rate` a second, split over UDP, TCP and WebSocket (`--mix`). Each message is a
seed — REGISTER (without credentials, with a valid digest of a real phone, unregister,
wildcard), SUBSCRIBE, PUBLISH with PIDF, OPTIONS, NOTIFY, INVITE/ACK/BYE/CANCEL, MESSAGE,
INFO, REFER, responses (some carrying a worker's branch mark), garbage (HTTP, TLS
hello, random bytes) — put through 0–5 random mutations: bit flips, inserted and deleted
bytes, duplicated, dropped and swapped lines, truncation, numbers replaced by extremes,
long values (up to 70 kB), wrong Content-Length, odd URIs (sips:, tel:, IPv6, escapes,
UTF-8), parameters repeated a thousand times, unbalanced quotes, bare LF or CR line ends,
another SIP version, two messages spliced. A credentialed seed is signed before it is
mutated, so mutations of its headers reach the registrar behind a passing digest check.

The report: Python tracebacks in the server's log (the target is 0) with each distinct
exception, ERROR lines, answers by status per transport, the server's RSS (supervisor and
each worker) before and after, whether /healthz still answers and a clean phone still
registers afterwards, and the server's own counters (parse errors, refused connections).

The server runs with `auth_failure_limit` set out of reach: the fuzzer sends from one
address, and a ban after ten bad digests would have it fuzz only the ban's drop path.

The report and the server's log go to `--out` (default
bench/out/fuzz/fuzz-<messages>-seed<seed>.md and .log; bench/out/ is not tracked by git).

    .venv/bin/python bench/fuzz/fuzz.py --messages 100000 --seed 30
    .venv/bin/python bench/fuzz/fuzz.py --messages 1000000 --rate 4000 --workers 2
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import re
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import psutil  # noqa: E402

from bench.fuzz.messages import REALM, Nonce, Phone, Seeds, mutate  # noqa: E402
from tests.support.processes import SipfleetProcess, start_sipfleet  # noqa: E402

ADMIN_TOKEN = "sft_fuzz-bench-admin-token"
# a status or request line at the start of a message: of a datagram or frame, or after
# the blank line ending the previous one on a stream (not a line inside a body)
STATUS = re.compile(rb"(?:^|\r\n\r\n)SIP/2\.0 (\d{3}) ")
REQUEST_LINE = re.compile(rb"(?:^|\r\n\r\n)([A-Z]+) (?:sips?|tel):[^ \r\n]* SIP/2\.0\r\n")


@dataclass
class Tally:
    sent: Counter[str] = field(default_factory=Counter)
    answers: Counter[tuple[str, str]] = field(default_factory=Counter)  # (transport, status)
    server_requests: Counter[str] = field(default_factory=Counter)
    reconnects: Counter[str] = field(default_factory=Counter)
    send_errors: Counter[str] = field(default_factory=Counter)

    def seen(self, transport: str, data: bytes, skip: int = 0) -> None:
        """Count the messages in `data`, but those ending within its first `skip` bytes
        (a stream's tail already counted with the chunk before)."""
        for match in STATUS.finditer(data):
            if match.end() > skip:
                self.answers[(transport, match.group(1).decode())] += 1
        for match in REQUEST_LINE.finditer(data):
            if match.end() > skip:
                self.server_requests[match.group(1).decode("latin-1")] += 1


# --- senders ----------------------------------------------------------------------------


class UdpReader(asyncio.DatagramProtocol):
    def __init__(self, tally: Tally) -> None:
        self.tally = tally

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.tally.seen("udp", data)

    def error_received(self, exc: Exception) -> None:
        pass


class Fuzzer:
    def __init__(
        self,
        args: argparse.Namespace,
        phones: list[Phone],
        port: int,
        http: str,
        memory: Callable[[], dict[str, float]] | None = None,
    ) -> None:
        self.args = args
        self.memory = memory
        self.samples: list[tuple[float, int, dict[str, float]]] = []  # (s, sent, RSS MB)
        self.rng = random.Random(args.seed)
        self.nonce = Nonce()
        self.seeds = Seeds(self.rng, phones, self.nonce)
        self.port = port
        self.http = http
        self.tally = Tally()

    async def refresh_nonce(self) -> None:
        """A fresh challenge, for the credentialed seeds (a nonce lives 300 s)."""
        loop = asyncio.get_running_loop()
        answers: asyncio.Queue[bytes] = asyncio.Queue()

        class Reader(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: Any) -> None:
                answers.put_nowait(data)

        transport, _ = await loop.create_datagram_endpoint(Reader, local_addr=("127.0.0.1", 0))
        try:
            local = f"127.0.0.1:{transport.get_extra_info('sockname')[1]}"
            phone = self.seeds.phones[0]
            lines = self.seeds._common("REGISTER", f"sip:{REALM}", "udp", local, phone.username)
            data = ("\r\n".join([*lines, "Content-Length: 0"]) + "\r\n\r\n").encode()
            for _ in range(5):
                transport.sendto(data, ("127.0.0.1", self.port))
                try:
                    answer = await asyncio.wait_for(answers.get(), 2)
                except TimeoutError:
                    continue
                found = re.search(rb'nonce="([^"]+)"', answer)
                algorithm = re.search(rb"algorithm=([A-Za-z0-9-]+)", answer)
                if found:
                    self.nonce.value = found.group(1).decode()
                    self.nonce.algorithm = algorithm.group(1).decode() if algorithm else "MD5"
                    self.nonce.nc = 0
                    self.nonce.fetched = time.monotonic()
                    return
        finally:
            transport.close()

    def next_message(self, transport: str, local: str) -> bytes:
        return mutate(self.rng, self.seeds.message(transport, local))

    async def run(self) -> None:
        args = self.args
        await self.refresh_nonce()
        shares = [float(x) for x in args.mix.split(",")]
        total = sum(shares)
        counts = [int(args.messages * share / total) for share in shares]
        counts[0] += args.messages - sum(counts)
        rates = [args.rate * share / total for share in shares]
        started = time.monotonic()
        loop = asyncio.get_running_loop()
        helpers = [loop.create_task(self._progress(started)), loop.create_task(self._nonces())]
        try:
            await asyncio.gather(
                self._udp(counts[0], rates[0]),
                self._tcp(counts[1], rates[1]),
                self._ws(counts[2], rates[2]),
            )
        finally:
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)

    async def _nonces(self) -> None:
        while True:
            await asyncio.sleep(5)
            if time.monotonic() - self.nonce.fetched > 60:
                with contextlib.suppress(OSError):
                    await self.refresh_nonce()

    async def _progress(self, started: float) -> None:
        while True:
            await asyncio.sleep(10)
            sent = sum(self.tally.sent.values())
            answered = sum(self.tally.answers.values())
            memory = self.memory() if self.memory is not None else {}
            elapsed = time.monotonic() - started
            self.samples.append((elapsed, sent, memory))
            print(
                f"  {elapsed:6.0f} s: sent {sent:,} ({dict(self.tally.sent)}), "
                f"answers {answered:,}, RSS MB "
                + ", ".join(f"{value:.1f}" for value in memory.values()),
                flush=True,
            )

    async def _paced(self, count: int, rate: float, send: Callable[[], Any]) -> None:
        """Call `send` `count` times at about `rate` a second (in 10 ms slices)."""
        if count <= 0:
            return
        begun = time.monotonic()
        done = 0
        while done < count:
            due = min(count, int((time.monotonic() - begun) * rate) + 1)
            while done < due:
                result = send()
                if asyncio.iscoroutine(result):
                    await result
                done += 1
            await asyncio.sleep(0.01)

    async def _udp(self, count: int, rate: float) -> None:
        loop = asyncio.get_running_loop()
        sockets = []
        for _ in range(16):
            transport, _ = await loop.create_datagram_endpoint(
                lambda: UdpReader(self.tally), local_addr=("127.0.0.1", 0)
            )
            sockets.append(transport)
        target = ("127.0.0.1", self.port)

        def send() -> None:
            transport = self.rng.choice(sockets)
            local = f"127.0.0.1:{transport.get_extra_info('sockname')[1]}"
            data = self.next_message("udp", local)[:65000]
            try:
                transport.sendto(data, target)
                self.tally.sent["udp"] += 1
            except OSError:
                self.tally.send_errors["udp"] += 1

        try:
            await self._paced(count, rate, send)
            await asyncio.sleep(2)  # late answers
        finally:
            for transport in sockets:
                transport.close()

    async def _tcp(self, count: int, rate: float) -> None:
        connections: list[Any] = [None] * 16
        readers: list[asyncio.Task[None] | None] = [None] * 16

        async def read(reader: asyncio.StreamReader) -> None:
            tail = b""
            with contextlib.suppress(ConnectionError, OSError):
                while chunk := await reader.read(65536):
                    self.tally.seen("tcp", tail + chunk, skip=len(tail))
                    tail = (tail + chunk)[-64:]

        async def send() -> None:
            slot = self.rng.randrange(len(connections))
            writer = connections[slot]
            if writer is None or writer.is_closing():
                if writer is not None:
                    self.tally.reconnects["tcp"] += 1
                try:
                    reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
                except OSError:
                    self.tally.send_errors["tcp"] += 1
                    return
                connections[slot] = writer
                readers[slot] = asyncio.get_running_loop().create_task(read(reader))
            local = f"127.0.0.1:{writer.get_extra_info('sockname')[1]}"
            writer.write(self.next_message("tcp", local))
            self.tally.sent["tcp"] += 1
            if writer.transport.get_write_buffer_size() > 1 << 20:
                try:
                    await asyncio.wait_for(writer.drain(), 5)
                except (TimeoutError, ConnectionError):
                    writer.close()

        try:
            await self._paced(count, rate, send)
            await asyncio.sleep(2)
        finally:
            for writer in connections:
                if writer is not None:
                    writer.close()
            for task in readers:
                if task is not None:
                    task.cancel()

    async def _ws(self, count: int, rate: float) -> None:
        session = aiohttp.ClientSession()
        sockets: list[Any] = [None] * 8
        readers: list[asyncio.Task[None] | None] = [None] * 8

        async def read(ws: Any) -> None:
            with contextlib.suppress(Exception):
                async for message in ws:
                    data = message.data
                    if isinstance(data, str):
                        data = data.encode("utf-8", "replace")
                    if isinstance(data, bytes):
                        self.tally.seen("ws", data)

        async def send() -> None:
            slot = self.rng.randrange(len(sockets))
            ws = sockets[slot]
            if ws is None or ws.closed:
                if ws is not None:
                    self.tally.reconnects["ws"] += 1
                try:
                    ws = await session.ws_connect(f"{self.http}/ws", protocols=("sip",))
                except (aiohttp.ClientError, OSError) as exc:
                    self.tally.send_errors[f"ws connect {type(exc).__name__}"] += 1
                    return
                sockets[slot] = ws
                readers[slot] = asyncio.get_running_loop().create_task(read(ws))
            data = self.next_message("ws", "fuzz.invalid")
            try:
                if self.rng.random() < 0.7:
                    await ws.send_str(data.decode("utf-8", "replace"))
                else:
                    await ws.send_bytes(data)
                self.tally.sent["ws"] += 1
            except (ConnectionError, RuntimeError, aiohttp.ClientError) as exc:
                self.tally.send_errors[f"ws {type(exc).__name__}"] += 1
                await ws.close()

        try:
            await self._paced(count, rate, send)
            await asyncio.sleep(2)
        finally:
            for ws in sockets:
                if ws is not None:
                    with contextlib.suppress(Exception):
                        await ws.close()
            for task in readers:
                if task is not None:
                    task.cancel()
            await session.close()


# --- the server -------------------------------------------------------------------------


def server_processes(service: SipfleetProcess) -> dict[str, psutil.Process]:
    out = {"supervisor": psutil.Process(service.process.pid)}
    for child in out["supervisor"].children():
        with contextlib.suppress(psutil.NoSuchProcess):
            line = " ".join(child.cmdline())
            if "provisioning.app.workers" in line:
                out[f"worker pid {child.pid}"] = child
    return out


def rss(service: SipfleetProcess) -> dict[str, float]:
    out = {}
    for name, process in server_processes(service).items():
        with contextlib.suppress(psutil.NoSuchProcess):
            out[name] = process.memory_info().rss / 1e6
    return out


async def api(session: aiohttp.ClientSession, base: str, method: str, path: str, body: Any) -> Any:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with session.request(method, base + path, json=body, headers=headers) as response:
        data = await response.json(content_type=None)
        if response.status >= 300:
            raise SystemExit(f"{method} {path}: {response.status} {data}")
        return data


async def create_phones(base: str, count: int) -> list[Phone]:
    phones = []
    async with aiohttp.ClientSession() as session:
        customer = await api(session, base, "POST", "/api/customers", {"name": "Fuzz"})
        for n in range(count):
            ext = await api(
                session, base, "POST", "/api/extensions",
                {"customer": customer["_id"], "number": str(100 + n), "name": f"Fuzz {n}"},
            )  # fmt: skip
            phone = await api(
                session, base, "PUT", "/api/pbx/sipphone",
                {
                    "customer": customer["_id"], "sipPhoneModel": "yealink-t54w",
                    "macAddress": f"805EC0{n:06X}", "extension": ext["_id"],
                    "ip": {"mode": "OPEN"},
                },
            )  # fmt: skip
            phones.append(Phone(phone["username"], phone["password"]))
    return phones


async def clean_register(port: int, phone: Phone) -> int | None:
    """One ordinary registration after the storm: its final status."""
    sys.path.insert(0, str(ROOT))
    from tests.support.sip_client import SipClient

    client = await SipClient(server=("127.0.0.1", port)).open()
    try:
        answer = await client.register(phone.username, phone.password, expires=60)
        return None if answer is None else answer.status
    finally:
        client.close()


def tracebacks(log: str) -> tuple[int, Counter[str], dict[str, str]]:
    """Tracebacks in a log: how many, each distinct final line's count, an example each."""
    lines = log.splitlines()
    kinds: Counter[str] = Counter()
    examples: dict[str, str] = {}
    total = 0
    for index, line in enumerate(lines):
        if not line.startswith("Traceback (most recent call last)"):
            continue
        total += 1
        end = index + 1
        while end < len(lines) and (lines[end].startswith((" ", "\t")) or not lines[end]):
            end += 1
        last = lines[end] if end < len(lines) else "?"
        kinds[last] += 1
        examples.setdefault(last, "\n".join(lines[max(0, index - 1) : end + 1]))
    return total, kinds, examples


def metric_sum(text: str, name: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for match in re.finditer(rf"^{name}(\{{[^}}]*\}})? (\S+)$", text, re.M):
        out[match.group(1) or ""] = out.get(match.group(1) or "", 0.0) + float(match.group(2))
    return out


async def fetch_text(url: str) -> tuple[int, str]:
    try:
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            return response.status, await response.text()
    except (aiohttp.ClientError, OSError) as exc:
        return 0, str(exc)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=4000, help="messages a second in all")
    parser.add_argument("--mix", default="60,25,15", help="shares of UDP, TCP, WebSocket")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--phones", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--out",
        help="the report (markdown; the server log beside it, .log) "
        "(default: bench/out/fuzz/fuzz-<messages>-seed<seed>.md)",
    )
    args = parser.parse_args()
    if not args.out:
        args.out = str(ROOT / "bench/out/fuzz" / f"fuzz-{args.messages}-seed{args.seed}.md")

    data_dir = Path(tempfile.mkdtemp(prefix="sipfleet-fuzz-"))
    env = {
        "SIPFLEET_WORKERS": str(args.workers),
        "SIPFLEET_ADMIN_TOKEN": ADMIN_TOKEN,
        "SIPFLEET_AUTH_FAILURE_LIMIT": "1000000000",
        "SIPFLEET_LOG_LEVEL": "info",
    }
    from tests.support.processes import free_port

    service = await asyncio.to_thread(
        start_sipfleet, data_dir / "data", env=env, http_port=free_port(), sip_port=free_port()
    )
    report: list[str] = []
    main_task = asyncio.current_task()
    assert main_task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    try:
        base = service.base_url
        phones = await create_phones(base, args.phones + 1)
        spare = phones.pop()  # never fuzzed: registers cleanly at the end
        await asyncio.sleep(1)
        before = rss(service)
        print(f"server up (pid {service.process.pid}), RSS before: {before}", flush=True)
        fuzzer = Fuzzer(args, phones, service.sip_port, base, lambda: rss(service))
        started = time.monotonic()
        await fuzzer.run()
        elapsed = time.monotonic() - started
        await asyncio.sleep(3)
        after = rss(service)
        health, _ = await fetch_text(base + "/healthz")
        registered = await clean_register(service.sip_port, spare)
        _, metrics = await fetch_text(base + "/metrics")
    finally:
        service.stop()
    log = service.log()
    total, kinds, examples = tracebacks(log)
    errors = [line for line in log.splitlines() if " ERROR " in line]
    tally = fuzzer.tally
    sent = sum(tally.sent.values())
    report.append(f"# sipfleet fuzz run, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    report.append("")
    report.append(
        f"{sent:,} messages in {elapsed:.0f} s ({sent / elapsed:,.0f}/s): "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(tally.sent.items()))
        + f"; workers {args.workers}, seed {args.seed}, mix {args.mix}, {args.phones} phones"
    )
    report.append(f"- tracebacks in the server log: **{total}**")
    for line, count in kinds.most_common():
        report.append(f"  - {count} × `{line}`")
    report.append(f"- ERROR lines in the server log: {len(errors)}")
    for line in errors[:10]:
        report.append(f"  - `{line[:200]}`")
    by_status: dict[str, Counter[str]] = {}
    for (transport, status), count in tally.answers.items():
        by_status.setdefault(status, Counter())[transport] += count
    report.append(f"- answers: {sum(tally.answers.values()):,}")
    report.append("")
    report.append("| status | udp | tcp | ws | total |")
    report.append("|---|---|---|---|---|")
    for status in sorted(by_status):
        row = by_status[status]
        report.append(
            f"| {status} | {row['udp']:,} | {row['tcp']:,} | {row['ws']:,} | "
            f"{sum(row.values()):,} |"
        )
    report.append("")
    report.append(f"- requests the server sent to the fuzzer: {dict(tally.server_requests)}")
    report.append(
        f"- reconnections (server closed the stream): {dict(tally.reconnects)}; "
        f"send errors: {dict(tally.send_errors)}"
    )
    report.append(
        "- RSS before → after (MB): "
        + "; ".join(
            f"{name} {before.get(name, 0):.1f} → {after.get(name, 0):.1f}" for name in after
        )
    )
    report.append(f"- /healthz after: {health}; a clean REGISTER after: {registered}")
    if fuzzer.samples:
        step = max(1, len(fuzzer.samples) // 8)
        report.append(
            "- RSS during the run (MB, supervisor and workers): "
            + "; ".join(
                f"{sent:,} sent: " + "/".join(f"{value:.0f}" for value in memory.values())
                for _, sent, memory in fuzzer.samples[::step]
            )
        )
    for name in (
        "sipfleet_sip_parse_errors_total",
        "sipfleet_sip_connections_refused_total",
        "sipfleet_sip_overload_shed_total",
    ):
        values = metric_sum(metrics, name)
        report.append(f"- {name} (the worker that answered /metrics): {json.dumps(values)}")
    text = "\n".join(report) + "\n"
    if examples:
        text += "\n## First traceback of each kind\n\n"
        for example in examples.values():
            text += f"```\n{example}\n```\n\n"
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)
        log_copy = Path(args.out).with_suffix(".log")
        log_copy.write_text(log)
        print(f"report: {args.out}, server log: {log_copy}")


if __name__ == "__main__":
    try:
        import uvloop
    except ImportError:
        asyncio.run(main())
    else:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(main())
