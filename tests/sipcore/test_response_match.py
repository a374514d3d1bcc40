"""The two readers of a response's client-transaction key (RFC 3261 §17.1.3) agree.

`read_response` (raw bytes, no parse) must give the status and key that `response_key`
gives on the parsed message — or None, leaving it to the full parse. Hypothesis writes
responses in many valid spellings (compact and any-case names, space around the colon
and the Via parameters, several Vias on one line or several lines, header order, folded
lines, quoted parameter values) and holds the two equal; a few plain spellings must be
read by the fast reader (else it would be trivially None).
"""

from __future__ import annotations

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipcore.errors import SipParseError
from sipcore.message import SipResponse
from sipcore.parser import parse_message
from sipcore.response_match import cseq_method, read_response, response_key, top_via_value
from tests.support import sip_samples as samples

TOKEN = string.ascii_letters + string.digits + "-.!%*_+`'~"
tokens = st.text(TOKEN, min_size=1, max_size=10)
hosts = st.one_of(
    st.lists(st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=8),
             min_size=1, max_size=3).map(".".join),
    st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t))),
    st.just("[2001:db8::1]"),
)  # fmt: skip
semis = st.sampled_from([";", " ;", "; ", " ; "])
equals = st.sampled_from(["=", " =", "= ", " = "])
colons = st.sampled_from([": ", ":", " : ", ":\t", ":  "])
quoted = st.sampled_from(['"a;branch=z9hG4bKfake"', '"x,y"', '"plain"'])


@st.composite
def via_values(draw: st.DrawFn) -> str:
    transport = draw(st.sampled_from(["UDP", "TCP", "TLS", "udp", "WS"]))
    port = draw(st.none() | st.integers(1, 65535))
    sent_by = draw(hosts) + ("" if port is None else f":{port}")
    params: list[str] = []
    for name, value in draw(st.lists(st.tuples(tokens, st.none() | tokens | quoted), max_size=3)):
        if name.lower() == "branch":
            continue
        params.append(name if value is None else f"{name}{draw(equals)}{value}")
    if draw(st.booleans()) or not params:  # a branch most of the time
        branch = draw(st.sampled_from(["z9hG4bK", "z9hG4bKsf1a2b3x", ""])) + draw(tokens)
        name = draw(st.sampled_from(["branch", "branch", "Branch"]))
        params.insert(draw(st.integers(0, len(params))), f"{name}{draw(equals)}{branch}")
    return f"SIP/2.0/{transport} {sent_by}" + "".join(f"{draw(semis)}{p}" for p in params)


@st.composite
def responses(draw: st.DrawFn) -> bytes:
    status = draw(st.integers(100, 699) | st.integers(0, 999).map(lambda n: f"{n:03d}"))
    reason = draw(st.sampled_from(["OK", "Trying", "Not Found", "", "Busy Here"]))
    vias = draw(st.lists(via_values(), min_size=1, max_size=3))
    if draw(st.booleans()):  # one line, comma-separated
        separator = draw(st.sampled_from([",", ", ", " , ", ",\r\n "]))  # the last folds
        via_lines = [(draw(st.sampled_from(["Via", "v", "VIA", "via", "V"])), separator.join(vias))]
    else:
        via_lines = [(draw(st.sampled_from(["Via", "v", "via"])), value) for value in vias]
    method = draw(st.sampled_from(["NOTIFY", "OPTIONS", "notify", "NOT IFY", "NOTIFÝ"]) | tokens)
    number = draw(st.integers(0, 2**31 - 1) | st.integers(2**31, 10**11) | st.just("0x1"))
    cseq = f"{number}{draw(st.sampled_from([' ', '  ', chr(9)]))}{method}"
    others = [
        (draw(st.sampled_from(["From", "f", "from"])), "<sip:sipfleet.test>;tag=a"),
        (draw(st.sampled_from(["To", "t"])), "<sip:alice@example.com>;tag=b"),
        (draw(st.sampled_from(["Call-ID", "i", "call-id"])), draw(tokens) + "@host"),
        (draw(st.sampled_from(["CSeq", "cseq", "CSEQ"])), cseq),
        *draw(st.lists(st.tuples(st.sampled_from(["Server", "X-Via", "Vias", "Cseqx"]), tokens),
                       max_size=2)),
        *draw(st.lists(st.tuples(st.sampled_from(["cseq", "CSeq", "Via", "v"]),
                                 st.sampled_from(["2 OPTIONS", "SIP/2.0/UDP h;branch=z9hG4bK2"])),
                       max_size=1)),  # a second CSeq or Via line (the first one counts)
    ]  # fmt: skip
    lines = draw(st.permutations(others))
    at = draw(st.integers(0, len(lines)))
    lines[at:at] = via_lines  # the Via lines keep their order (the top one first)
    head = [f"SIP/2.0 {status} {reason}"]
    head += [f"{name}{draw(colons)}{value}" for name, value in lines]
    return ("\r\n".join(head) + "\r\nContent-Length: 0\r\n\r\n").encode()


