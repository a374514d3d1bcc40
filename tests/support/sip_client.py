"""The tests' one hand-written SIP client: a phone-like endpoint over UDP or TCP.

It writes its own bytes (so a test can send exactly what it means: retransmissions, stale
CSeqs, forged Vias, garbage), computes digest responses with hashlib, independently of
sipcore.digest, and reads what arrives with a few lines of its own, independently of
sipcore's parser, so what it checks is what a phone would see on the wire.

What arrives is sorted as a phone would: a request from the server is recorded in
`requests` (retransmissions too), answered at once (200, or `notify_status` for a NOTIFY,
nothing when `answer_requests` is off) and, when it is a NOTIFY seen for the first time,
queued in `notifies`; a final response goes to the request waiting for its branch
(`request`, `register`), else to `queue`, where `receive` takes it.
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
# headers whose values may be comma-separated lists (RFC 3261 §7.3.1)
LIST_HEADERS = {"via", "contact", "route", "record-route", "path", "allow", "supported",
                "require", "www-authenticate"}  # fmt: skip


@dataclass
class Msg:
    """A SIP message as read off the wire: first line, headers by lowercase full name
    (compact forms expanded), each with its values in order, and the body."""

    first: str
    headers: dict[str, list[str]]
    body: bytes
    pairs: list[tuple[str, str]] = field(default_factory=list)  # (name as sent, value)
    raw: bytes = b""

    def to_bytes(self) -> bytes:
        """The message as it came."""
        return self.raw

    @property
    def call_id(self) -> str | None:
        return self.h("call-id")

    @property
    def is_request(self) -> bool:
        return not self.first.startswith("SIP/2.0")

    @property
    def method(self) -> str:
        return self.first.split(" ", 1)[0]

    @property
    def uri(self) -> str:
        return self.first.split(" ", 2)[1]

    @property
    def status(self) -> int:
        return int(self.first.split(" ", 2)[1])

    @property
    def reason(self) -> str:
        return self.first.split(" ", 2)[2] if self.first.count(" ") >= 2 else ""

    def h(self, name: str) -> str | None:
        """The first value of a header, or None."""
        values = self.all(name)
        return values[0] if values else None

    def all(self, name: str) -> list[str]:
        """Every line of a header, in order."""
        key = name.lower()
        return list(self.headers.get(COMPACT.get(key, key), []))

    def values(self, name: str) -> list[str]:
        """Every value of a header, comma-separated lists split (RFC 3261 §7.3.1)."""
        if name.lower() not in LIST_HEADERS:
            return self.all(name)
        return [part for line in self.all(name) for part in split_list(line)]

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


def split_list(line: str) -> list[str]:
    """A header line's comma-separated values; commas in quotes or <> do not split."""
    parts, current, quoted, angle = [], "", False, False
    for char in line:
        if char == '"':
            quoted = not quoted
        elif char == "<" and not quoted:
            angle = True
        elif char == ">" and not quoted:
            angle = False
        if char == "," and not quoted and not angle:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    if current.strip():
        parts.append(current.strip())
    return parts


def parse(data: bytes) -> Msg:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers: dict[str, list[str]] = {}
    pairs: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        key = name.strip().lower()
        headers.setdefault(COMPACT.get(key, key), []).append(value.strip())
        pairs.append((name.strip(), value.strip()))
    return Msg(first=lines[0], headers=headers, body=body, pairs=pairs, raw=data)


def tag_of(value: str | None) -> str | None:
    found = re.search(r";tag=([^;>\s]+)", value or "")
    return found.group(1) if found else None


def _hash(algorithm: str, text: str) -> str:
    if algorithm.upper() == "SHA-256":
        return hashlib.sha256(text.encode()).hexdigest()
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


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
    """The Authorization value answering a Digest challenge (RFC 7616: qop=auth, the
    challenge's algorithm, MD5 or SHA-256, its opaque echoed)."""
    params = challenge_params(challenge)
    algorithm = params.get("algorithm", "MD5")
    ha1 = _hash(algorithm, f"{username}:{params['realm']}:{password}")
    ha2 = _hash(algorithm, f"{method}:{uri}")
    nc_text = f"{nc:08x}"
    response = _hash(algorithm, f"{ha1}:{params['nonce']}:{nc_text}:{cnonce}:auth:{ha2}")
    value = (
        f'Digest username="{username}", realm="{params["realm"]}", nonce="{params["nonce"]}", '
        f'uri="{uri}", response="{response}", algorithm={algorithm}, qop=auth, nc={nc_text}, '
        f'cnonce="{cnonce}"'
    )
    if "opaque" in params:
        value += f', opaque="{params["opaque"]}"'
    return value


