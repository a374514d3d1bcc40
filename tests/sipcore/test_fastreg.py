"""`sipcore.fastreg`: whenever the UDP REGISTER fast path returns a request, it is the one
the full parser gives (then stamped by `with_received`); on anything unusual it says None.

Generated REGISTERs, plain and perturbed (compact names, folding, tabs, duplicated or
unknown headers, bodies, bytes inserted, replaced or dropped anywhere), are fed to both."""

from __future__ import annotations

import string
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipcore.errors import SipParseError
from sipcore.fastreg import parse_udp_register
from sipcore.message import SipRequest, with_received
from sipcore.parser import parse_message

MANY = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SOURCES = st.sampled_from([("127.0.0.1", 5060), ("192.0.2.7", 40123), ("::1", 5062)])
tokens = st.text(string.ascii_letters + string.digits + "-.!%*_+`'~", min_size=1, max_size=10)
users = st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=8)
hosts = st.sampled_from(["sip.example.com", "10.0.0.1", "[2001:db8::1]", "127.0.0.1"])
ports = st.sampled_from(["", ":5060", ":20001", ":0", ":99999"])
via_params = st.lists(
    st.sampled_from([";rport", ";rport=5060", ";received=10.0.0.9", ";alias", ';x="a b"']),
    max_size=2,
).map("".join)


@st.composite
def plain_register(draw: st.DrawFn) -> list[tuple[str, str]]:
    """The header lines of a REGISTER as phones send them (name, value)."""
    user = draw(users)
    host = draw(hosts)
    branch = "z9hG4bK" + draw(tokens)
    transport = draw(st.sampled_from(["UDP", "udp", "TCP"]))
    lines = [
        ("Via", f"SIP/2.0/{transport} {host}{draw(ports)};branch={branch}{draw(via_params)}"),
        ("Max-Forwards", draw(st.sampled_from(["70", "0", "x"]))),
        ("From", f"<sip:{user}@example.com>;tag={draw(tokens)}"),
        ("To", draw(st.sampled_from([f"<sip:{user}@example.com>", f'"A" <sip:{user}@x>']))),
        ("Call-ID", draw(tokens) + "@" + draw(hosts)),
        ("CSeq", f"{draw(st.integers(0, 2**32))} {draw(st.sampled_from(['REGISTER'] * 4 + ['INVITE']))}"),
        ("Contact", draw(st.sampled_from([
            f"<sip:{user}@{host}{draw(ports)};transport=udp>",
            f"<sip:{user}@{host}>;expires=60;q=0.5",
            "*",
            f'"Desk" <sip:{user}@{host}>;+sip.instance="<urn:uuid:1>";reg-id=1',
        ]))),
    ]  # fmt: skip
    optional = [
        ("Expires", draw(st.sampled_from(["3600", "0", "99999999999", "-1"]))),
        ("User-Agent", draw(st.sampled_from(["Yealink SIP-T54W 96.85.0.5", "sipp-bench"]))),
        ("Authorization", 'Digest username="u",realm="r",nonce="n",uri="sip:x",response="0"'),
        ("Allow", "INVITE, ACK, BYE"),
        ("Supported", "path, outbound"),
        ("Content-Length", draw(st.sampled_from(["0", "0", "00", "5"]))),
    ]
    lines += [item for item in optional if draw(st.booleans())]
    return draw(st.permutations(lines))


def assemble(uri: str, lines: list[tuple[str, str]], body: bytes = b"") -> bytes:
    head = "".join(f"{name}: {value}\r\n" for name, value in lines)
    return f"REGISTER {uri} SIP/2.0\r\n{head}\r\n".encode() + body


def full_parse(data: bytes, source: tuple[str, int]) -> SipRequest | None:
    try:
        message = parse_message(data)
        assert isinstance(message, SipRequest)
        return with_received(message, *source)
    except SipParseError:
        return None


def view(request: SipRequest, name: str) -> Any:
    try:
        return getattr(request, name)()
    except SipParseError as exc:
        return ("error", exc.reason)


def assert_same(fast: SipRequest, full: SipRequest) -> None:
    assert (fast.method, fast.uri, fast.version, fast.body) == (
        full.method, full.uri, full.version, full.body,
    )  # fmt: skip
    assert fast.headers.items == full.headers.items
    assert fast.headers._index == full.headers._index
    assert fast._cache == full._cache  # the parsed CSeq and the stamped top Via
    assert fast.to_bytes() == full.to_bytes()
    for name in ("top_via", "cseq", "from_", "to", "contacts", "expires", "max_forwards"):
        assert view(fast, name) == view(full, name), name
    assert fast.call_id == full.call_id and fast.user_agent == full.user_agent