def parsed_key(data: bytes) -> tuple[int, tuple[str, str] | None] | None:
    """The reference: status and key from the full parse (None if it refuses the message)."""
    try:
        message = parse_message(data)
    except SipParseError:
        return None
    assert isinstance(message, SipResponse)
    return message.status, response_key(message)


FAST = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(data=responses())
def test_byte_reader_agrees_with_the_parsed_key(data: bytes) -> None:
    fast = read_response(data)
    if fast is None:
        return  # the full parse decides
    reference = parsed_key(data)
    assert reference is not None, "read from bytes the parser refuses"
    assert fast == reference


def test_plain_spellings_are_read_without_the_parse() -> None:
    cases = [
        samples.RESPONSE_200,
        # a phone that copies our Via and writes compact names (presence's "compact")
        b"SIP/2.0 200 OK\r\nv: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKab1;rport=5060\r\n"
        b"f: <sip:a@b>;tag=1\r\nt: <sip:c@d>;tag=2\r\ni: x@y\r\nCSeq: 7 NOTIFY\r\nl: 0\r\n\r\n",
        # lowercase names, another header first, space before the colons ("loose")
        b"SIP/2.0 100 Trying\r\nserver :  T/1\r\nvia :  SIP/2.0/UDP h;branch=z9hG4bKab1\r\n"
        b"cseq :  7 NOTIFY\r\nfrom :  <sip:a@b>;tag=1\r\nto :  <sip:c@d>\r\ncall-id :  x\r\n"
        b"content-length :  0\r\n\r\n",
    ]
    for data in cases:
        fast = read_response(data)
        assert fast is not None and fast == parsed_key(data)
    assert read_response(samples.RESPONSE_200) == (200, ("z9hG4bKnotify1", "NOTIFY"))


def test_unusual_heads_are_left_to_the_parse() -> None:
    base = samples.RESPONSE_200
    for data in (
        base.replace(b"\r\n\r\n", b"\r\n"),  # no blank line
        base.replace(b";branch=z9hG4bKnotify1", b""),  # no branch
        base.replace(
            b"Via: SIP/2.0/UDP 203.0.113.5:5060;",
            b"Via: SIP/2.0/UDP 10.9.9.9, SIP/2.0/UDP 203.0.113.5:5060;",
        ),
        base.replace(b"5060;branch", b"5060\r\n ;branch"),  # folded
        base.replace(b"CSeq: 4 NOTIFY", b"CSeq: 4\r\n NOTIFY"),  # folded CSeq
        base.replace(b"CSeq: 4 NOTIFY", b"CSeq: four NOTIFY"),
        base.replace(b"SIP/2.0 200 OK", b"SIP/2.0 2000 OK"),
        base.replace(b"Via:", b"Via-Ext: x\r\nVia:"),  # a header only named like it first
    ):
        assert read_response(data) is None, data


def test_line_readers() -> None:
    head = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nCSeq: 1 OPTIONS"
    assert top_via_value(head) == b"SIP/2.0/UDP h;branch=z9hG4bK1"
    assert cseq_method(head) == "OPTIONS"
    assert top_via_value(b"SIP/2.0 200 OK\r\nTo: x") is None
    assert cseq_method(b"SIP/2.0 200 OK\r\nCSeq: 1 OPTIONS extra") is None
