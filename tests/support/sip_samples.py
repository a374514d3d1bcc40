"""Real-world-shaped SIP messages used by the parser tests (written after captures of the
phones named; addresses, tags and credentials are made up)."""

from __future__ import annotations

from sipcore.message import SipRequest
from sipcore.parser import parse_message


def crlf(text: str) -> bytes:
    """Join a message written with plain newlines using CRLF, as on the wire."""
    return text.replace("\n", "\r\n").encode()


PJSUA_REGISTER = crlf(
    """REGISTER sip:sipfleet.test SIP/2.0
Via: SIP/2.0/UDP 127.0.1.5:5062;rport;branch=z9hG4bKPj5c0a1d4b-7b3e-4a52-9c56-1f1e7d9f3c2a
Max-Forwards: 70
From: <sip:Ab3dEf9hIj2kLm4nOp6qRs8tUv0wXy1z@sipfleet.test>;tag=2a8b6e3c-5d7f-4e1a-b3c9-8f2d4e6a1b7c
To: <sip:Ab3dEf9hIj2kLm4nOp6qRs8tUv0wXy1z@sipfleet.test>
Call-ID: 7d3f1a2b-9c4e-4b6a-8d5f-2e1c3b4a5d6f
CSeq: 38193 REGISTER
User-Agent: PJSUA v2.15.1 Linux-6.1/x86_64/glibc-2.36
Contact: <sip:Ab3dEf9hIj2kLm4nOp6qRs8tUv0wXy1z@127.0.1.5:5062;ob>;reg-id=1;+sip.instance="<urn:uuid:00000000-0000-0000-0000-0000a1b2c3d4>"
Expires: 300
Allow: PRESENCE, PRACK, INVITE, ACK, BYE, CANCEL, UPDATE, INFO, SUBSCRIBE, NOTIFY, REFER, MESSAGE, OPTIONS
Content-Length:  0

"""
)

YEALINK_REGISTER = crlf(
    """REGISTER sip:sipfleet.test:5060 SIP/2.0
Via: SIP/2.0/UDP 192.168.1.23:5062;branch=z9hG4bK1470735373
From: "Reception, Front Desk" <sip:Q1w2E3r4T5y6U7i8O9p0A1s2D3f4G5h6@sipfleet.test:5060>;tag=1803893556
To: "Reception, Front Desk" <sip:Q1w2E3r4T5y6U7i8O9p0A1s2D3f4G5h6@sipfleet.test:5060>
Call-ID: 1469937658@192.168.1.23
CSeq: 2 REGISTER
Contact: <sip:Q1w2E3r4T5y6U7i8O9p0A1s2D3f4G5h6@192.168.1.23:5062>;+sip.instance="<urn:uuid:00000000-0000-1000-8000-805ec0a1b2c3>"
Authorization: Digest username="Q1w2E3r4T5y6U7i8O9p0A1s2D3f4G5h6", realm="sipfleet.test", nonce="abc", uri="sip:sipfleet.test:5060", response="0123456789abcdef0123456789abcdef", algorithm=MD5, cnonce="0a4f113b", qop=auth, nc=00000001
X-Grandstream-PBX: false
Max-Forwards: 70
User-Agent: Yealink SIP-T46U 108.86.0.45
Expires: 3600
Allow: INVITE, INFO, PRACK, ACK, BYE, CANCEL, OPTIONS, NOTIFY, REGISTER, SUBSCRIBE, REFER, PUBLISH, UPDATE, MESSAGE
Allow-Events: talk,hold,conference,refer,check-sync
Content-Length: 0

"""
)

SNOM_REGISTER = crlf(
    """REGISTER sip:sipfleet.test;transport=tcp SIP/2.0
Via: SIP/2.0/TCP 10.20.30.40:3188;branch=z9hG4bK-ifmqpvt7xfs8;rport
From: <sip:Zx9Cv8Bn7Mm6Ll5Kk4Jj3Hh2Gg1Ff0Dd@sipfleet.test>;tag=ncr6ghf2ur
To: <sip:Zx9Cv8Bn7Mm6Ll5Kk4Jj3Hh2Gg1Ff0Dd@sipfleet.test>
Call-ID: 5fd4bc16c8a1-kq4bj7ad0jdh
CSeq: 1 REGISTER
Max-Forwards: 70
Contact: <sip:Zx9Cv8Bn7Mm6Ll5Kk4Jj3Hh2Gg1Ff0Dd@10.20.30.40:3188;transport=tcp;line=6n4ngz3v>;reg-id=1;q=1.0;+sip.instance="<urn:uuid:3d5a5e8f-8c7b-4f2a-9e1d-000413a1b2c3>";audio;mobility="fixed";duplex="full";description="snom D785";actor="principal";events="dialog";methods="INVITE,ACK,CANCEL,BYE,REFER,OPTIONS,NOTIFY,SUBSCRIBE,PRACK,MESSAGE,INFO,UPDATE"
User-Agent: snomD785/10.1.159.12
Supported: path, gruu
Allow-Events: dialog
X-Real-IP: 10.20.30.40
Allow: INVITE, ACK, CANCEL, BYE, REFER, OPTIONS, NOTIFY, SUBSCRIBE, PRACK, MESSAGE, INFO, UPDATE
Expires: 3600
Content-Length: 0

"""
)