def choose_challenge(response: Msg, algorithm: str | None) -> str:
    """The WWW-Authenticate to answer: the one of `algorithm`, else the first."""
    challenges = response.all("www-authenticate")
    if algorithm is None:
        return challenges[0]
    return next(c for c in challenges if f"algorithm={algorithm}".lower() in c.lower())


def frames(buffer: bytes) -> tuple[list[bytes], bytes]:
    """Messages on a stream, framed by Content-Length (RFC 3261 §18.3), and what is left;
    a lone CRLF (a keep-alive pong, RFC 5626 §4.4.1) is a frame of its own."""
    found: list[bytes] = []
    while True:
        if buffer.startswith(b"\r\n") and not buffer.startswith(b"\r\n\r\n"):
            found.append(b"\r\n")
            buffer = buffer[2:]
            continue
        head, sep, rest = buffer.partition(b"\r\n\r\n")
        if not sep:
            return found, buffer
        if not head.strip():
            buffer = rest
            continue
        match = re.search(rb"(?im)^(?:content-length|l)\s*:\s*(\d+)", head)
        length = int(match.group(1)) if match else 0
        if len(rest) < length:
            return found, buffer
        found.append(head + sep + rest[:length])
        buffer = rest[length:]


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, owner: SipClient) -> None:
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
class SipClient:
    """One phone-like endpoint on its own socket (UDP, or one TCP connection)."""

    username: str = ""
    password: str = ""
    server: tuple[str, int] = ("127.0.0.1", 0)
    transport: str = "udp"
    local_ip: str = "127.0.0.1"
    user_agent: str = "sipclient-test/1.0"
    algorithm: str | None = None  # the digest challenge answered: None = the first offered
    answer_requests: bool = True  # off: requests from the server are recorded, not answered
    notify_status: int = 200  # the answer to a NOTIFY; 0: none (a phone pulled from the wall)
    # how NOTIFYs are answered on the wire: "plain", "compact" (one-letter names),
    # "loose" (lowercase names, a header before Via, space before the colons) or
    # "provisional" (a 100 Trying first) — all valid RFC 3261 forms
    answer_style: str = "plain"
    local_port: int = 0
    call_id: str = field(default_factory=lambda: os.urandom(8).hex() + "@test")
    cseq: int = 0
    requests: list[Msg] = field(default_factory=list)  # every request received
    notifies: asyncio.Queue[Msg] = field(default_factory=asyncio.Queue)  # retransmissions not
    queue: asyncio.Queue[Msg] = field(default_factory=asyncio.Queue)  # final responses unasked
    pongs: int = 0  # CRLF keep-alive pongs received on a stream
    subs: list[Subscription] = field(default_factory=list)
    authorized_call_id: str = ""  # the Call-ID of the last request sent with credentials
    _waiting: dict[str, asyncio.Future[Msg]] = field(default_factory=dict)
    _seen: set[tuple[str | None, str | None]] = field(default_factory=set)
    _udp: Any = None
    _writer: Any = None
    _reader_task: Any = None

    @property
    def port(self) -> int:
        return self.local_port

    @property
    def local(self) -> tuple[str, int]:
        return self.local_ip, self.local_port

    async def open(self) -> SipClient:
        loop = asyncio.get_running_loop()
        if self.transport == "udp":
            self._udp, _ = await loop.create_datagram_endpoint(
                lambda: _Udp(self), local_addr=(self.local_ip, 0)
            )
            self.local_port = self._udp.get_extra_info("sockname")[1]
        else:
            reader, self._writer = await asyncio.open_connection(
                *self.server, local_addr=(self.local_ip, 0)
            )
            self.local_port = self._writer.get_extra_info("sockname")[1]
            self._reader_task = loop.create_task(self._read_stream(reader))
        return self

    async def __aenter__(self) -> SipClient:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    async def _read_stream(self, reader: asyncio.StreamReader) -> None:
        buffer = b""
        while True:
            try:
                chunk = await reader.read(65536)
            except ConnectionError:
                return
            if not chunk:
                return
            found, buffer = frames(buffer + chunk)
            for data in found:
                self.received(data, self.server)

    def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._writer is not None:
            self._writer.close()
        if self._reader_task is not None:
            self._reader_task.cancel()

    def send(self, data: bytes, addr: Any = None) -> None:
        if self._udp is not None:
            self._udp.sendto(data, addr or self.server)
        else:
            self._writer.write(data)

    # --- what arrives

    def received(self, data: bytes, addr: Any) -> None:
        if data == b"\r\n":
            self.pongs += 1
            return
        if not data.strip():
            return
        msg = parse(data)
        if msg.is_request:
            self.requests.append(msg)
            if self.answer_requests:
                self._answer(msg, addr)
            key = (msg.h("call-id"), msg.h("cseq"))
            if msg.method == "NOTIFY" and key not in self._seen:  # not a retransmission
                self._seen.add(key)
                self.notifies.put_nowait(msg)
            return
        if msg.status < 200:
            return
        branch = re.search(r"branch=([^;,\s]+)", msg.h("via") or "")
        future = self._waiting.get(branch.group(1) if branch else "")
        if future is not None and not future.done():
            future.set_result(msg)
        else:
            self.queue.put_nowait(msg)

    def _answer(self, msg: Msg, addr: Any) -> None:
        status = self.notify_status if msg.method == "NOTIFY" else 200
        if status == 0:  # a phone pulled from the wall: no answer at all
            return
        to = msg.h("to") or ""
        if "tag=" not in to:
            to += ";tag=ok"
        style = self.answer_style if msg.method == "NOTIFY" else "plain"
        names = {"via": "Via", "from": "From", "to": "To", "call-id": "Call-ID", "cseq": "CSeq",
                 "content-length": "Content-Length"}  # fmt: skip
        if style == "compact":
            names.update(via="v", to="t", **{"from": "f", "call-id": "i", "content-length": "l"})
        colon = ": "
        if style == "loose":
            names = {key: key for key in names}
            colon = " :  "
        rows: list[tuple[str, str | None]] = [(names["via"], v) for v in msg.all("via")]
        rows += [(names["from"], msg.h("from")), (names["to"], to),
                 (names["call-id"], msg.h("call-id")), (names["cseq"], msg.h("cseq")),
                 (names["content-length"], "0")]  # fmt: skip
        if style == "loose":
            rows.insert(0, ("server", "Test/1.0"))
        header_lines = [f"{name}{colon}{value}" for name, value in rows]
        if style == "provisional":
            trying = ["SIP/2.0 100 Trying", *header_lines, "", ""]
            self.send("\r\n".join(trying).encode(), addr)
        lines = [f"SIP/2.0 {status} {'OK' if status == 200 else 'Nope'}", *header_lines, "", ""]
        self.send("\r\n".join(lines).encode(), addr)

    @property
    def received_notifies(self) -> list[Msg]:
        """Every NOTIFY received, retransmissions included."""
        return [r for r in self.requests if r.method == "NOTIFY"]

    async def receive(self, timeout: float = 3.0) -> Msg | None:
        """The next final response no request of ours waits for, or None after `timeout`."""
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None

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

    # --- what we send

    @property
    def contact(self) -> str:
        """Our Contact: our username (or "phone") at our address."""
        return self.contact_of(self.username or "phone")

    def contact_of(self, user: str) -> str:
        """A Contact for `user` at our address (the transport named when not UDP)."""
        suffix = "" if self.transport == "udp" else f";transport={self.transport}"
        return f"<sip:{user}@{self.local_ip}:{self.local_port}{suffix}>"

    def register_bytes(
        self,
        username: str | None = None,
        *,
        expires: int | None = 300,
        contact: str | None = None,
        authorization: str | None = None,
        cseq: int | None = None,
        call_id: str | None = None,
        branch: str | None = None,
        extra: str = "",
    ) -> bytes:
        """A REGISTER of `username` (default: ours) for `sip:REALM`; `contact=""` sends
        none (a query), `expires=None` no Expires header."""
        username = username or self.username
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
            f"User-Agent: {self.user_agent}",
        ]
        if contact != "":
            lines.append(f"Contact: {contact or self.contact}")
        if expires is not None:
            lines.append(f"Expires: {expires}")
        if authorization:
            lines.append(f"Authorization: {authorization}")
        if extra:
            lines.append(extra)
        lines.append("Content-Length: 0")
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    async def challenge(self, username: str | None = None, **options: Any) -> Msg:
        """Send a REGISTER without credentials (`register_bytes(username, **options)`) and
        return its answer (the challenge, when all goes as meant)."""
        self.send(self.register_bytes(username, **options))
        answer = await self.receive()
        assert answer is not None, "no answer to the REGISTER"
        return answer

    def credentials(
        self, challenge: Msg, username: str | None = None, password: str | None = None,
        *, which: int = 0, nc: int = 1,
    ) -> str:  # fmt: skip
        """The Authorization of a REGISTER answering the `which`-th WWW-Authenticate of
        `challenge`."""
        return authorization(
            challenge.all("www-authenticate")[which], username or self.username,
            self.password if password is None else password, "REGISTER", f"sip:{REALM}", nc=nc,
        )  # fmt: skip

    async def retransmitted(self, data: bytes) -> tuple[Msg | None, Msg | None, Msg | None]:
        """Send `data` twice at once (the second copy while the first is being processed),
        then once more after the answer: the first answer, the answer to the late copy,
        and whatever else came within 0.3 s after (None: nothing)."""
        self.send(data)
        self.send(data)  # while the first copy is being committed: absorbed
        first = await self.receive()
        self.send(data)  # after the answer: the same answer again
        second = await self.receive()
        return first, second, await self.receive(timeout=0.3)

    async def _exchange(self, data: bytes, branch: str, timeout: float) -> Msg:
        """Send, and the final response of the transaction `branch` (TimeoutError)."""
        future: asyncio.Future[Msg] = asyncio.get_running_loop().create_future()
        self._waiting[branch] = future
        self.send(data)
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            self._waiting.pop(branch, None)

    async def register(
        self,
        username: str | None = None,
        password: str | None = None,
        *,
        expires: int | None = 300,
        contact: str | None = None,
        algorithm: str | None = None,
        call_id: str | None = None,
        extra: str = "",
        timeout: float = 3.0,
        attempts: int = 1,
    ) -> Msg | None:
        """REGISTER, answer the 401 challenge, return the final response (None when one
        does not come within `timeout`). With `attempts` > 1 a final 401 is tried again
        after 0.1 s: a phone just written to the database may take the registrar a moment
        to learn of (its directory follows change notifications). `extra` header lines go
        into both requests; `call_id` replaces ours (a phone that starts afresh)."""
        username = username or self.username
        password = password if password is not None else self.password
        for attempt in range(attempts):
            if attempt:
                await asyncio.sleep(0.1)
            answer = await self._register_once(
                username, password, expires, contact, algorithm, call_id, extra, timeout
            )
            if answer is None or answer.status != 401:
                return answer
        return answer

    async def register_status(self, **options: Any) -> int:
        """`register(**options)`'s final status; 0 when no answer came."""
        answer = await self.register(**options)
        return 0 if answer is None else answer.status

    async def _register_once(
        self,
        username: str,
        password: str,
        expires: int | None,
        contact: str | None,
        algorithm: str | None,
        call_id: str | None,
        extra: str,
        timeout: float,
    ) -> Msg | None:
        call_id = call_id or self.call_id
        auth: str | None = None
        for _ in range(2):
            branch = "z9hG4bK" + os.urandom(6).hex()
            data = self.register_bytes(
                username, expires=expires, contact=contact, authorization=auth,
                call_id=call_id, branch=branch, extra=extra,
            )  # fmt: skip
            if auth:
                self.authorized_call_id = call_id
            try:
                answer = await self._exchange(data, branch, timeout)
            except TimeoutError:
                return None
            if answer.status != 401 or auth:
                return answer
            challenge = choose_challenge(answer, algorithm or self.algorithm)
            auth = authorization(challenge, username, password, "REGISTER", f"sip:{REALM}")
        raise AssertionError("unreachable")

    async def request(
        self, method: str, ruri: str, headers: list[str], *, body: bytes = b"",
        call_id: str | None = None, from_tag: str | None = None, to_uri: str | None = None,
        to_tag: str | None = None, cseq: int = 1, timeout: float = 3.0,
    ) -> Msg:  # fmt: skip
        """Send, answer a 401 challenge once with digest, return the final response
        (TimeoutError when none comes); the response carries the request's Call-ID,
        From tag and CSeq as X-Call-ID, X-From-Tag and X-CSeq."""
        call_id = call_id or os.urandom(8).hex()
        from_tag = from_tag or os.urandom(4).hex()
        auth: str | None = None
        for _ in range(2):
            branch = "z9hG4bK" + os.urandom(8).hex()
            to = f"<{to_uri or ruri}>" + (f";tag={to_tag}" if to_tag else "")
            lines = [
                f"{method} {ruri} SIP/2.0",
                f"Via: SIP/2.0/{self.transport.upper()} {self.local_ip}:{self.local_port};branch={branch};rport",
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
                self.authorized_call_id = call_id
            lines += [f"Content-Length: {len(body)}", "", ""]
            response = await self._exchange("\r\n".join(lines).encode() + body, branch, timeout)
            if response.status != 401 or auth:
                response.headers["x-call-id"] = [call_id]
                response.headers["x-from-tag"] = [from_tag]
                response.headers["x-cseq"] = [str(cseq)]
                return response
            challenge = choose_challenge(response, self.algorithm)
            auth = authorization(
                challenge, self.username, self.password, method, ruri, cnonce=os.urandom(4).hex()
            )
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
