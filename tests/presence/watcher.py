"""A hand-written SIP endpoint over UDP for presence tests: SUBSCRIBE / PUBLISH / REGISTER
with digest auth, answering every NOTIFY it receives (200, or a status the test sets).

It writes its own bytes and parses with a few lines of its own, independent of sipcore,
so what it checks is what a phone would see on the wire.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
from dataclasses import dataclass, field
from typing import Any

REALM = "sipfleet.test"
COMPACT = {"i": "call-id", "f": "from", "t": "to", "v": "via", "m": "contact", "l": "content-length",
           "c": "content-type", "o": "event", "e": "content-encoding", "k": "supported"}  # fmt: skip


@dataclass
class Msg:
    first: str
    headers: dict[str, list[str]]
    body: bytes

    @property
    def is_request(self) -> bool:
        return not self.first.startswith("SIP/2.0")

    @property
    def method(self) -> str:
        return self.first.split(" ", 1)[0]

    @property
    def status(self) -> int:
        return int(self.first.split(" ", 2)[1])

    def h(self, name: str) -> str | None:
        values = self.headers.get(name.lower())
        return values[0] if values else None

    @property
    def cseq(self) -> int:
        return int((self.h("cseq") or "0").split()[0])

    @property
    def dialog_states(self) -> list[str]:
        return re.findall(r"<state>(\w+)</state>", self.body.decode())

    @property
    def version(self) -> int | None:
        found = re.search(r'<dialog-info[^>]*\sversion="(\d+)"', self.body.decode())
        return int(found.group(1)) if found else None


def parse(data: bytes) -> Msg:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        key = name.strip().lower()
        headers.setdefault(COMPACT.get(key, key), []).append(value.strip())
    return Msg(first=lines[0], headers=headers, body=body)


def tag_of(value: str | None) -> str | None:
    found = re.search(r";tag=([^;>\s]+)", value or "")
    return found.group(1) if found else None


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def authorization(challenge: str, user: str, password: str, method: str, uri: str) -> str:
    params = {k.lower(): v.strip('"') for k, v in re.findall(r'([A-Za-z-]+)=("[^"]*"|[^,\s]+)', challenge)}  # fmt: skip
    ha1 = md5(f"{user}:{params['realm']}:{password}")
    ha2 = md5(f"{method}:{uri}")
    cnonce = os.urandom(4).hex()
    response = md5(f"{ha1}:{params['nonce']}:00000001:{cnonce}:auth:{ha2}")
    return (
        f'Digest username="{user}", realm="{params["realm"]}", nonce="{params["nonce"]}", '
        f'uri="{uri}", response="{response}", algorithm=MD5, qop=auth, nc=00000001, '
        f'cnonce="{cnonce}"' + (f', opaque="{params["opaque"]}"' if "opaque" in params else "")
    )


class _Proto(asyncio.DatagramProtocol):
    def __init__(self, owner: Endpoint) -> None:
        self.owner = owner

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.owner.received(data, addr)


@dataclass
class Subscription:
    call_id: str
    from_tag: str
    to_tag: str | None
    target: str
    event: str
    cseq: int = 1


@dataclass
class Endpoint:
    username: str
    password: str
    server: tuple[str, int]
    local_ip: str = "127.0.0.1"
    user_agent: str = "PresenceTest/1.0"
    notify_status: int = 200
    # how NOTIFYs are answered on the wire: "plain", "compact" (one-letter names),
    # "loose" (lowercase names, a header before Via, space before the colons) or
    # "provisional" (a 100 Trying first) — all valid RFC 3261 forms
    answer_style: str = "plain"
    notifies: asyncio.Queue[Msg] = field(default_factory=asyncio.Queue)
    _waiting: dict[str, asyncio.Future[Msg]] = field(default_factory=dict)
    _transport: Any = None
    transport: str = "udp"  # or "tcp": one connection to the server, framed by length
    _reader: Any = None
    port: int = 0
    subs: list[Subscription] = field(default_factory=list)
    _seen: set[tuple[str | None, str | None]] = field(default_factory=set)

    async def open(self) -> Endpoint:
        loop = asyncio.get_running_loop()
        if self.transport == "tcp":
            reader, writer = await asyncio.open_connection(
                *self.server, local_addr=(self.local_ip, 0)
            )
            self._transport = writer
            self.port = writer.get_extra_info("sockname")[1]
            self._reader = asyncio.ensure_future(self._read_stream(reader))
            return self
        self._transport, _ = await loop.create_datagram_endpoint(
            lambda: _Proto(self), local_addr=(self.local_ip, 0)
        )
        self.port = self._transport.get_extra_info("sockname")[1]
        return self

    async def _read_stream(self, reader: asyncio.StreamReader) -> None:
        """RFC 3261 §18.3: messages on a stream are framed by Content-Length."""
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.strip():
                continue
            found = re.search(rb"(?im)^(?:content-length|l)\s*:\s*(\d+)", head)
            body = await reader.readexactly(int(found.group(1))) if found else b""
            self.received(head + body, self.server)

    def _send(self, data: bytes, addr: Any) -> None:
        if self.transport == "tcp":
            self._transport.write(data)
        else:
            self._transport.sendto(data, addr)

    def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        if self._transport is not None:
            self._transport.close()

    def received(self, data: bytes, addr: Any) -> None:
        if not data.strip():
            return
        msg = parse(data)
        if msg.is_request:
            self._answer(msg, addr)
            key = (msg.h("call-id"), msg.h("cseq"))
            if msg.method == "NOTIFY" and key not in self._seen:  # not a retransmission
                self._seen.add(key)
                self.notifies.put_nowait(msg)
            return
        branch = re.search(r"branch=([^;,\s]+)", msg.h("via") or "")
        future = self._waiting.get(branch.group(1) if branch else "")
        if future is not None and not future.done() and msg.status >= 200:
            future.set_result(msg)

    def _answer(self, msg: Msg, addr: Any) -> None:
        status = self.notify_status if msg.method == "NOTIFY" else 200
        if status == 0:  # a phone pulled from the wall: no answer at all
            return
        to = msg.h("to") or ""
        style = self.answer_style if msg.method == "NOTIFY" else "plain"
        names = {"via": "Via", "from": "From", "to": "To", "call-id": "Call-ID", "cseq": "CSeq",
                 "content-length": "Content-Length"}  # fmt: skip
        if style == "compact":
            names.update(via="v", to="t", **{"from": "f", "call-id": "i", "content-length": "l"})
        colon = ": "
        if style == "loose":
            names = {key: key for key in names}
            colon = " :  "
        rows: list[tuple[str, str | None]] = [(names["via"], v) for v in msg.headers.get("via", [])]
        rows += [(names["from"], msg.h("from")), (names["to"], to),
                 (names["call-id"], msg.h("call-id")), (names["cseq"], msg.h("cseq")),
                 (names["content-length"], "0")]  # fmt: skip
        if style == "loose":
            rows.insert(0, ("server", "Test/1.0"))
        header_lines = [f"{name}{colon}{value}" for name, value in rows]
        if style == "provisional":
            trying = ["SIP/2.0 100 Trying", *header_lines, "", ""]
            self._send("\r\n".join(trying).encode(), addr)
        lines = [f"SIP/2.0 {status} {'OK' if status == 200 else 'Nope'}", *header_lines, "", ""]
        self._send("\r\n".join(lines).encode(), addr)

    @property
    def contact(self) -> str:
        suffix = ";transport=tcp" if self.transport == "tcp" else ""
        return f"<sip:{self.username}@{self.local_ip}:{self.port}{suffix}>"

    async def request(
        self, method: str, ruri: str, headers: list[str], *, body: bytes = b"",
        call_id: str | None = None, from_tag: str | None = None, to_uri: str | None = None,
        to_tag: str | None = None, cseq: int = 1, timeout: float = 3.0,
    ) -> Msg:  # fmt: skip
        """Send, answer a 401 challenge once with digest, return the final response."""
        call_id = call_id or os.urandom(8).hex()
        from_tag = from_tag or os.urandom(4).hex()
        auth: str | None = None
        for _ in range(2):
            branch = "z9hG4bK" + os.urandom(8).hex()
            to = f"<{to_uri or ruri}>" + (f";tag={to_tag}" if to_tag else "")
            lines = [
                f"{method} {ruri} SIP/2.0",
                f"Via: SIP/2.0/{self.transport.upper()} {self.local_ip}:{self.port};branch={branch};rport",
                "Max-Forwards: 70",
                f"From: <sip:{self.username}@{REALM}>;tag={from_tag}",
                f"To: {to}",
                f"Call-ID: {call_id}",
                f"CSeq: {cseq} {method}",
                f"User-Agent: {self.user_agent}",
                *headers,
            ]
            if auth:
                lines.append(f"Authorization: {auth}")
            lines += [f"Content-Length: {len(body)}", "", ""]
            future: asyncio.Future[Msg] = asyncio.get_running_loop().create_future()
            self._waiting[branch] = future
            self._send("\r\n".join(lines).encode() + body, self.server)
            try:
                response = await asyncio.wait_for(future, timeout)
            finally:
                self._waiting.pop(branch, None)
            if response.status != 401 or auth:
                response.headers["x-call-id"] = [call_id]
                response.headers["x-from-tag"] = [from_tag]
                response.headers["x-cseq"] = [str(cseq)]
                return response
            challenges = response.headers.get("www-authenticate", [])
            challenge = next((c for c in challenges if "MD5" in c.upper()), challenges[0])
            auth = authorization(challenge, self.username, self.password, method, ruri)
            cseq += 1
        raise AssertionError("unreachable")

    async def subscribe(
        self, number: str, *, event: str = "dialog", expires: int | None = 600,
        accept: str | None = None,
    ) -> tuple[Msg, Subscription]:  # fmt: skip
        ruri = f"sip:{number}@{REALM}"
        if accept is None:
            accept = {"dialog": "application/dialog-info+xml", "presence": "application/pidf+xml",
                      "message-summary": "application/simple-message-summary"}.get(event, "")  # fmt: skip
        headers = [f"Event: {event}", f"Contact: {self.contact}"]
        if accept:
            headers.append(f"Accept: {accept}")
        if expires is not None:
            headers.append(f"Expires: {expires}")
        response = await self.request("SUBSCRIBE", ruri, headers)
        sub = Subscription(
            call_id=response.h("x-call-id") or "",
            from_tag=response.h("x-from-tag") or "",
            to_tag=tag_of(response.h("to")),
            target=ruri,
            event=event,
            cseq=int(response.h("x-cseq") or 1),
        )
        self.subs.append(sub)
        return response, sub

    async def resubscribe(self, sub: Subscription, expires: int) -> Msg:
        sub.cseq += 1
        headers = [f"Event: {sub.event}", f"Contact: {self.contact}", f"Expires: {expires}"]
        response = await self.request(
            "SUBSCRIBE", sub.target, headers, call_id=sub.call_id, from_tag=sub.from_tag,
            to_tag=sub.to_tag, cseq=sub.cseq,
        )  # fmt: skip
        sub.cseq = int(response.h("x-cseq") or sub.cseq)
        return response

    async def register(self, expires: int = 300) -> Msg:
        aor = f"sip:{self.username}@{REALM}"
        return await self.request(
            "REGISTER", f"sip:{REALM}", [f"Contact: {self.contact}", f"Expires: {expires}"],
            to_uri=aor,
        )  # fmt: skip

    async def publish(
        self, target: str, event: str, body: bytes, *, etag: str | None = None,
        expires: int | None = 300, content_type: str | None = None,
    ) -> Msg:  # fmt: skip
        headers = [f"Event: {event}"]
        if body:
            ctype = content_type or (
                "application/pidf+xml" if event == "presence" else "application/dialog-info+xml"
            )
            headers.append(f"Content-Type: {ctype}")
        if etag:
            headers.append(f"SIP-If-Match: {etag}")
        if expires is not None:
            headers.append(f"Expires: {expires}")
        return await self.request("PUBLISH", target, headers, body=body)

    async def next_notify(self, timeout: float = 3.0, event: str | None = None) -> Msg:
        """The next NOTIFY (of `event` only, others skipped) within `timeout` seconds."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            msg = await asyncio.wait_for(self.notifies.get(), max(left, 0.001))
            if event is None or msg.h("event") == event:
                return msg

    async def notify_until(
        self, predicate: Any, timeout: float = 3.0, event: str | None = None
    ) -> Msg:
        """The first NOTIFY (of `event`) for which `predicate(msg)` holds, within `timeout`."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            msg = await self.next_notify(max(left, 0.001), event)
            if predicate(msg):
                return msg

    async def no_notify(self, seconds: float) -> None:
        try:
            extra = await asyncio.wait_for(self.notifies.get(), seconds)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected NOTIFY: {extra.h('subscription-state')} {extra.body!r}")


def pidf_body(
    entity: str, basic: str = "open", note: str | None = None, busy: bool = False
) -> bytes:
    person = (
        '<dm:person id="p"><rpid:activities><rpid:busy/></rpid:activities></dm:person>'
        if busy
        else ""
    )
    note_xml = f"<note>{note}</note>" if note else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" '
        f'xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="{entity}">'
        f'<tuple id="t"><status><basic>{basic}</basic></status>{note_xml}</tuple>{person}</presence>'
    ).encode()
