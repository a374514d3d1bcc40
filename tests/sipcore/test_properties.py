"""Hypothesis properties of the parser: round-trip, and nothing but SipParseError escapes."""

from __future__ import annotations

import contextlib
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipcore.digest import DigestAuthenticator, DigestOutcome, parse_authorization
from sipcore.errors import FramingError, SipParseError
from sipcore.framing import FramedMessage, StreamFramer
from sipcore.headers import Headers, NameAddr, Via, header_key, parse_name_addr, parse_via
from sipcore.message import SipRequest, SipResponse
from sipcore.parser import parse_message
from sipcore.uri import SipUri, _parse_sip, _parse_sip_general, parse_uri
from tests.support import sip_samples as samples

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

TOKEN_CHARS = string.ascii_letters + string.digits + "-.!%*_+`'~"
tokens = st.text(TOKEN_CHARS, min_size=1, max_size=12)
user_text = st.text(string.ascii_letters + string.digits + "-_.!~*'()&=+$,;?/", min_size=1,
                    max_size=16)  # fmt: skip
labels = st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=10)
hostnames = st.lists(labels, min_size=1, max_size=3).map(".".join)
ipv4 = st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))
ipv6 = st.lists(st.integers(0, 0xFFFF), min_size=8, max_size=8).map(
    lambda parts: ":".join(f"{p:x}" for p in parts)
)
hosts = st.one_of(hostnames, ipv4, ipv6)
ports = st.none() | st.integers(1, 65535)
pchars = st.text(string.ascii_letters + string.digits + "-_.!~*'()[]/:&+$", min_size=1,
                 max_size=8)  # fmt: skip
uri_params = st.lists(st.tuples(pchars, st.none() | pchars), max_size=3).map(tuple)

sip_uris = st.builds(
    SipUri,
    scheme=st.sampled_from(["sip", "sips"]),
    user=st.none() | user_text,
    host=hosts,
    port=ports,
    params=uri_params,
)
# A display name: any text but control characters (it is quoted on the way out).
display_names = st.none() | st.text(
    st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=20
).filter(lambda s: s == s.strip(" \t") and s.strip())
gen_values = st.one_of(
    tokens,
    st.text(st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters='"\\'),
            max_size=12).map(lambda s: f'"{s}"'),
)  # fmt: skip
header_params = st.lists(st.tuples(tokens, st.none() | gen_values), max_size=3).map(tuple)
name_addrs = st.builds(NameAddr, display_name=display_names, uri=sip_uris, params=header_params)
vias = st.builds(
    Via,
    transport=st.sampled_from(["UDP", "TCP", "TLS", "WS", "WSS"]),
    host=hosts,
    port=ports,
    params=st.lists(st.tuples(tokens, st.none() | tokens), max_size=3).map(
        lambda p: (("branch", "z9hG4bK" + "x" * len(p)), *p)
    ),
)
header_values = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=30).map(
    lambda s: s.strip(" \t")
)
RESERVED = {"content-length", "via", "from", "to", "call-id", "cseq"}
extra_headers = st.lists(
    st.tuples(tokens.filter(lambda n: header_key(n) not in RESERVED), header_values),
    max_size=6,
)


@FAST
@given(uri=sip_uris)
def test_uri_round_trip(uri: SipUri) -> None:
    assert parse_uri(str(uri)) == uri


@FAST
@given(address=name_addrs)
def test_name_addr_round_trip(address: NameAddr) -> None:
    assert parse_name_addr(str(address)) == address


@FAST
@given(via=vias)
def test_via_round_trip(via: Via) -> None:
    assert parse_via(str(via)) == via


@st.composite
def requests(draw: st.DrawFn) -> SipRequest:
    method = draw(tokens)
    headers = [
        ("Via", str(draw(vias))),
        ("From", str(draw(name_addrs))),
        ("To", str(draw(name_addrs))),
        ("Call-ID", draw(tokens)),
        ("CSeq", f"{draw(st.integers(0, 2**31 - 1))} {method}"),
        *draw(extra_headers),
    ]
    headers = draw(st.permutations(headers))
    body = draw(st.binary(max_size=40))
    headers.append(("Content-Length", str(len(body))))
    return SipRequest(method=method, uri=str(draw(sip_uris)), headers=Headers(headers), body=body)


