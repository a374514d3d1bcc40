"""Parse one whole SIP message from bytes (RFC 3261 §7, §25).

Public API:
    MAX_MESSAGE_SIZE = 65536
    parse_message(data: bytes, *, stream: bool = False) -> SipRequest | SipResponse
        `data` is one datagram, or one message cut by `framing.StreamFramer` (then pass
        stream=True: Content-Length is mandatory, §18.3 / §20.14).
        Raises only SipParseError (or a subclass): 413 MessageTooLarge over 64 KiB,
        505 VersionNotSupported, 416 UnsupportedUriScheme for a Request-URI that is not
        sip/sips, 400 otherwise. When the start line and header lines were readable the
        error's `.partial` holds the request so a response can still be addressed.

What is checked up front (cheap, and needed to answer at all): the start line, every
header line (field-name is a token; folded continuation lines §7.3.1 are joined with one
space), UTF-8, the Request-URI scheme, Content-Length against the body, and for requests
the §8.1.1 headers Via, From, To, Call-ID, CSeq (CSeq's method must match, §8.1.1.5),
with CSeq and the top Via parsed and cached. Other header values are parsed on first use.
Leading CRLFs before the start line are skipped (§7.5). A datagram body longer than
Content-Length is truncated to it (§18.3).
"""

from __future__ import annotations

import re

from sipcore.errors import (
    MessageTooLarge,
    SipParseError,
    UnsupportedUriScheme,
    VersionNotSupported,
)
from sipcore.headers import COMPACT_FORMS, Headers, header_key, parse_cseq, parse_via, split_values
from sipcore.message import SIP_VERSION, SipRequest, SipResponse, _new_request

MAX_MESSAGE_SIZE = 65536

# Method = token; Request-URI has no whitespace; SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT
_METHOD = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
_URI_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*")
_VERSION = re.compile(r"SIP/[0-9]+\.[0-9]+", re.IGNORECASE)
_WS = " \t"
_REQUIRED = ("via", "from", "to", "call-id", "cseq")

# The long forms of the most common names map to themselves without a regex check.
_KNOWN_KEYS: dict[str, str] = {}
for _name in (
    "Via", "From", "To", "Call-ID", "Call-Id", "CSeq", "Contact", "Max-Forwards", "Expires",
    "User-Agent", "Content-Length", "Content-Type", "Authorization", "Allow", "Supported",
    "Route", "Record-Route", "Event", "Accept", "Server", "Require", "Proxy-Authorization",
):  # fmt: skip
    _KNOWN_KEYS[_name] = _name.lower()
    _KNOWN_KEYS[_name.lower()] = _name.lower()
for _short, _long in COMPACT_FORMS.items():
    _KNOWN_KEYS[_short] = _long
    _KNOWN_KEYS[_short.upper()] = _long


def parse_message(data: bytes, *, stream: bool = False) -> SipRequest | SipResponse:
    """Parse one message; see the module docstring for what is validated."""
    if len(data) > MAX_MESSAGE_SIZE:
        raise MessageTooLarge(f"message of {len(data)} bytes is over {MAX_MESSAGE_SIZE}")
    if data[:2] == b"\r\n":
        data = data.lstrip(b"\r\n")
    end = data.find(b"\r\n\r\n")
    if end < 0:
        raise SipParseError("no empty line after the headers")
    head = data[:end]
    # A bare CR or LF inside the head would change meaning when written back.
    if head.count(b"\n") != head.count(b"\r") or b"\x00" in head:
        raise SipParseError("bare CR or LF in the header section")
    try:
        text = head.decode()
    except UnicodeDecodeError:
        raise SipParseError("header section is not UTF-8") from None
    lines = text.split("\r\n")
    try:
        items, index = _parse_header_lines(lines)
    except SipParseError:
        # A continuation line (§7.3.1) never reads as "token:", so folded messages land
        # here; unfold and try once more (rare, so the common path never looks for it).
        if not any(line.startswith((" ", "\t")) for line in lines[1:]):
            raise
        items, index = _parse_header_lines(_unfold(lines))
    headers = Headers._trusted(items, index)
    body = data[end + 4 :]
    first = lines[0]
    if first[:4].upper() == "SIP/":
        response = _response(first, headers, body)
        response_body = _checked_body(response.body, index, stream, None)
        if response_body is not response.body:
            response = SipResponse(
                status=response.status, reason=response.reason, headers=headers,
                body=response_body, version=response.version,
            )  # fmt: skip
        return response
    return _request(first, headers, index, body, stream)


