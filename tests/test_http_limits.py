"""Unauthenticated input never costs a 500 or a traceback: a real node (every component,
the service's own HTTP runner on a real socket) fed oversized request lines and headers,
garbage, deep JSON, oversized and broken bodies and undecodable credentials, on the API,
the dashboard and the provisioning file server. Each answer is a clean 4xx quoting nothing
of the request, and the log gets at most one INFO/DEBUG line for it, never a traceback."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from provisioning.app.service import running_node
from provisioning.config import Settings
from provisioning.credentials import SecretBox
from tests.support import factories
from tests.support.database import insert_token
from tests.support.processes import start_sipfleet

MARK = "zq7mark"  # in every probe: must come back in no answer and no log line
PATHS = ("/api/session", "/api/pbx/sipphone", "/", "/static/dashboard.js", "/prov/001565AA0001.cfg")


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Node:
    port: int
    admin: str
    phone_id: str


async def exchange(port: int, data: bytes, timeout: float = 10.0) -> Answer:
    """One raw request on a fresh connection, and its answer (by its Content-Length: a
    server refusing a body it did not read may keep the connection a while to drain it)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        with contextlib.suppress(ConnectionError):  # refused before all was read
            await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        lines = head.decode("latin-1").rstrip("\r\n").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        body = await asyncio.wait_for(reader.readexactly(length), timeout)
    finally:
        writer.close()
    return Answer(status, headers, body)


