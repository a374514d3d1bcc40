"""Table-driven tests of parse_message on real-world-shaped messages (RFC 3261 §7, §20)."""

from __future__ import annotations

import pytest

from sipcore.errors import (
    MessageTooLarge,
    SipParseError,
    UnsupportedUriScheme,
    VersionNotSupported,
)
from sipcore.message import SipRequest, SipResponse, make_response
from sipcore.parser import parse_message
from sipcore.uri import SipUri
from tests.support import sip_samples as samples
from tests.support.sip_samples import crlf, request


@pytest.mark.parametrize(
    ("data", "user_agent", "expires", "contact_count"),
    [
        (samples.PJSUA_REGISTER, "PJSUA v2.15.1 Linux-6.1/x86_64/glibc-2.36", 300, 1),
        (samples.YEALINK_REGISTER, "Yealink SIP-T46U 108.86.0.45", 3600, 1),
        (samples.SNOM_REGISTER, "snomD785/10.1.159.12", 3600, 1),
        (samples.POLYCOM_REGISTER, "PolycomVVX-VVX_250-UA/6.4.3.5018", 600, 2),
        (samples.IPV6_REGISTER, None, None, 1),
    ],
)
def test_vendor_registers_parse(
    data: bytes, user_agent: str | None, expires: int | None, contact_count: int
) -> None:
    message = request(data)
    assert message.method == "REGISTER"
    assert message.user_agent == user_agent
    assert message.expires() == expires
    assert message.cseq().method == "REGISTER"
    contacts = message.contacts()
    assert not contacts.wildcard
    assert len(contacts.contacts) == contact_count
    assert message.to().uri == message.from_().uri
    assert message.from_().tag
    assert message.top_via().branch is not None


def test_pjsua_details() -> None:
    message = request(samples.PJSUA_REGISTER)
    via = message.top_via()
    assert (via.transport, via.host, via.port) == ("UDP", "127.0.1.5", 5062)
    assert via.has_rport and via.rport is None
    assert via.branch == "z9hG4bKPj5c0a1d4b-7b3e-4a52-9c56-1f1e7d9f3c2a"
    (contact,) = message.contacts().contacts
    assert contact.reg_id == 1
    assert contact.instance == "<urn:uuid:00000000-0000-0000-0000-0000a1b2c3d4>"
    uri = contact.uri
    assert isinstance(uri, SipUri)
    assert uri.has_param("ob") and uri.param("ob") is None
    assert message.headers.values("Allow")[:3] == ["PRESENCE", "PRACK", "INVITE"]
    assert message.cseq().number == 38193
    assert message.request_uri().host == "sipfleet.test"


def test_yealink_quoted_display_name_with_comma() -> None:
    message = request(samples.YEALINK_REGISTER)
    assert message.from_().display_name == "Reception, Front Desk"
    assert message.from_().tag == "1803893556"
    assert message.to().display_name == "Reception, Front Desk"
    assert message.to().tag is None
    uri = message.to().uri
    assert isinstance(uri, SipUri) and uri.port == 5060
    assert message.headers.values("Allow-Events") == [
        "talk", "hold", "conference", "refer", "check-sync",
    ]  # fmt: skip
    # Authorization is not a list header: its commas stay inside one value.
    assert len(message.headers.values("Authorization")) == 1


def test_snom_contact_params_with_quoted_commas() -> None:
    message = request(samples.SNOM_REGISTER)
    (contact,) = message.contacts().contacts
    assert contact.q == 1.0
    assert contact.reg_id == 1
    assert contact.address.param("methods") == (
        '"INVITE,ACK,CANCEL,BYE,REFER,OPTIONS,NOTIFY,SUBSCRIBE,PRACK,MESSAGE,INFO,UPDATE"'
    )
    assert contact.address.param("audio") is None
    uri = contact.uri
    assert isinstance(uri, SipUri) and uri.transport == "tcp"
    assert message.top_via().transport == "TCP"
    assert message.request_uri().transport == "tcp"


def test_polycom_compact_forms_and_folding() -> None:
    message = request(samples.POLYCOM_REGISTER)
    assert message.call_id == "a1b2c3d4-e5f6a7b8-c9d0e1f2@172.16.5.9"
    assert message.headers.get("Call-ID") == message.headers.get("i")
    assert message.from_().display_name == 'Lobby "VVX" 250'
    _first, second = message.contacts().contacts
    assert second.q == 0.5
    assert isinstance(second.uri, SipUri) and second.uri.port == 5062
    assert message.headers.values("Supported") == ["100rel", "replaces"]
    assert message.headers.values("accept-language") == ["en", "de;q=0.8"]
    assert message.headers.get("Content-Length") == "0"
    assert message.top_via().port is None
    # Written back, the compact names stay as sent.
    assert b"\r\nv: SIP/2.0/UDP 172.16.5.9;" in message.to_bytes()