@FAST
@given(message=requests())
def test_request_round_trip(message: SipRequest) -> None:
    for stream in (False, True):
        parsed = parse_message(message.to_bytes(), stream=stream)
        assert parsed == message
        assert parsed.from_() == parse_name_addr(message.headers.get("From") or "")
        assert str(parsed.top_via()) == message.headers.get("Via")


@FAST
@given(
    status=st.integers(100, 699),
    reason=header_values,
    headers=extra_headers,
    body=st.binary(max_size=20),
)
def test_response_round_trip(
    status: int, reason: str, headers: list[tuple[str, str]], body: bytes
) -> None:
    message = SipResponse(
        status=status, reason=reason, headers=Headers([*headers, ("l", str(len(body)))]),
        body=body,
    )  # fmt: skip
    assert parse_message(message.to_bytes()) == message


def exercise(data: bytes) -> None:
    """Parse and read every typed view; only SipParseError may come out."""
    try:
        message = parse_message(data)
    except SipParseError:
        return
    for view in (
        message.cseq, message.vias, message.top_via, message.from_, message.to,
        message.contacts, message.expires, message.max_forwards,
    ):  # fmt: skip
        with contextlib.suppress(SipParseError):
            view()
    if isinstance(message, SipRequest):
        with contextlib.suppress(SipParseError):
            message.request_uri()
    message.to_bytes()


@settings(max_examples=400, deadline=None)
@given(data=st.binary(max_size=300))
def test_arbitrary_bytes_only_raise_parse_errors(data: bytes) -> None:
    exercise(data)


BASE = samples.SNOM_REGISTER


@settings(max_examples=400, deadline=None)
@given(
    edits=st.lists(
        st.tuples(st.integers(0, len(BASE)), st.integers(0, 8), st.binary(max_size=6)),
        min_size=1,
        max_size=4,
    )
)
def test_mutated_registers_only_raise_parse_errors(edits: list[tuple[int, int, bytes]]) -> None:
    data = BASE
    for position, cut, insert in edits:
        data = data[:position] + insert + data[position + cut :]
    exercise(data)


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=60))
def test_header_value_parsers_only_raise_parse_errors(text: str) -> None:
    for parser in (parse_name_addr, parse_via, parse_uri):
        with contextlib.suppress(SipParseError):
            parser(text)


AUTHENTICATOR = DigestAuthenticator(b"k" * 32, "sipfleet.test")
auth_texts = st.one_of(
    st.text(max_size=200),
    st.lists(
        st.tuples(
            st.sampled_from(
                ["username", "realm", "nonce", "uri", "response", "algorithm", "qop", "nc",
                 "cnonce", "opaque", "userhash", "x"]
            ),
            st.one_of(tokens, st.text(max_size=70).map(lambda s: '"' + s.replace('"', "") + '"')),
        ),
        max_size=12,
    ).map(lambda pairs: "Digest " + ", ".join(f"{k}={v}" for k, v in pairs)),
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(text=auth_texts, known=st.booleans())
def test_authorization_input_only_raises_parse_errors(text: str, known: bool) -> None:
    try:
        creds = parse_authorization(text)
    except SipParseError:
        return
    outcome = AUTHENTICATOR.verify(
        creds, method="REGISTER", ha1="0" * 32 if known else None, now=1000.0,
        request_uri="sip:sipfleet.test",
    )  # fmt: skip
    assert outcome is not DigestOutcome.OK


@settings(max_examples=300, deadline=None)
@given(chunks=st.lists(st.binary(max_size=80), max_size=10))
def test_framer_only_raises_framing_errors(chunks: list[bytes]) -> None:
    framer = StreamFramer(max_size=512)
    try:
        for chunk in chunks:
            for event in framer.feed(chunk):
                if isinstance(event, FramedMessage):
                    exercise(event.data)
    except FramingError:
        pass
    assert framer.buffered <= 512 + 80


@FAST
@given(uri=sip_uris)
def test_common_uri_path_agrees_with_the_general_one(uri: SipUri) -> None:
    text = str(uri)
    scheme, _, rest = text.partition(":")
    assert _parse_sip(scheme, rest, text) == _parse_sip_general(scheme, rest, text) == uri