def request(
    method: str,
    path: str,
    headers: list[tuple[str, bytes | str]] | None = None,
    body: bytes = b"",
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: 127.0.0.1", b"Connection: close"]
    for name, value in headers or []:
        lines.append(name.encode() + b": " + (value.encode() if isinstance(value, str) else value))
    if body:
        lines.append(f"Content-Length: {len(body)}".encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


@pytest.fixture
async def node(
    pool: asyncpg.Pool[Any], settings: Settings, secret_box: SecretBox
) -> AsyncIterator[Node]:
    settings = dataclasses.replace(settings, metrics_token="sft_metrics_token_for_tests")
    async with pool.acquire() as conn:
        admin = await insert_token(conn, "ADMIN")
        customer = await factories.customer(conn)
        phone = await factories.phone(conn, customer, mac_address="001565AA0001")
    async with running_node(settings, pool, secret_box, None) as running:
        yield Node(port=running.http_port, admin=admin, phone_id=phone.id)


@pytest.fixture
def log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


def assert_quiet(records: list[logging.LogRecord], *secrets: str) -> None:
    """No ERROR or WARNING, no traceback, and nothing of the request in the log."""
    for record in records:
        assert record.levelno < logging.WARNING, record.getMessage()
        assert record.exc_info is None, record.getMessage()
        text = record.getMessage()
        for secret in (MARK, *secrets):
            assert secret not in text, text


def assert_clean(answer: Answer, status: int, message: str | None = None) -> None:
    assert answer.status == status, answer
    assert MARK.encode() not in answer.body
    assert answer.headers["content-type"].startswith("application/json")
    body = answer.json()
    assert body["code"] == status and isinstance(body["description"], str)
    if message is not None:
        assert body["message"] == message, body


async def test_oversized_request_lines_and_headers(node: Node, log: Any) -> None:
    long = MARK * 1300  # 9,100 bytes: over 8 KiB
    for path in PATHS:
        answer = await exchange(node.port, request("GET", path + "?" + long))
        assert_clean(answer, 400, "request_line")
        for name in ("X-Long", "Cookie", "Authorization", "User-Agent"):
            answer = await exchange(node.port, request("GET", path, [(name, long)]))
            assert_clean(answer, 431, "headers")
        many = [(f"X-{MARK}-{i}", "1") for i in range(200)]
        answer = await exchange(node.port, request("GET", path, many))
        assert_clean(answer, 431, "headers")
    refused = [r for r in log.records if "refused" in r.getMessage()]
    assert len(refused) == len(PATHS) * 6  # one line each
    assert all(r.levelno == logging.INFO for r in refused)
    assert_quiet(log.records)


async def test_malformed_requests(node: Node, log: Any) -> None:
    probes = [
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + MARK.encode() + b"\r\n\r\n",  # TLS
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: " + MARK.encode() + b"\r\n\r\n",
        b"GET /prov/001565AA0001.cfg HTTP/1.1\r\nHost: x\r\nX-" + MARK.encode() + b": \x00\r\n\r\n",
        b"POST /api/session HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n"
        + MARK.encode(),
        b"GET /" + MARK.encode() + b" HTTP/9.9\r\n\r\n",
    ]
    for probe in probes:
        answer = await exchange(node.port, probe)
        assert_clean(answer, 400, "request")
    assert_quiet(log.records)


async def test_deep_json_is_a_clear_400(node: Node, log: Any) -> None:
    for body in (b"[" * 1000 + b"]" * 1000, b'{"a":' * 5000 + b"1" + b"}" * 5000, b"[" * 100_000):
        answer = await exchange(
            node.port, request("POST", "/api/session", [("Content-Type", "application/json")], body)
        )
        assert_clean(answer, 400, "body")
        assert "deep" in answer.json()["description"]
        answer = await exchange(
            node.port,
            request(
                "POST",
                "/api/customers",
                [("Authorization", f"Bearer {node.admin}"), ("Content-Type", "application/json")],
                b'{"name": ' + body + b"}",
            ),
        )
        assert_clean(answer, 400, "body")
    # nesting a real body may have is fine
    shallow = json.dumps({"token": "sft_nope", "x": [[[[{"a": [1]}]]]]}).encode()
    answer = await exchange(
        node.port, request("POST", "/api/session", [("Content-Type", "application/json")], shallow)
    )
    assert_clean(answer, 401, "unauthorized")
    assert_quiet(log.records)


async def test_oversized_and_broken_bodies(node: Node, log: Any) -> None:
    json_type = ("Content-Type", "application/json")
    big = b'{"token": "' + b"a" * (2 * 1024 * 1024) + b'"}'
    answer = await exchange(node.port, request("POST", "/api/session", [json_type], big))
    assert_clean(answer, 413, "body")
    # a Content-Length far beyond the limit, without the bytes behind it
    head = request("POST", "/api/session", [json_type, ("Content-Length", "99999999999")])
    answer = await exchange(node.port, head)
    assert_clean(answer, 413, "body")
    # chunked framing broken inside the body
    broken = (
        b"POST /api/session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        b'5\r\n{"tok\r\nzz' + MARK.encode() + b"\r\n0\r\n\r\n"
    )
    answer = await exchange(node.port, broken)
    assert answer.status == 400
    assert MARK.encode() not in answer.body
    # compressed framing that does not decompress
    answer = await exchange(
        node.port,
        request(
            "POST", "/api/session", [json_type, ("Content-Encoding", "gzip")], MARK.encode() * 4
        ),
    )
    assert_clean(answer, 400, "body")
    # a charset no codec has: JSON is UTF-8 whatever the header says
    answer = await exchange(
        node.port,
        request(
            "POST",
            "/api/session",
            [("Content-Type", f"application/json; charset={MARK}")],
            b'{"token": "sft_nope"}',
        ),
    )
    assert_clean(answer, 401, "unauthorized")
    # a body that is no UTF-8
    answer = await exchange(
        node.port, request("POST", "/api/session", [json_type], b'{"t": "\xff"}')
    )
    assert_clean(answer, 422, "body")
    assert_quiet(log.records)


BAD_TOKENS: list[bytes] = [
    b"\xff\xfe\xfd",  # no UTF-8 at all
    b"sft_\xc3\x28abc",  # broken UTF-8 sequence
    "sft_é€😀".encode(),  # UTF-8, but no token is like that
    b"sft_" + b"A" * 4000,  # long
    b"garbage",
    b"sft_\x7f\x01",  # control characters
]


async def test_invalid_bearer_tokens_are_401(node: Node, log: Any) -> None:
    routes = [
        ("GET", "/api/pbx/sipphone"),
        ("GET", f"/api/pbx/sipphone/{node.phone_id}"),
        ("GET", f"/api/pbx/sipphone/{node.phone_id}/resetcredentials"),
        ("POST", "/api/customers"),
        ("GET", "/api/session"),
        ("GET", "/api/fleet/summary"),
        ("GET", "/api/events"),
        ("GET", "/api/phones"),
        ("GET", "/api/tokens"),
        ("GET", "/metrics"),
    ]
    for token in BAD_TOKENS:
        for method, path in routes:
            answer = await exchange(
                node.port, request(method, path, [("Authorization", b"Bearer " + token)])
            )
            if answer.status == 400:  # a byte the HTTP parser itself refuses (a control)
                assert_clean(answer, 400, "request")
                continue
            assert_clean(answer, 401, "unauthorized")
            assert answer.headers["www-authenticate"] == "Bearer"
            assert token not in answer.body
        # the dashboard's session cookie, garbled the same ways
        cookie = b"sipfleet_session=" + token
        for path in ("/api/session", "/api/fleet/summary"):
            answer = await exchange(node.port, request("GET", path, [("Cookie", cookie)]))
            if answer.status != 400:
                assert_clean(answer, 401, "unauthorized")
    assert_quiet(log.records)


async def test_invalid_basic_credentials_on_provisioning(node: Node, log: Any) -> None:
    path = "/prov/001565AA0001.cfg"
    for credentials in (b"\xff\xfe:\xff", "001565AA0001:pässwörd".encode(), "é:x".encode()):
        value = b"Basic " + base64.b64encode(credentials)
        answer = await exchange(node.port, request("GET", path, [("Authorization", value)]))
        assert answer.status == 401, answer
        assert answer.headers["www-authenticate"].startswith("Basic")
    for raw in (b"Basic \xff\xfe", b"Basic " + MARK.encode(), b"Digest \xff"):
        answer = await exchange(node.port, request("GET", path, [("Authorization", raw)]))
        assert answer.status == 401, answer
        assert MARK.encode() not in answer.body
    # a secret path segment that is no UTF-8, and a file name that is none
    for bad in ("/prov/%FF%FE/001565AA0001.cfg", "/prov/%FF.cfg", "/prov/%C0%AF001565AA0001.cfg"):
        answer = await exchange(node.port, request("GET", bad))
        assert answer.status == 404, answer
    assert_quiet(log.records)


def test_a_served_node_logs_no_traceback(tmp_path: Path, database_url: str) -> None:
    """The same probes against `sipfleet serve` as a process, its log as configured for
    production (text lines on stderr): every answer a 4xx, no ERROR, no traceback, nothing
    of the requests."""
    node = start_sipfleet(
        tmp_path / "node",
        env={"SIPFLEET_DATABASE_URL": database_url, "SIPFLEET_PROVISIONING_HTTP_AUTH": "true"},
    )
    try:
        long = MARK * 1300
        probes = [
            request("GET", "/?" + long),
            request("GET", "/api/pbx/sipphone", [("Cookie", long)]),
            request("GET", "/prov/001565AA0001.cfg", [(f"X-{MARK}-{i}", "1") for i in range(200)]),
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + MARK.encode() + b"\r\n\r\n",
            request(
                "GET", "/api/pbx/sipphone", [("Authorization", b"Bearer \xff" + MARK.encode())]
            ),
            request("GET", "/api/session", [("Cookie", b"sipfleet_session=\xff\xfe")]),
            request("GET", "/prov/001565AA0001.cfg", [("Authorization", b"Basic \xff\xfe")]),
            request("GET", "/prov/%FF%FE/001565aa0001.cfg"),
            request("GET", "/api/session?%FF=%FE&" + MARK),
            request("POST", "/api/session", [("Content-Type", "application/json")], b"[" * 50_000),
        ]

        async def run() -> list[int]:
            return [(await exchange(node.http_port, probe)).status for probe in probes]

        statuses = asyncio.run(run())
        assert all(400 <= status < 500 for status in statuses), statuses
    finally:
        assert node.stop() == 0
    log = node.log()
    assert "Traceback" not in log
    assert " ERROR " not in log
    assert MARK not in log
    assert log.count("HTTP request from 127.0.0.1 refused") == 3  # the TLS bytes: DEBUG