def test_ipv6_vias_across_lines_and_commas() -> None:
    message = request(samples.IPV6_REGISTER)
    vias = message.vias()
    assert [(v.transport, v.host, v.port) for v in vias] == [
        ("UDP", "2001:db8::99", 5070),
        ("TCP", "2001:db8::1", None),
        ("UDP", "edge.example.net", 5060),
    ]
    assert vias[2].received == "198.51.100.7"
    assert str(vias[0]) == "SIP/2.0/UDP [2001:db8::99]:5070;branch=z9hG4bKv6;rport"
    (contact,) = message.contacts().contacts
    assert contact.expires == 120
    assert str(contact.uri) == "sip:v6user@[2001:db8::99]:5070"
    assert message.request_uri().host == "2001:db8::10"


def test_contact_star() -> None:
    message = request(samples.UNREGISTER_ALL)
    assert message.contacts().wildcard
    assert message.contacts().contacts == ()
    assert message.expires() == 0


def test_no_contact_is_a_fetch() -> None:
    data = samples.UNREGISTER_ALL.replace(b"Contact: *\r\n", b"")
    contacts = request(data).contacts()
    assert not contacts.wildcard and contacts.contacts == ()


def test_contacts_across_several_headers() -> None:
    data = samples.UNREGISTER_ALL.replace(
        b"Contact: *\r\n",
        b'Contact: <sip:a@10.0.0.5>;expires=60, "Desk, 2" <sip:b@10.0.0.5>\r\n'
        b"m: sip:c@10.0.0.5;expires=30\r\n",
    )
    contacts = request(data).contacts().contacts
    assert [str(c.uri) for c in contacts] == ["sip:a@10.0.0.5", "sip:b@10.0.0.5", "sip:c@10.0.0.5"]
    assert [c.expires for c in contacts] == [60, None, 30]
    assert contacts[1].address.display_name == "Desk, 2"


def test_options_body_and_addr_spec_headers() -> None:
    message = request(samples.OPTIONS_WITH_BODY)
    assert message.body == b"v=0\r\nx=12345"
    assert message.from_().tag == "o1"
    assert str(message.to().uri) == "sip:sipfleet.test"


def test_datagram_body_longer_than_content_length_is_cut() -> None:
    data = samples.OPTIONS_WITH_BODY.replace(b"Content-Length: 12", b"Content-Length: 3")
    assert request(data).body == b"v=0"


def test_response_parses() -> None:
    message = parse_message(samples.RESPONSE_200)
    assert isinstance(message, SipResponse)
    assert (message.status, message.reason) == (200, "OK")
    assert message.cseq().method == "NOTIFY"
    assert message.top_via().received == "203.0.113.5"
    assert message.to().tag == "ph1"


def test_leading_crlf_is_ignored() -> None:
    assert request(b"\r\n\r\n" + samples.UNREGISTER_ALL).method == "REGISTER"


@pytest.mark.parametrize(
    ("mutate", "status"),
    [
        (lambda d: d.replace(b"SIP/2.0\r\n", b"SIP/3.0\r\n", 1), 505),
        (lambda d: d.replace(b"REGISTER sip:sipfleet.test", b"REGISTER tel:+4930123"), 416),
        (lambda d: d.replace(b"REGISTER sip:sipfleet.test", b"REGISTER mailto:a@b"), 416),
        (lambda d: d.replace(b"CSeq: 9 REGISTER", b"CSeq: 9 INVITE"), 400),
        (lambda d: d.replace(b"CSeq: 9 REGISTER", b"CSeq: nine REGISTER"), 400),
        (lambda d: d.replace(b"CSeq: 9 REGISTER", b"CSeq: 2147483648 REGISTER"), 400),
        (lambda d: d.replace(b"Call-ID: star@10.0.0.5\r\n", b""), 400),
        (lambda d: d.replace(b"Via: SIP/2.0/UDP 10.0.0.5:5060", b"Via: garbage"), 400),
        (lambda d: d.replace(b"Content-Length: 0", b"Content-Length: 5"), 400),
        (lambda d: d.replace(b"Content-Length: 0", b"Content-Length: -1"), 400),
    ],
)
def test_bad_requests_keep_partial_for_a_response(mutate, status: int) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SipParseError) as caught:
        parse_message(mutate(samples.UNREGISTER_ALL))
    assert caught.value.status_hint == status
    partial = caught.value.partial
    assert isinstance(partial, SipRequest)
    assert partial.method == "REGISTER"
    if status != 400:  # the request is whole: it can be answered with the hint
        response = make_response(partial, status)
        assert response.status == status
        assert response.call_id == "star@10.0.0.5"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\r\n",
        b"REGISTER sip:a SIP/2.0\r\n",  # no empty line
        b"REGISTER  sip:a SIP/2.0\r\n\r\n",  # double space
        b"REGISTER sip:a\r\n\r\n",
        b"SIP/2.0 20 OK\r\n\r\n",
        b"SIP/2.0 700 Nope\r\n\r\n",
        b"REGISTER sip:a SIP/2.0\r\nVia SIP/2.0/UDP a\r\n\r\n",  # no colon
        b"REGISTER sip:a SIP/2.0\r\nV(a: x\r\n\r\n",  # bad name
        b"REGISTER sip:a SIP/2.0\r\n x\r\n\r\n",  # continuation first
        b"REGISTER sip:a SIP/2.0\r\nTo: a\nFrom: b\r\n\r\n",  # bare LF
        b"REGISTER sip:a SIP/2.0\r\nTo: \xff\r\n\r\n",  # not UTF-8
    ],
)
def test_garbage_raises_parse_error(data: bytes) -> None:
    with pytest.raises(SipParseError) as caught:
        parse_message(data)
    assert caught.value.status_hint == 400