def check(data: bytes, source: tuple[str, int]) -> SipRequest | None:
    fast = parse_udp_register(data, *source)
    if fast is not None:
        full = full_parse(data, source)
        assert full is not None, data
        assert_same(fast, full)
    return fast


@MANY
@given(plain_register(), st.sampled_from(["sip:example.com", "sips:example.com"]), SOURCES)
def test_plain_registers_equal_the_full_parser(
    lines: list[tuple[str, str]], uri: str, source: tuple[str, int]
) -> None:
    data = assemble(uri, lines)
    fast = check(data, source)
    full = full_parse(data, source)
    length = dict(lines).get("Content-Length", "0")
    cseq_ok = dict(lines)["CSeq"].endswith(" REGISTER")
    if full is not None and length == "0" and cseq_ok:
        assert fast is not None  # the common shape does take the fast path


PERTURBATIONS = st.sampled_from([
    ("Via", "v"), ("Contact", "m"), ("From", "f"), ("Call-ID", "i"), ("Call-ID", "CALL-ID"),
    ("Via: ", "Via:  "), ("Via: ", "Via :"), ("\r\nMax-Forwards", "\r\n Max-Forwards"),
    (": ", ":\t"), ("REGISTER ", "REGISTER  "), ("SIP/2.0\r\n", "SIP/2.1\r\n"),
    ("SIP/2.0\r\n", "sip/2.0\r\n"), ("sip:", "tel:"), ("sip:", "SIP:"),
    ("\r\nTo", "\r\nRequire: gruu\r\nTo"), ("\r\nTo", "\r\nX-Any: 1\r\nTo"),
    ("\r\nTo", "\r\nVia: SIP/2.0/UDP a;branch=z9hG4bKx\r\nTo"),
    ("\r\nTo", "\r\nContact: <sip:a@b>\r\nTo"), (">", ">,<sip:x@y>"), ("\r\n", "\n"),
    ("\r\n", "\r\n\r\n"), ("a", "\u00e9"), ("a", "\x00"), ("0", "\x7f"), (" ", ""),
    ("2.0/", "2.0 /"), ("tag=", "tag = "), ("CSeq: ", "CSeq: 99999999999 "),
])  # fmt: skip


@MANY
@given(plain_register(), SOURCES, st.lists(PERTURBATIONS, min_size=1, max_size=3),
       st.binary(max_size=8))  # fmt: skip
def test_perturbed_registers_are_the_full_parsers_or_none(
    lines: list[tuple[str, str]],
    source: tuple[str, int],
    edits: list[tuple[str, str]],
    tail: bytes,
) -> None:
    text = assemble("sip:example.com", lines).decode()
    for old, new in edits:
        text = text.replace(old, new, 1)
    check(text.encode() + tail, source)


@MANY
@given(plain_register(), SOURCES, st.data())
def test_bytes_changed_anywhere(
    lines: list[tuple[str, str]], source: tuple[str, int], data: st.DataObject
) -> None:
    raw = bytearray(assemble("sip:example.com", lines))
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(raw) - 1))
        kind = data.draw(st.sampled_from(["replace", "insert", "delete"]))
        byte = data.draw(st.sampled_from([*b' \t\r\n:;,<>"=@\x00\xff', ord("a")]))
        if kind == "replace":
            raw[at] = byte
        elif kind == "insert":
            raw.insert(at, byte)
        else:
            del raw[at]
    check(bytes(raw), source)


def test_the_benchmark_shape_takes_the_fast_path() -> None:
    data = (
        b"REGISTER sip:bench.test SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 127.0.0.1:20001;branch=z9hG4bK-20001-r0-1-2\r\n"
        b"Max-Forwards: 70\r\n"
        b"From: <sip:u1@bench.test>;tag=20001SIPpTag1\r\n"
        b"To: <sip:u1@bench.test>\r\n"
        b"Call-ID: r0-1@bench\r\n"
        b"CSeq: 2 REGISTER\r\n"
        b"Contact: <sip:u1@127.0.0.1:20001;transport=UDP>\r\n"
        b'Authorization: Digest username="u1",realm="bench.test",nonce="n",uri="sip:x"\r\n'
        b"Expires: 3600\r\n"
        b"User-Agent: sipp-bench\r\n"
        b"Content-Length: 0\r\n\r\n"
    )
    fast = check(data, ("10.1.2.3", 5999))
    assert fast is not None
    assert fast.top_via().received == "10.1.2.3"
    assert fast.header("via") == (
        "SIP/2.0/UDP 127.0.0.1:20001;branch=z9hG4bK-20001-r0-1-2;received=10.1.2.3"
    )