# Polycom: compact forms are not used by Polycom, but folded headers and a display name
# with escapes are; this sample mixes in the compact forms of §7.3.3 as well.
POLYCOM_REGISTER = crlf(
    """REGISTER sip:sipfleet.test SIP/2.0
v: SIP/2.0/UDP 172.16.5.9;branch=z9hG4bK6b8c24a5F5A3D3B4
f: "Lobby \\"VVX\\" 250" <sip:Pp1Oo2Ii3Uu4Yy5Tt6Rr7Ee8Ww9Qq0Aa@sipfleet.test>;tag=A1C7A6F8-3B2B0A4C
t: <sip:Pp1Oo2Ii3Uu4Yy5Tt6Rr7Ee8Ww9Qq0Aa@sipfleet.test>
CSeq: 1 REGISTER
i: a1b2c3d4-e5f6a7b8-c9d0e1f2@172.16.5.9
m: <sip:Pp1Oo2Ii3Uu4Yy5Tt6Rr7Ee8Ww9Qq0Aa@172.16.5.9;transport=udp>;methods="INVITE,ACK,BYE,CANCEL,OPTIONS,INFO,MESSAGE,SUBSCRIBE,NOTIFY,PRACK,UPDATE,REFER",
 <sip:Pp1Oo2Ii3Uu4Yy5Tt6Rr7Ee8Ww9Qq0Aa@172.16.5.9:5062>;q=0.5
User-Agent: PolycomVVX-VVX_250-UA/6.4.3.5018
Accept-Language: en,
\tde;q=0.8
Max-Forwards: 70
Expires: 600
k: 100rel,replaces
l: 0

"""
)

IPV6_REGISTER = crlf(
    """REGISTER sip:[2001:db8::10] SIP/2.0
Via: SIP/2.0/UDP [2001:db8::99]:5070;branch=z9hG4bKv6;rport
Via: SIP/2.0/TCP [2001:db8::1];branch=z9hG4bKproxy, SIP/2.0/UDP edge.example.net:5060;branch=z9hG4bKedge;received=198.51.100.7
From: <sip:v6user@[2001:db8::10]>;tag=t6
To: <sip:v6user@[2001:db8::10]>
Call-ID: v6call
CSeq: 7 REGISTER
Contact: <sip:v6user@[2001:db8::99]:5070>;expires=120
Content-Length: 0

"""
)

UNREGISTER_ALL = crlf(
    """REGISTER sip:sipfleet.test SIP/2.0
Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKstar
From: <sip:alice@sipfleet.test>;tag=s1
To: <sip:alice@sipfleet.test>
Call-ID: star@10.0.0.5
CSeq: 9 REGISTER
Contact: *
Expires: 0
Content-Length: 0

"""
)

OPTIONS_WITH_BODY = crlf(
    """OPTIONS sip:sipfleet.test SIP/2.0
Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKopt
From: sip:alice@sipfleet.test;tag=o1
To: sip:sipfleet.test
Call-ID: opt@10.0.0.5
CSeq: 1 OPTIONS
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: 12

v=0
x=12345"""
)

RESPONSE_200 = crlf(
    """SIP/2.0 200 OK
Via: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bKnotify1;received=203.0.113.5
From: <sip:sipfleet.test>;tag=srv1
To: <sip:alice@10.0.0.5:5060>;tag=ph1
Call-ID: notify-1@sipfleet.test
CSeq: 4 NOTIFY
Content-Length: 0

"""
)


def request(data: bytes) -> SipRequest:
    message = parse_message(data)
    assert isinstance(message, SipRequest)
    return message
