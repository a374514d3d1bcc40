"""A fast path for the common UDP REGISTER: one pass over the datagram, or None.

Public API:
    parse_udp_register(data, source_ip, source_port) -> SipRequest | None
        The request `with_received(parse_message(data), source_ip, source_port)` would give
        (same method, Request-URI, header lines in order, index, body, cached CSeq and
        stamped top Via), built with less work; None for anything the fast path does not
        vouch for, and then the caller runs the full parser, which decides (and answers
        errors). Never raises.

Why: a registrar under a registration storm parses two REGISTERs per registration, all
of the same plain shape. The full parser (`sipcore.parser`) handles every spelling RFC 3261
allows — compact forms, folding, any whitespace, bodies, streams — and the Via is then
stamped by rebuilding the header list a second time. Here only the plain shape is accepted:

- the datagram is ASCII, without NUL, TAB or a bare CR/LF, ends with the empty line
  (no body) and is not over `MAX_MESSAGE_SIZE`;
- the request line is exactly `REGISTER <sip:|sips:uri> SIP/2.0`;
- every header line is `Name: value` with a name from `_NAMES` spelled exactly so, a
  value without leading or trailing spaces, and no name twice (so one Via, one Contact;
  Require / Proxy-Require and anything unknown go to the full parser);
- Via, From, To, Call-ID and CSeq are there; the Via and Contact have no comma (one
  element each); the CSeq is `<number> REGISTER`; Content-Length, if sent, is `0`.
Everything else — including what would be a 400 — returns None: the fast path never
answers, so the full parser stays the one source of errors. `tests/sipcore/test_fastreg.py`
checks with generated messages that an accepted request equals the full parser's.
"""

from __future__ import annotations

import re

from sipcore.errors import SipParseError
from sipcore.headers import Headers, Via, parse_cseq, parse_via
from sipcore.message import SipRequest, _new_request
from sipcore.parser import MAX_MESSAGE_SIZE

# The exact spellings accepted, and their index keys (as the full parser would key them).
_NAMES: dict[str, str] = {
    name: name.lower()
    for name in (
        "Via", "From", "To", "Call-ID", "CSeq", "Contact", "Max-Forwards", "Expires",
        "User-Agent", "Content-Length", "Authorization", "Allow", "Supported", "Accept",
        "Allow-Events", "Event",
    )
}  # fmt: skip
_NAMES["Call-Id"] = "call-id"
_REQUIRED = frozenset({"via", "from", "to", "call-id", "cseq"})
_END = b"\r\n\r\n"
_HEADER_LINE = re.compile(r"\r\n([A-Za-z\-]++): ")
# The Via phones send: what `parse_via` makes of it is known without its general pattern.
_PLAIN_VIA = re.compile(
    r"SIP/2\.0/(UDP|TCP|TLS) ([A-Za-z0-9\-.]++):([0-9]{1,5}+)"
    r";branch=([A-Za-z0-9\-.!%*_+`'~]++)(;rport)?+"
)
_new = object.__new__
_set_protocol = Via.__dict__["protocol"].__set__
_set_transport = Via.__dict__["transport"].__set__
_set_host = Via.__dict__["host"].__set__
_set_port = Via.__dict__["port"].__set__
_set_params = Via.__dict__["params"].__set__


def parse_udp_register(data: bytes, source_ip: str, source_port: int) -> SipRequest | None:
    """See the module docstring; None means "use the full parser"."""
    if (
        not data.startswith(b"REGISTER ")
        or not data.endswith(_END)
        or len(data) > MAX_MESSAGE_SIZE
        or not data.isascii()
    ):
        return None
    head = data[:-4].decode("ascii")  # request line and header lines, CRLF between them
    crlf = head.count("\r\n")  # the number of header lines
    if (
        head.count("\r") != crlf
        or head.count("\n") != crlf
        or "\x00" in head
        or "\t" in head
        or " \r\n" in head  # a value ending in a space, or an empty one
        or head.endswith(" ")  # the same on the last line
        or ":  " in head  # a value starting with one (or such text inside: also declined)
    ):
        return None
    # [request line, name, value, name, value, ...]: a line not `Name: value` with a name
    # of letters and dashes does not split, and the count tells
    fields = _HEADER_LINE.split(head)
    if len(fields) != 2 * crlf + 1:
        return None
    parts = fields[0].split(" ")
    if len(parts) != 3 or parts[2] != "SIP/2.0":
        return None
    uri = parts[1]
    if not (uri.startswith("sip:") and len(uri) > 4) and not (
        uri.startswith("sips:") and len(uri) > 5
    ):
        return None
    items = list(zip(fields[1::2], fields[2::2], strict=True))
    try:
        index = {_NAMES[name]: [value] for name, value in items}
    except KeyError:
        return None  # a name spelled otherwise, or one the fast path does not know
    if len(index) != len(items) or not _REQUIRED.issubset(index):
        return None  # a header twice, or one of §8.1.1's missing
    length = index.get("content-length")
    if length is not None and length[0] != "0":
        return None
    via_text = index["via"][0]
    contact = index.get("contact")
    if "," in via_text or (contact is not None and "," in contact[0]):
        return None
    try:
        cseq = parse_cseq(index["cseq"][0])
        plain = _stamped_plain_via(via_text, source_ip, source_port)
        if plain is None:
            via = parse_via(via_text)
            stamped = via.with_received(source_ip, source_port)
            line = str(stamped) if stamped is not via else None
        else:
            stamped, line = plain
    except SipParseError:
        return None
    if cseq.method != "REGISTER":
        return None
    if line is not None:
        index["via"] = [line]
        for i, item in enumerate(items):
            if item[0] == "Via":
                items[i] = ("Via", line)
                break
    headers = Headers._trusted(tuple(items), index)
    return _new_request("REGISTER", uri, headers, b"", "SIP/2.0", {"cseq": cseq, "via": stamped})


def _stamped_plain_via(
    text: str, source_ip: str, source_port: int
) -> tuple[Via, str | None] | None:
    """For `SIP/2.0/UDP host:port;branch=x[;rport]`: what
    `parse_via(text).with_received(source_ip, source_port)` gives, and the stamped line
    (None when unchanged), written without the general parameter code; else None."""
    match = _PLAIN_VIA.fullmatch(text)
    if match is None:
        return None
    transport, host, port, branch, rport = match.groups()
    number = int(port)
    if number > 65535:
        return None
    via: Via = _new(Via)
    _set_protocol(via, "SIP/2.0")
    _set_transport(via, transport)
    _set_host(via, host)
    _set_port(via, number)
    # RFC 3581 §4: an empty rport is filled in, and then received is always added;
    # §18.2.1: otherwise received only when the sent-by host is not the source address.
    if rport:
        filled = str(source_port)
        _set_params(via, (("branch", branch), ("rport", filled), ("received", source_ip)))
        return via, f"{text}={filled};received={source_ip}"
    if host != source_ip:
        _set_params(via, (("branch", branch), ("received", source_ip)))
        return via, f"{text};received={source_ip}"
    _set_params(via, (("branch", branch),))
    return via, None
