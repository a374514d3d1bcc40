"""Responses, stamping and requests we build (RFC 3261 §8.1.1, §8.2.6, §18.2.1; RFC 3581)."""

from __future__ import annotations

import pytest

from sipcore.errors import SipParseError
from sipcore.headers import Headers, NameAddr, parse_name_addr
from sipcore.message import (
    build_request,
    make_response,
    new_via,
    response_bytes,
    with_received,
)
from sipcore.parser import parse_message
from sipcore.uri import SipUri
from tests.support import sip_samples as samples
from tests.support.sip_samples import request

ALL_SAMPLES = [
    samples.PJSUA_REGISTER,
    samples.YEALINK_REGISTER,
    samples.SNOM_REGISTER,
    samples.POLYCOM_REGISTER,
    samples.IPV6_REGISTER,
    samples.UNREGISTER_ALL,
    samples.OPTIONS_WITH_BODY,
    samples.RESPONSE_200,
]


@pytest.mark.parametrize("data", ALL_SAMPLES)
def test_samples_round_trip(data: bytes) -> None:
    message = parse_message(data)
    again = parse_message(message.to_bytes())
    assert again == message
    assert again.to_bytes() == message.to_bytes()


def test_unfolded_and_exact_bytes_round_trip() -> None:
    # A message with no folding and single spaces is written back byte for byte.
    assert request(samples.UNREGISTER_ALL).to_bytes() == samples.UNREGISTER_ALL


def test_make_response_copies_per_8_2_6() -> None:
    req = request(samples.IPV6_REGISTER)
    response = make_response(
        req, 200, headers=[("Contact", "<sip:v6user@[2001:db8::99]:5070>;expires=120")],
        to_tag="regtag",
    )  # fmt: skip
    reparsed = parse_message(response.to_bytes())
    assert reparsed.headers.get_all("Via") == req.headers.get_all("Via")
    assert [str(v) for v in reparsed.vias()] == [str(v) for v in req.vias()]
    assert reparsed.from_() == req.from_()
    assert reparsed.to().tag == "regtag"
    assert reparsed.to().uri == req.to().uri
    assert reparsed.call_id == req.call_id
    assert reparsed.cseq() == req.cseq()
    assert reparsed.headers.get("Contact") == "<sip:v6user@[2001:db8::99]:5070>;expires=120"
    assert response.to_bytes().startswith(b"SIP/2.0 200 OK\r\n")
    assert response.to_bytes().endswith(b"Content-Length: 0\r\n\r\n")


def test_make_response_keeps_existing_to_tag_and_100_gets_none() -> None:
    req = request(samples.RESPONSE_200.replace(b"SIP/2.0 200 OK", b"NOTIFY sip:a@b SIP/2.0"))
    assert make_response(req, 200, to_tag="other").to().tag == "ph1"
    trying = make_response(request(samples.UNREGISTER_ALL), 100)
    assert trying.to().tag is None
    assert trying.reason == "Trying"
    random_tag = make_response(request(samples.UNREGISTER_ALL), 423).to().tag
    assert random_tag and len(random_tag) >= 8


REQUEST_SAMPLES = [data for data in ALL_SAMPLES if data is not samples.RESPONSE_200]


@pytest.mark.parametrize("data", REQUEST_SAMPLES)
@pytest.mark.parametrize(
    ("status", "extra"),
    [
        (401, [("WWW-Authenticate", 'Digest realm="x", nonce="n", algorithm=MD5')]),
        (200, [("Contact", "<sip:a@192.0.2.1>;expires=60"), ("Date", "Mon, 23 Nov 2026")]),
        (200, [("Content-Length", "99"), ("l", "7"), ("Allow", "REGISTER")]),
        (100, []),
        (503, [("Retry-After", "7")]),
    ],
)
def test_response_bytes_equals_make_response(
    data: bytes, status: int, extra: list[tuple[str, str]]
) -> None:
    """The hot path's byte builder writes exactly what make_response + to_bytes write."""
    stamped = with_received(request(data), "198.51.100.7", 40000)
    made = make_response(stamped, status, headers=extra, to_tag="fixedtag").to_bytes()
    assert response_bytes(stamped, status, headers=extra, to_tag="fixedtag") == made
    assert parse_message(made).to_bytes() == made


def test_make_response_needs_mandatory_headers() -> None:
    req = request(samples.UNREGISTER_ALL)
    broken = type(req)(method=req.method, uri=req.uri, headers=req.headers.without("From"))
    with pytest.raises(SipParseError):
        make_response(broken, 400)