def _parse_header_lines(
    lines: list[str],
) -> tuple[tuple[tuple[str, str], ...], dict[str, list[str]]]:
    """message-header = field-name HCOLON field-value CRLF (§7.3.1). The head was cut at
    the first empty line, so no line is empty."""
    items: list[tuple[str, str]] = []
    index: dict[str, list[str]] = {}
    known = _KNOWN_KEYS.get
    ws = _WS
    it = iter(lines)
    next(it)  # the start line
    for line in it:
        name, colon, value = line.partition(":")
        if not colon:
            raise SipParseError(f"header line without colon: {line[:30]!r}")
        key = known(name)
        if key is None:
            name = name.rstrip(ws)
            key = header_key(name)
        value = value.strip(ws)
        items.append((name, value))
        if key in index:
            index[key].append(value)
        else:
            index[key] = [value]
    return tuple(items), index


def _unfold(lines: list[str]) -> list[str]:
    """§7.3.1: a line starting with SP or HTAB continues the previous one; the line break
    and the leading whitespace become one SP."""
    out = [lines[0]]
    for line in lines[1:]:
        if line[0] in _WS:
            if len(out) == 1:
                raise SipParseError("continuation line before any header")
            out[-1] = out[-1].rstrip(_WS) + " " + line.strip(_WS)
        else:
            out.append(line)
    return out


def _response(first: str, headers: Headers, body: bytes) -> SipResponse:
    # Status-Line = SIP-Version SP Status-Code SP Reason-Phrase CRLF
    version, _, rest = first.partition(" ")
    code, _, reason = rest.partition(" ")
    if not _VERSION.fullmatch(version):
        raise SipParseError("bad SIP version in status line")
    if len(code) != 3 or not code.isdigit() or not code.isascii() or code[0] not in "123456":
        raise SipParseError("bad status code")
    return SipResponse(
        status=int(code), reason=reason, headers=headers, body=body, version=version.upper()
    )


def _request(
    first: str, headers: Headers, index: dict[str, list[str]], body: bytes, stream: bool
) -> SipRequest:
    # Request-Line = Method SP Request-URI SP SIP-Version CRLF
    parts = first.split(" ")
    if len(parts) != 3 or not _METHOD.fullmatch(parts[0]):
        raise SipParseError("bad request line")
    method, uri, version = parts
    request = _new_request(method, uri, headers, body, version, {})
    if version != SIP_VERSION:
        if not _VERSION.fullmatch(version):
            raise SipParseError("bad SIP version in request line", partial=request)
        if version.upper() != SIP_VERSION:
            raise VersionNotSupported(f"SIP version {version[:12]!r}", partial=request)
    checked = _checked_body(body, index, stream, request)
    if checked is not body:
        request = _new_request(method, uri, headers, checked, version, {})
    _check_request_headers(request, index)
    scheme, colon, rest = uri.partition(":")
    lscheme = scheme.lower()
    if lscheme != "sip" and lscheme != "sips":
        if not colon or not rest or not _URI_SCHEME.fullmatch(scheme) or "\t" in uri:
            raise SipParseError("bad Request-URI", partial=request)
        raise UnsupportedUriScheme(f"URI scheme {lscheme[:20]!r}", partial=request)
    if not rest or "\t" in rest:
        raise SipParseError("bad Request-URI", partial=request)
    return request


def _check_request_headers(request: SipRequest, index: dict[str, list[str]]) -> None:
    """§8.1.1: the headers every request carries; CSeq and top Via parsed and cached."""
    for key in _REQUIRED:
        if key not in index:
            raise SipParseError(f"missing {key} header", partial=request)
    try:
        cseq = parse_cseq(index["cseq"][0])
        vias = split_values(index["via"][0])
        if not vias:
            raise SipParseError("empty Via header")
        via = parse_via(vias[0])
    except SipParseError as error:
        raise SipParseError(error.reason, partial=request) from None
    if cseq.method != request.method:
        raise SipParseError("CSeq method does not match the request", partial=request)
    request._cache["cseq"] = cseq
    request._cache["via"] = via


def _checked_body(
    body: bytes, index: dict[str, list[str]], stream: bool, partial: SipRequest | None
) -> bytes:
    """Content-Length (§20.14): mandatory on streams; a datagram may carry more bytes
    (truncated, §18.3) but not fewer (400)."""
    lengths = index.get("content-length")
    if not lengths:
        if stream:
            raise SipParseError("missing Content-Length on a stream", partial=partial)
        return body
    text = lengths[0]
    if (
        not text.isdigit()
        or not text.isascii()
        or len(text) > 6
        or (len(lengths) > 1 and any(item != text for item in lengths[1:]))
    ):
        raise SipParseError("bad Content-Length", partial=partial)
    length = int(text)
    if length > len(body):
        raise SipParseError("body shorter than Content-Length", partial=partial)
    if length < len(body):
        return body[:length]
    return body