def test_too_large() -> None:
    data = samples.UNREGISTER_ALL.replace(b"\r\n\r\n", b"\r\nX-Pad: " + b"a" * 70000 + b"\r\n\r\n")
    with pytest.raises(MessageTooLarge) as caught:
        parse_message(data)
    assert caught.value.status_hint == 413


def test_version_error_class() -> None:
    with pytest.raises(VersionNotSupported):
        parse_message(samples.UNREGISTER_ALL.replace(b"SIP/2.0\r\n", b"SIP/2.1\r\n", 1))
    with pytest.raises(UnsupportedUriScheme):
        parse_message(samples.UNREGISTER_ALL.replace(b"sip:sipfleet.test SIP", b"urn:x:y SIP"))


def test_stream_requires_content_length() -> None:
    data = samples.UNREGISTER_ALL.replace(b"Content-Length: 0\r\n", b"")
    assert request(data).body == b""
    with pytest.raises(SipParseError):
        parse_message(data, stream=True)


@pytest.mark.parametrize(
    ("header", "reason_part"),
    [
        ("Contact: *, <sip:a@b>", "mixed"),
        ("Contact: <sip:a@b>;q=2", "q value"),
        ("Contact: <sip:a@b>;expires=soon", "delta"),
        ("Contact: <sip:a@b>;reg-id=x", "reg-id"),
        ("Contact: <sip:a@b", "unterminated"),
        ("Contact: <sip:a@b:99999>", "port"),
        ('Contact: "unterminated <sip:a@b>', "quoted"),
    ],
)
def test_bad_contacts(header: str, reason_part: str) -> None:
    data = samples.UNREGISTER_ALL.replace(b"Contact: *", header.encode())
    message = request(data)
    with pytest.raises(SipParseError) as caught:
        message.contacts()
    assert reason_part in caught.value.reason


def test_expires_is_capped_not_rejected() -> None:
    data = samples.UNREGISTER_ALL.replace(b"Expires: 0", b"Expires: 99999999999999")
    assert request(data).expires() == 2**32 - 1


def test_header_lookup_is_case_insensitive_and_keeps_order() -> None:
    message = request(crlf(
        "OPTIONS sip:x SIP/2.0\nVIA: SIP/2.0/UDP h;branch=z9hG4bK1\nfrom: <sip:a@h>;tag=1\n"
        "TO: <sip:x>\ncall-id: c\ncseq: 1 OPTIONS\nX-A: 1\nx-a: 2\n\n"
    ))  # fmt: skip
    assert message.headers.get_all("X-A") == ["1", "2"]
    assert [name for name, _ in message.headers][:2] == ["VIA", "from"]
    assert message.call_id == "c"


def test_websocket_via_sips_and_tel_addresses() -> None:
    message = request(
        crlf(
            "REGISTER sips:sipfleet.test SIP/2.0\n"
            "Via: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bKasudf;rport\n"
            "From: <sips:alice@sipfleet.test>;tag=ws1\n"
            "To: <tel:+4930123456>\n"
            "Call-ID: ws-call\nCSeq: 1 REGISTER\n"
            "Contact: <sip:alice@df7jal23ls0d.invalid;transport=ws>;expires=0;+sip.ice\n"
            "Content-Length: 0\n\n"
        )
    )
    via = message.top_via()
    assert (via.transport, via.host, via.port) == ("WSS", "df7jal23ls0d.invalid", None)
    assert message.request_uri().scheme == "sips"
    assert str(message.to().uri) == "tel:+4930123456"
    (contact,) = message.contacts().contacts
    assert contact.expires == 0
    assert isinstance(contact.uri, SipUri) and contact.uri.transport == "ws"
    assert contact.address.param("+sip.ice") is None


def test_uri_user_escapes_and_aor() -> None:
    message = request(
        samples.UNREGISTER_ALL.replace(
            b"To: <sip:alice@sipfleet.test>", b"To: <sip:al%69ce@SIPfleet.TEST:5060;user=phone>"
        )
    )
    uri = message.to().uri
    assert isinstance(uri, SipUri)
    assert uri.user == "al%69ce"
    assert uri.aor() == "sip:alice@sipfleet.test"
    with pytest.raises(SipParseError):
        request(samples.UNREGISTER_ALL.replace(b"To: <sip:alice@", b"To: <sip:al%zzce@")).to()
