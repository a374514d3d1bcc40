"""SIP requests and responses (RFC 3261 §7), their serialisation, and building new ones.

Public API:
    SipRequest(method, uri, headers, body=b"", version="SIP/2.0")     frozen dataclass
        uri is the Request-URI text; .request_uri() -> SipUri (416 for another scheme)
    SipResponse(status, reason, headers, body=b"", version="SIP/2.0")
    Both (typed views are parsed on first use and cached on the message; each raises
    SipParseError(400) on a malformed value):
        .headers: Headers      .header(name) -> str | None
        .call_id -> str        .cseq() -> CSeq          .vias() -> list[Via]
        .top_via() -> Via      .from_() -> NameAddr     .to() -> NameAddr
        .contacts() -> ContactList     .expires() -> int | None  (Expires header)
        .max_forwards() -> int | None  .user_agent -> str | None
        .to_bytes() -> bytes   writes every header back in order with its name as sent;
                               Content-Length is always (re)written as len(body)
    make_response(request, status, reason=None, *, headers=(), body=b"", to_tag=None)
        -> SipResponse    §8.2.6: copies every Via, From, To, Call-ID, CSeq; adds a To tag
                          (to_tag, or a random one) to any final-or-provisional response
                          above 100 whose To has none. `headers` = extra (name, value).
    response_bytes(request, status, reason=None, *, headers=(), to_tag=None) -> bytes
        the same bytes as make_response(...).to_bytes() (body-less), without building the
        response object: the registrar's 401 and 200 on the hot path.
    with_received(request, source_ip, source_port) -> SipRequest
        §18.2.1 / RFC 3581: the request with its top Via stamped with received/rport, so
        that responses made from it carry them.
    build_request(method, uri, *, via, from_, to, call_id, cseq, max_forwards=70,
                  contact=None, headers=(), body=b"") -> SipRequest
        an out-of-dialog or in-dialog request (NOTIFY, OPTIONS, …); from_/to/contact as
        NameAddr or text; in-dialog callers pass tags in from_/to and Route in headers.
    new_via(transport, host, port=None, *, branch=None, rport=True) -> Via
    new_branch() -> str ("z9hG4bK…", §8.1.1.7)   new_tag() -> str   new_call_id(host) -> str
    REASON_PHRASES: dict[int, str]
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sipcore.errors import SipParseError
from sipcore.headers import (
    ContactList,
    CSeq,
    Headers,
    NameAddr,
    Via,
    header_key,
    parse_contacts,
    parse_cseq,
    parse_delta_seconds,
    parse_name_addr,
    parse_via,
    split_values,
)
from sipcore.syntax import random_bytes
from sipcore.uri import SipUri, parse_sip_uri

SIP_VERSION = "SIP/2.0"
BRANCH_MAGIC = "z9hG4bK"

REASON_PHRASES: dict[int, str] = {
    100: "Trying",
    180: "Ringing",
    200: "OK",
    202: "Accepted",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    412: "Conditional Request Failed",
    413: "Request Entity Too Large",
    415: "Unsupported Media Type",
    416: "Unsupported URI Scheme",
    420: "Bad Extension",
    423: "Interval Too Brief",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    482: "Loop Detected",
    483: "Too Many Hops",
    489: "Bad Event",
    500: "Server Internal Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    504: "Server Time-out",
    505: "Version Not Supported",
    513: "Message Too Large",
}


class _MessageViews:
    """Typed header views shared by requests and responses, cached per message."""

    __slots__ = ()
    headers: Headers
    body: bytes
    _cache: dict[str, Any]

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def _required(self, key: str) -> str:
        value = self.headers._index.get(key)
        if not value:
            raise SipParseError(f"missing {key} header")
        return value[0]

    @property
    def call_id(self) -> str:
        return self._required("call-id")

    @property
    def user_agent(self) -> str | None:
        return self.headers.get("user-agent")

    def cseq(self) -> CSeq:
        found = self._cache.get("cseq")
        if found is None:
            found = self._cache["cseq"] = parse_cseq(self._required("cseq"))
        return found

    def vias(self) -> list[Via]:
        return [parse_via(item) for item in self.headers.values("via")]

    def top_via(self) -> Via:
        found = self._cache.get("via")
        if found is None:
            first = split_values(self._required("via"))
            if not first:
                raise SipParseError("empty Via header")
            found = self._cache["via"] = parse_via(first[0])
        return found

    def from_(self) -> NameAddr:
        found = self._cache.get("from")
        if found is None:
            found = self._cache["from"] = parse_name_addr(self._required("from"))
        return found

    def to(self) -> NameAddr:
        found = self._cache.get("to")
        if found is None:
            found = self._cache["to"] = parse_name_addr(self._required("to"))
        return found

    def contacts(self) -> ContactList:
        found = self._cache.get("contact")
        if found is None:
            found = self._cache["contact"] = parse_contacts(self.headers._index.get("contact", ()))
        return found

    def expires(self) -> int | None:
        value = self.headers.get("expires")
        return None if value is None else parse_delta_seconds(value)

    def max_forwards(self) -> int | None:
        value = self.headers.get("max-forwards")
        if value is None:
            return None
        value = value.strip()
        if not value.isdigit() or not value.isascii() or len(value) > 3:
            raise SipParseError("bad Max-Forwards")
        return int(value)

    def _serialize(self, start_line: str) -> bytes:
        body = self.body
        lines = [start_line]
        if "content-length" in self.headers._index:
            written = False
            for name, value in self.headers._items:
                if name in _CONTENT_LENGTH_NAMES or name.lower() in _CONTENT_LENGTH_NAMES:
                    if not written:
                        lines.append(f"{name}: {len(body)}")
                        written = True
                else:
                    lines.append(f"{name}: {value}")
        else:
            lines.extend([f"{name}: {value}" for name, value in self.headers._items])
            lines.append(f"Content-Length: {len(body)}")
        lines.append("\r\n")
        head = "\r\n".join(lines).encode()
        return head + body if body else head


_CONTENT_LENGTH_NAMES = frozenset({"content-length", "l"})


@dataclass(frozen=True, slots=True, kw_only=True)
class SipRequest(_MessageViews):
    """A request: Request-Line (§7.1), headers in order, body."""

    method: str
    uri: str
    headers: Headers
    body: bytes = b""
    version: str = SIP_VERSION
    _cache: dict[str, Any] = field(default_factory=dict, compare=False, repr=False, hash=False)

    def request_uri(self) -> SipUri:
        found = self._cache.get("ruri")
        if found is None:
            found = self._cache["ruri"] = parse_sip_uri(self.uri)
        return found

    def to_bytes(self) -> bytes:
        return self._serialize(f"{self.method} {self.uri} {self.version}")


@dataclass(frozen=True, slots=True, kw_only=True)
class SipResponse(_MessageViews):
    """A response: Status-Line (§7.2), headers in order, body."""

    status: int
    reason: str
    headers: Headers
    body: bytes = b""
    version: str = SIP_VERSION
    _cache: dict[str, Any] = field(default_factory=dict, compare=False, repr=False, hash=False)

    def to_bytes(self) -> bytes:
        return self._serialize(f"{self.version} {self.status} {self.reason}")


_new = object.__new__
_set_method = SipRequest.__dict__["method"].__set__
_set_uri = SipRequest.__dict__["uri"].__set__
_set_headers = SipRequest.__dict__["headers"].__set__
_set_body = SipRequest.__dict__["body"].__set__
_set_version = SipRequest.__dict__["version"].__set__
_set_cache = SipRequest.__dict__["_cache"].__set__


def _new_request(
    method: str, uri: str, headers: Headers, body: bytes, version: str, cache: dict[str, Any]
) -> SipRequest:
    """`SipRequest(...)` for the parser and `with_received`: the generated frozen-dataclass
    __init__ costs about 1 µs more per request (it sets each slot through
    object.__setattr__); this sets the same slots through their descriptors."""
    request: SipRequest = _new(SipRequest)
    _set_method(request, method)
    _set_uri(request, uri)
    _set_headers(request, headers)
    _set_body(request, body)
    _set_version(request, version)
    _set_cache(request, cache)
    return request


def new_branch() -> str:
    return BRANCH_MAGIC + random_bytes(10).hex()


def new_tag() -> str:
    return random_bytes(6).hex()


def new_call_id(host: str) -> str:
    return f"{random_bytes(12).hex()}@{host}"


def make_response(
    request: SipRequest,
    status: int,
    reason: str | None = None,
    *,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    to_tag: str | None = None,
) -> SipResponse:
    """Build a response per §8.2.6.2; raises SipParseError when the request lacks one of
    Via, From, To, Call-ID or CSeq (such a request cannot be answered, only dropped)."""
    index = request.headers._index
    vias = index.get("via")
    if not vias:
        raise SipParseError("missing via header")
    to_value = request._required("to")
    if status > 100 and ("tag" not in to_value.lower() or request.to().tag is None):
        to_value = f"{to_value};tag={to_tag or new_tag()}"
    from_value = request._required("from")
    call_id = request._required("call-id")
    cseq = request._required("cseq")
    items = [("Via", value) for value in vias]
    items += (("From", from_value), ("To", to_value), ("Call-ID", call_id), ("CSeq", cseq))
    response_index = {
        "via": list(vias), "from": [from_value], "to": [to_value], "call-id": [call_id],
        "cseq": [cseq],
    }  # fmt: skip
    for name, value in headers:
        items.append((name, value))
        key = header_key(name)
        found = response_index.get(key)
        if found is None:
            response_index[key] = [value]
        else:
            found.append(value)
    return SipResponse(
        status=status,
        reason=reason or REASON_PHRASES.get(status, "Unknown"),
        headers=Headers._trusted(tuple(items), response_index),
        body=body,
    )


def response_bytes(
    request: SipRequest,
    status: int,
    reason: str | None = None,
    *,
    headers: Iterable[tuple[str, str]] = (),
    to_tag: str | None = None,
) -> bytes:
    """`make_response(...).to_bytes()` for a response without a body, written straight
    from the request's header values (no Headers, no SipResponse: the hot path answers
    thousands of REGISTERs a second and never looks at its own response again)."""
    index = request.headers._index
    vias = index.get("via")
    if not vias:
        raise SipParseError("missing via header")
    to_value = request._required("to")
    if status > 100 and ("tag" not in to_value.lower() or request.to().tag is None):
        to_value = f"{to_value};tag={to_tag or new_tag()}"
    via_lines = vias[0] if len(vias) == 1 else "\r\nVia: ".join(vias)
    lines = [
        f"SIP/2.0 {status} {reason or REASON_PHRASES.get(status, 'Unknown')}\r\n"
        f"Via: {via_lines}\r\nFrom: {request._required('from')}\r\nTo: {to_value}\r\n"
        f"Call-ID: {request._required('call-id')}\r\nCSeq: {request._required('cseq')}"
    ]
    length_written = False
    for name, value in headers:
        if name in _CONTENT_LENGTH_NAMES or name.lower() in _CONTENT_LENGTH_NAMES:
            if not length_written:
                lines.append(name + ": 0")
                length_written = True
        else:
            lines.append(f"{name}: {value}")
    if not length_written:
        lines.append("Content-Length: 0")
    lines.append("\r\n")
    return "\r\n".join(lines).encode()


def with_received(request: SipRequest, source_ip: str, source_port: int) -> SipRequest:
    """The request with its topmost Via stamped (§18.2.1, RFC 3581 §4)."""
    top = request.top_via()
    stamped = top.with_received(source_ip, source_port)
    if stamped is top:
        return request
    items = list(request.headers.items)
    index = dict(request.headers._index)
    for i, (name, value) in enumerate(items):
        if name.lower() in ("via", "v"):
            rest = split_values(value)[1:]
            line = ", ".join([str(stamped), *rest]) if rest else str(stamped)
            items[i] = (name, line)
            index["via"] = [line, *index["via"][1:]]
            break
    cache = dict(request._cache)
    cache["via"] = stamped
    return _new_request(
        request.method, request.uri, Headers._trusted(tuple(items), index), request.body,
        request.version, cache,
    )  # fmt: skip


def new_via(
    transport: str, host: str, port: int | None = None, *, branch: str | None = None,
    rport: bool = True,
) -> Via:  # fmt: skip
    params: tuple[tuple[str, str | None], ...] = (("branch", branch or new_branch()),)
    if rport:
        params += (("rport", None),)
    return Via(transport=transport.upper(), host=host, port=port, params=params)


def build_request(
    method: str,
    uri: str | SipUri,
    *,
    via: Via,
    from_: NameAddr | str,
    to: NameAddr | str,
    call_id: str,
    cseq: int,
    max_forwards: int = 70,
    contact: NameAddr | str | None = None,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
) -> SipRequest:
    """A request with the §8.1.1 mandatory headers first, then `headers`, then the body."""
    if not 0 <= cseq < 2**31:
        raise ValueError("CSeq number out of range")
    items = [
        ("Via", str(via)),
        ("Max-Forwards", str(max_forwards)),
        ("From", str(from_)),
        ("To", str(to)),
        ("Call-ID", call_id),
        ("CSeq", f"{cseq} {method}"),
    ]
    if contact is not None:
        items.append(("Contact", str(contact)))
    items.extend(headers)
    return SipRequest(method=method, uri=str(uri), headers=Headers(items), body=body)
