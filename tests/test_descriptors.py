"""File descriptors, with `sipfleet serve` as a real process started under a small open
files limit (256, hard): the start-up log says the limit; a flood of SIP connections
from several addresses — more than the limit — is turned away at the SIP door (per
address, then the process's budget, both counted in /metrics) and /healthz keeps
answering 200 throughout; when the descriptors do run out (idle HTTP connections, which
the SIP budget does not ration), a SIP listener's failing accept() is logged once per
interval rather than once per attempt, and the listener serves again afterwards."""

from __future__ import annotations

import asyncio
import os
import re
import resource
import socket
import time
import urllib.request
from pathlib import Path

from tests.support.processes import SipfleetProcess, start_sipfleet

LIMIT = 256
ADDRESSES = [f"127.0.0.{n}" for n in range(1, 7)]


def _small_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (LIMIT // 4, LIMIT))  # soft raised at start


async def _start(tmp_path: Path, database_url: str) -> SipfleetProcess:
    env = {"SIPFLEET_DATABASE_URL": database_url, "SIPFLEET_SIP_CONNECTIONS_PER_ADDRESS": "64"}
    return await asyncio.to_thread(
        start_sipfleet, tmp_path / "data", env=env, preexec_fn=_small_limit
    )


def _get(service: SipfleetProcess, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(service.base_url + path, timeout=5) as response:
            return response.status, response.read().decode()
    except OSError as exc:
        return 0, str(exc)


def _open_many(port: int, addresses: list[str], each: int) -> list[socket.socket]:
    held = []
    for address in addresses:
        for _ in range(each):
            sock = socket.socket()
            sock.settimeout(2)
            try:
                sock.bind((address, 0))
                sock.connect(("127.0.0.1", port))
            except OSError:
                sock.close()  # turned away before connect returned (a reset)
                continue
            held.append(sock)
    return held


def _open_files(service: SipfleetProcess) -> int:
    return len(os.listdir(f"/proc/{service.process.pid}/fd"))


def _options(port: int) -> bytes:
    request = (
        "OPTIONS sip:sipfleet.test SIP/2.0\r\n"
        "Via: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK-fd-1;rport\r\n"
        "From: <sip:probe@sipfleet.test>;tag=1\r\nTo: <sip:sipfleet.test>\r\n"
        "Call-ID: fd-probe\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request.encode())
        return sock.recv(200)


def _refused(metrics_text: str, reason: str) -> float:
    total = 0.0
    pattern = rf'^sipfleet_sip_connections_refused_total\{{[^}}]*reason="{reason}"[^}}]*\}} (\S+)$'
    for match in re.finditer(pattern, metrics_text, re.M):
        total += float(match.group(1))
    return total


async def test_healthz_answers_through_a_sip_connection_flood(
    tmp_path: Path, database_url: str
) -> None:
    service = await _start(tmp_path, database_url)
    held: list[socket.socket] = []
    try:
        assert f"open files limit {LIMIT} (hard limit {LIMIT})" in service.log()
        held = await asyncio.to_thread(_open_many, service.sip_port, ADDRESSES, 80)
        assert len(held) > LIMIT  # the kernel completed them; the server decides
        await asyncio.sleep(1)
        for _ in range(5):
            status, _ = await asyncio.to_thread(_get, service, "/healthz")
            assert status == 200
        status, text = await asyncio.to_thread(_get, service, "/metrics")
        assert status == 200
        assert _refused(text, "per_address") > 0  # 80 from one address, 64 allowed
        assert _refused(text, "total") > 0  # six addresses: more than the budget
        assert _open_files(service) < LIMIT
        for sock in held:
            sock.close()
        assert (await asyncio.to_thread(_options, service.sip_port)).startswith(b"SIP/2.0 200")
    finally:
        for sock in held:
            sock.close()
        service.stop()


async def test_running_out_is_logged_once_per_interval(tmp_path: Path, database_url: str) -> None:
    service = await _start(tmp_path, database_url)
    held: list[socket.socket] = []
    try:
        port = service.http_port
        held = await asyncio.to_thread(_open_many, port, ADDRESSES, 60)  # idle HTTP
        deadline = time.monotonic() + 10
        while _open_files(service) < LIMIT and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert _open_files(service) >= LIMIT - 1
        attempts = await asyncio.to_thread(_open_many, service.sip_port, ADDRESSES[:1], 40)
        await asyncio.sleep(1)
        for sock in attempts:
            sock.close()
        lines = [line for line in service.log().splitlines() if "out of file descriptors" in line]
        assert len(lines) == 1, lines  # once per interval, not once per attempt
        # said by the SIP accept that failed, or by the periodic check when it saw the idle
        # HTTP connections take the last descriptors first: one interval, one line
        assert "SIP connection(s) refused" in lines[0] or "connections fail" in lines[0], lines
        for sock in held:
            sock.close()
        deadline = time.monotonic() + 10
        while (await asyncio.to_thread(_get, service, "/healthz"))[0] != 200:
            assert time.monotonic() < deadline, "healthz did not come back"
            await asyncio.sleep(0.2)
        # the SIP listener did not give up: it serves again
        assert (await asyncio.to_thread(_options, service.sip_port)).startswith(b"SIP/2.0 200")
    finally:
        for sock in held:
            sock.close()
        service.stop()
