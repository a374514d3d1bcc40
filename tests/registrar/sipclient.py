"""A small hand-written SIP client for tests: REGISTER with digest over UDP or TCP.

It writes its own bytes (so tests can send exactly what they mean: retransmissions, stale
CSeqs, garbage) and computes the digest response with hashlib, independently of
sipcore.digest. Responses are parsed with sipcore's parser for convenience.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
from dataclasses import dataclass, field
from typing import Any

from sipcore.message import SipRequest, SipResponse
from sipcore.parser import parse_message

REALM = "sipfleet.test"


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def challenge_params(value: str) -> dict[str, str]:
    return {
        k.lower(): v.strip('"') for k, v in re.findall(r'([A-Za-z-]+)=("[^"]*"|[^,\s]+)', value)
    }


def authorization(
    challenge: str,
    username: str,
    password: str,
    method: str,
    uri: str,
    nc: int = 1,
    cnonce: str = "0a4f113b",
) -> str:
    params = challenge_params(challenge)
    algorithm = params.get("algorithm", "MD5")
    h = sha256 if algorithm.upper() == "SHA-256" else md5
    ha1 = h(f"{username}:{params['realm']}:{password}")
    ha2 = h(f"{method}:{uri}")
    nc_text = f"{nc:08x}"
    response = h(f"{ha1}:{params['nonce']}:{nc_text}:{cnonce}:auth:{ha2}")
    return (
        f'Digest username="{username}", realm="{params["realm"]}", nonce="{params["nonce"]}", '
        f'uri="{uri}", response="{response}", algorithm={algorithm}, qop=auth, nc={nc_text}, '
        f'cnonce="{cnonce}"'
    )


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, queue: asyncio.Queue[bytes]) -> None:
        self.queue = queue

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.queue.put_nowait(data)


@dataclass
class SipClient:
    """One phone-like endpoint on its own socket."""

    server: tuple[str, int]
    transport: str = "udp"
    local_ip: str = "127.0.0.1"
    queue: asyncio.Queue[bytes] = field(default_factory=asyncio.Queue)
    requests: list[SipRequest] = field(default_factory=list)
    answer_requests: bool = True
    _udp: Any = None
    _writer: Any = None
    _reader_task: Any = None
    local_port: int = 0
    call_id: str = field(default_factory=lambda: os.urandom(8).hex() + "@test")
    cseq: int = 0

    async def open(self) -> SipClient:
        loop = asyncio.get_running_loop()
        if self.transport == "udp":
            self._udp, _ = await loop.create_datagram_endpoint(
                lambda: _Udp(self.queue), local_addr=(self.local_ip, 0), remote_addr=None
            )
            self.local_port = self._udp.get_extra_info("sockname")[1]
        else:
            reader, self._writer = await asyncio.open_connection(
                *self.server, local_addr=(self.local_ip, 0)
            )
            self.local_port = self._writer.get_extra_info("sockname")[1]
            self._reader_task = loop.create_task(self._read_stream(reader))
        return self

    async def _read_stream(self, reader: asyncio.StreamReader) -> None:
        buffer = b""
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                return
            buffer += chunk
            while True:
                if buffer.startswith(b"\r\n") and not buffer.startswith(b"\r\n\r\n"):
                    self.queue.put_nowait(b"\r\n")
                    buffer = buffer[2:]
                    continue
                head, sep, rest = buffer.partition(b"\r\n\r\n")
                if not sep:
                    break
                match = re.search(rb"(?im)^(?:content-length|l)\s*:\s*(\d+)", head)
                length = int(match.group(1)) if match else 0
                if len(rest) < length:
                    break
                self.queue.put_nowait(head + sep + rest[:length])
                buffer = rest[length:]

    def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._writer is not None:
            self._writer.close()
        if self._reader_task is not None:
            self._reader_task.cancel()

    def send(self, data: bytes) -> None:
        if self._udp is not None:
            self._udp.sendto(data, self.server)
        else:
            self._writer.write(data)

    async def receive(self, timeout: float = 3.0) -> SipResponse | None:
        """The next response (requests from the server are recorded, and answered 200)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            try:
                data = await asyncio.wait_for(self.queue.get(), remaining)
            except TimeoutError:
                return None
            if data == b"\r\n":
                continue
            message = parse_message(data)
            if isinstance(message, SipRequest):
                self.requests.append(message)
                if self.answer_requests:
                    self.send(_ok_to(message))
                continue
            if message.status >= 200:
                return message

    def contact(self, user: str = "phone") -> str:
        suffix = "" if self.transport == "udp" else f";transport={self.transport}"
        return f"<sip:{user}@{self.local_ip}:{self.local_port}{suffix}>"

    def register_bytes(
        self,
        username: str,
        *,
        expires: int | None = 300,
        contact: str | None = None,
        authorization: str | None = None,
        cseq: int | None = None,
        call_id: str | None = None,
        branch: str | None = None,
        extra: str = "",
    ) -> bytes:
        if cseq is None:
            self.cseq += 1
            cseq = self.cseq
        branch = branch or "z9hG4bK" + os.urandom(6).hex()
        lines = [
            f"REGISTER sip:{REALM} SIP/2.0",
            f"Via: SIP/2.0/{self.transport.upper()} {self.local_ip}:{self.local_port};branch={branch};rport",
            "Max-Forwards: 70",
            f"From: <sip:{username}@{REALM}>;tag={os.urandom(4).hex()}",
            f"To: <sip:{username}@{REALM}>",
            f"Call-ID: {call_id or self.call_id}",
            f"CSeq: {cseq} REGISTER",
            "User-Agent: sipclient-test/1.0",
        ]
        if contact != "":
            lines.append(f"Contact: {contact or self.contact()}")
        if expires is not None:
            lines.append(f"Expires: {expires}")
        if authorization:
            lines.append(f"Authorization: {authorization}")
        if extra:
            lines.append(extra)
        lines.append("Content-Length: 0")
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    async def register(
        self,
        username: str,
        password: str,
        *,
        expires: int | None = 300,
        contact: str | None = None,
        algorithm: str | None = None,
        timeout: float = 3.0,
    ) -> SipResponse | None:
        """REGISTER, answer the 401 challenge, return the final response."""
        self.send(self.register_bytes(username, expires=expires, contact=contact))
        first = await self.receive(timeout)
        if first is None or first.status != 401:
            return first
        challenges = first.headers.get_all("WWW-Authenticate")
        chosen = challenges[0]
        if algorithm is not None:
            chosen = next(c for c in challenges if f"algorithm={algorithm}" in c)
        auth = authorization(chosen, username, password, "REGISTER", f"sip:{REALM}")
        self.send(
            self.register_bytes(username, expires=expires, contact=contact, authorization=auth)
        )
        return await self.receive(timeout)


def _ok_to(request: SipRequest) -> bytes:
    lines = ["SIP/2.0 200 OK"]
    for name, value in request.headers:
        if name.lower() in ("via", "v", "from", "f", "call-id", "i", "cseq"):
            lines.append(f"{name}: {value}")
        elif name.lower() in ("to", "t"):
            lines.append(f"{name}: {value};tag=ok" if "tag=" not in value else f"{name}: {value}")
    lines.append("Content-Length: 0")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()