@pytest.mark.parametrize(
    ("via", "source", "expected"),
    [
        # §18.2.1: sent-by is the source: nothing to add
        ("SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKa", ("10.0.0.5", 5060),
         "SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKa"),
        # a host name or another address: received added
        ("SIP/2.0/UDP phone.lan:5060;branch=z9hG4bKa", ("10.0.0.5", 5060),
         "SIP/2.0/UDP phone.lan:5060;branch=z9hG4bKa;received=10.0.0.5"),
        # RFC 3581 §4: empty rport filled, and received always added with it
        ("SIP/2.0/UDP 10.0.0.5:5060;rport;branch=z9hG4bKa", ("10.0.0.5", 40001),
         "SIP/2.0/UDP 10.0.0.5:5060;rport=40001;branch=z9hG4bKa;received=10.0.0.5"),
        ("SIP/2.0/UDP 192.168.1.2:5060;branch=z9hG4bKa;rport", ("198.51.100.9", 1024),
         "SIP/2.0/UDP 192.168.1.2:5060;branch=z9hG4bKa;rport=1024;received=198.51.100.9"),
        # what the client wrote in received/rport is replaced, never followed (reflection)
        ("SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKa;received=192.0.2.77", ("10.0.0.5", 5060),
         "SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKa"),
        ("SIP/2.0/UDP 10.0.0.5:5060;received=192.0.2.77;branch=z9hG4bKa", ("10.0.0.9", 5060),
         "SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKa;received=10.0.0.9"),
        ("SIP/2.0/UDP 10.0.0.5:5060;rport=9;branch=z9hG4bKa;received=1", ("10.0.0.5", 4000),
         "SIP/2.0/UDP 10.0.0.5:5060;rport=4000;branch=z9hG4bKa;received=10.0.0.5"),
        ("SIP/2.0/UDP 10.0.0.5:5060;rport=:x;branch=z9hG4bKa", ("10.0.0.5", 4000),
         "SIP/2.0/UDP 10.0.0.5:5060;rport=4000;branch=z9hG4bKa;received=10.0.0.5"),
    ],
)  # fmt: skip
def test_with_received(via: str, source: tuple[str, int], expected: str) -> None:
    data = samples.UNREGISTER_ALL.replace(
        b"Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKstar", f"Via: {via}".encode()
    )
    stamped = with_received(request(data), *source)
    assert stamped.headers.get("Via") == expected
    assert stamped.headers._index == Headers(stamped.headers.items)._index
    assert str(stamped.top_via()) == expected
    assert make_response(stamped, 200).headers.get("Via") == expected


def test_with_received_keeps_other_vias_on_the_line() -> None:
    data = samples.UNREGISTER_ALL.replace(
        b"Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKstar",
        b"Via: SIP/2.0/UDP a.example;rport;branch=z9hG4bK1, SIP/2.0/TCP b.example;branch=z9hG4bK2",
    )
    stamped = with_received(request(data), "10.1.1.1", 7000)
    assert [str(v) for v in stamped.vias()] == [
        "SIP/2.0/UDP a.example;rport=7000;branch=z9hG4bK1;received=10.1.1.1",
        "SIP/2.0/TCP b.example;branch=z9hG4bK2",
    ]


def test_build_out_of_dialog_notify() -> None:
    via = new_via("udp", "203.0.113.5", 5060)
    req = build_request(
        "NOTIFY",
        SipUri(user="alice", host="10.0.0.5", port=5062),
        via=via,
        from_=NameAddr(uri=SipUri(host="sipfleet.test"), params=(("tag", "t1"),)),
        to="<sip:alice@sipfleet.test>",
        call_id="c1@sipfleet.test",
        cseq=1,
        headers=[("Event", "check-sync;reboot=true"), ("Subscription-State", "terminated")],
    )
    parsed = parse_message(req.to_bytes())
    assert parsed.method == "NOTIFY"
    assert parsed.uri == "sip:alice@10.0.0.5:5062"
    top = parsed.top_via()
    assert top.branch and top.branch.startswith("z9hG4bK") and len(top.branch) > 12
    assert top.has_rport and top.transport == "UDP"
    assert parsed.max_forwards() == 70
    assert parsed.cseq().number == 1 and parsed.cseq().method == "NOTIFY"
    assert parsed.from_().tag == "t1"
    assert parsed.headers.get("Event") == "check-sync;reboot=true"
    assert parsed.headers.get("Content-Length") == "0"
    # Each request gets its own branch.
    assert new_via("udp", "h").branch != new_via("udp", "h").branch


def test_build_in_dialog_request_with_body() -> None:
    req = build_request(
        "NOTIFY",
        "sip:bob@10.0.0.9:5060;transport=tcp",
        via=new_via("tcp", "sipfleet.test"),
        from_=parse_name_addr("<sip:101@sipfleet.test>;tag=ours"),
        to=parse_name_addr('"Bob" <sip:bob@sipfleet.test>;tag=theirs'),
        call_id="dialog-1",
        cseq=5,
        contact="<sip:sipfleet.test;transport=tcp>",
        headers=[("Route", "<sip:proxy.example;lr>"), ("Content-Type", "application/pidf+xml")],
        body=b"<presence/>",
    )
    parsed = parse_message(req.to_bytes(), stream=True)
    assert parsed.body == b"<presence/>"
    assert parsed.to().display_name == "Bob" and parsed.to().tag == "theirs"
    assert parsed.headers.values("Route") == ["<sip:proxy.example;lr>"]
    with pytest.raises(ValueError):
        build_request("OPTIONS", "sip:a", via=new_via("udp", "h"), from_="<sip:a>", to="<sip:b>",
                      call_id="c", cseq=2**31)  # fmt: skip


def test_serialiser_rewrites_content_length() -> None:
    req = request(samples.OPTIONS_WITH_BODY)
    shorter = type(req)(method=req.method, uri=req.uri, headers=req.headers, body=b"v=0")
    assert b"\r\nContent-Length: 3\r\n\r\nv=0" in shorter.to_bytes()
