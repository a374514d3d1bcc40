"""A hand-written SIP phone for check-sync tests: REGISTERs with digest auth over UDP or
TCP, then records every NOTIFY it receives and answers 200 (or stays silent)."""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from dataclasses import dataclass, field


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def parse(data: bytes) -> tuple[str, dict[str, list[str]], bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return lines[0], headers, body


def _challenge(value: str) -> dict[str, str]:
    return {k: v1 or v2 for k, v1, v2 in re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]+))', value)}


@dataclass
class SipPhone:
    username: str
    password: str
    server: tuple[str, int]
    transport: str  # "udp" or "tcp"
    answer: bool = True
    notifies: list[tuple[str, dict[str, list[str]]]] = field(default_factory=list)
    local: tuple[str, int] = ("127.0.0.1", 0)
    _queue: asyncio.Queue[bytes] = field(default_factory=asyncio.Queue)
    _udp: asyncio.DatagramTransport | None = None
    _writer: asyncio.StreamWriter | None = None
    _reader_task: asyncio.Task[None] | None = None

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        if self.transport == "udp":
            phone = self

            class Protocol(asyncio.DatagramProtocol):
                def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                    phone._received(data)

            transport, _ = await loop.create_datagram_endpoint(
                Protocol, local_addr=self.local, remote_addr=self.server
            )
            self._udp = transport
            self.local = transport.get_extra_info("sockname")[:2]
        else:
            reader, writer = await asyncio.open_connection(*self.server)
            self._writer = writer
            self.local = writer.get_extra_info("sockname")[:2]
            self._reader_task = loop.create_task(self._read_stream(reader))

    async def _read_stream(self, reader: asyncio.StreamReader) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            match = re.search(rb"(?im)^(?:content-length|l)\s*:\s*(\d+)", head)
            body = await reader.readexactly(int(match.group(1))) if match else b""
            self._received(head + body)

    def _received(self, data: bytes) -> None:
        if data.strip() == b"":
            return
        start, headers, _ = parse(data)
        if start.startswith("NOTIFY "):
            self.notifies.append((start, headers))
            if self.answer:
                self._send(self._response_to(headers))
            return
        if start.startswith("SIP/2.0"):
            self._queue.put_nowait(data)
        elif start.split(" ", 1)[0] in ("OPTIONS",):
            self._send(self._response_to(headers))

    def _response_to(self, headers: dict[str, list[str]]) -> bytes:
        lines = ["SIP/2.0 200 OK"]
        lines += [f"Via: {v}" for v in headers.get("via", [])]
        for name in ("from", "to", "call-id", "cseq"):
            lines += [f"{name.title()}: {v}" for v in headers.get(name, [])]
        lines.append("Content-Length: 0")
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def _send(self, data: bytes) -> None:
        if self._udp is not None:
            self._udp.sendto(data)
        elif self._writer is not None:
            self._writer.write(data)

    def _register_request(self, cseq: int, call_id: str, auth: str | None) -> bytes:
        host, port = self.local
        realm_host = f"{self.server[0]}:{self.server[1]}"
        proto = self.transport.upper()
        lines = [
            f"REGISTER sip:{realm_host} SIP/2.0",
            f"Via: SIP/2.0/{proto} {host}:{port};branch=z9hG4bK{secrets.token_hex(8)};rport",
            "Max-Forwards: 70",
            f"From: <sip:{self.username}@{realm_host}>;tag={secrets.token_hex(4)}",
            f"To: <sip:{self.username}@{realm_host}>",
            f"Call-ID: {call_id}",
            f"CSeq: {cseq} REGISTER",
            f"Contact: <sip:{self.username}@{host}:{port};transport={self.transport}>",
            "Expires: 300",
            "User-Agent: sipfleet-test-phone",
        ]
        if auth:
            lines.append(f"Authorization: {auth}")
        lines.append("Content-Length: 0")
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    async def register(self, timeout: float = 5.0, attempts: int = 20) -> int:
        """200 once registered; a phone just written to the database may take the
        registrar a moment to learn of (its directory follows change notifications)."""
        for _ in range(attempts):
            status = await self._register_once(timeout)
            if status != 401:
                return status
            await asyncio.sleep(0.1)
        return status

    async def _register_once(self, timeout: float) -> int:
        call_id = secrets.token_hex(8)
        self._send(self._register_request(1, call_id, None))
        start, headers, _ = parse(await asyncio.wait_for(self._queue.get(), timeout))
        if not start.startswith("SIP/2.0 401"):
            return int(start.split()[1])
        challenge = next(
            _challenge(v) for v in headers["www-authenticate"] if "MD5" in v or "algorithm" not in v
        )
        uri = f"sip:{self.server[0]}:{self.server[1]}"
        ha1 = _md5(f"{self.username}:{challenge['realm']}:{self.password}")
        ha2 = _md5(f"REGISTER:{uri}")
        cnonce = secrets.token_hex(8)
        response = _md5(f"{ha1}:{challenge['nonce']}:00000001:{cnonce}:auth:{ha2}")
        auth = (
            f'Digest username="{self.username}", realm="{challenge["realm"]}", '
            f'nonce="{challenge["nonce"]}", uri="{uri}", response="{response}", '
            f'algorithm=MD5, qop=auth, nc=00000001, cnonce="{cnonce}"'
        )
        if "opaque" in challenge:
            auth += f', opaque="{challenge["opaque"]}"'
        self._send(self._register_request(2, call_id, auth))
        start, _, _ = parse(await asyncio.wait_for(self._queue.get(), timeout))
        return int(start.split()[1])

    async def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._writer is not None:
            self._writer.close()
        if self._reader_task is not None:
            self._reader_task.cancel()
