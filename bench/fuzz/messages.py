"""The fuzz benchmark's messages: seeds (valid or deliberately odd SIP messages, signed
with a real phone's digest where they carry credentials) and the mutations put through
them. No I/O: `fuzz.py` sends what `Seeds.message` and `mutate` make.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
from collections.abc import Callable
from dataclasses import dataclass

REALM = "sipfleet.test"

INTERESTING_NUMBERS = [
    "0", "-1", "1", "65535", "65536", "2147483647", "2147483648", "4294967296",
    "9223372036854775808", "99999999999999999999999", "1e5", "0x10", "00000000000000001",
    "+5", " 5", "5 ", "٣", "-0", "3.5", "NaN", "", "18446744073709551616",
]  # fmt: skip
INTERESTING_STRINGS = [
    "sips:", "tel:+4512345678", "[::1]", "[::ffff:10.0.0.1]", "[fe80::1%25eth0]",
    "%00", "%", "%zz", "\u00e9", "\U0001f600", "\x00", "\xff", '"', "\\", "<", ">",
    ";", ",", ":", "=", "@", "*", "?", "&", " ", "\t", ";lr", ";transport=ws",
    ";rport=0", ";received=999.1.1.1", ";received=::1", ";branch=", ";expires=-5",
    ";q=2.5", ";q=abc", ";+sip.instance=\"<urn:uuid:x>\"", ";reg-id=99999999999",
    "sip:@", "sip::", "sip:a@b:99999", "sip:a@[::1", "z9hG4bKw01", "z9hG4bKw99",
    "Digest", "username=", "nonce=\"\"", "algorithm=SHA-512", "qop=auth-int",
    "application/pidf+xml", "multipart/mixed;boundary=x",
    "<?xml version='1.0'?><!DOCTYPE a [<!ENTITY x SYSTEM 'file:///etc/passwd'>]><a>&x;</a>",
]  # fmt: skip
INSERT_BYTES = b"\x00\xff\r\n:;,<>\"'%@=* \t\\"
COMPACT = {
    "Via": "v", "From": "f", "To": "t", "Call-ID": "i", "Contact": "m",
    "Content-Length": "l", "Content-Type": "c", "Event": "o", "Subject": "s",
    "Supported": "k",
}  # fmt: skip
METHODS = [
    "INVITE", "ACK", "BYE", "CANCEL", "MESSAGE", "INFO", "REFER", "UPDATE", "PRACK",
    "NOTIFY", "OPTIONS", "FOO", "register", "REGISTE", "SUBSCRIBE", "PUBLISH",
]  # fmt: skip


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Phone:
    username: str
    password: str


@dataclass
class Nonce:
    value: str = ""
    algorithm: str = "MD5"
    fetched: float = 0.0
    nc: int = 0


# --- seeds ------------------------------------------------------------------------------


class Seeds:
    """Valid (or deliberately odd) messages to mutate."""

    def __init__(self, rng: random.Random, phones: list[Phone], nonce: Nonce) -> None:
        self.rng = rng
        self.phones = phones
        self.nonce = nonce

    def _common(self, method: str, uri: str, transport: str, local: str, user: str) -> list[str]:
        rng = self.rng
        branch = "z9hG4bK" + os.urandom(5).hex()
        return [
            f"{method} {uri} SIP/2.0",
            f"Via: SIP/2.0/{transport.upper()} {local};branch={branch};rport",
            "Max-Forwards: 70",
            f"From: <sip:{user}@{REALM}>;tag={os.urandom(4).hex()}",
            f"To: <sip:{user}@{REALM}>",
            f"Call-ID: {os.urandom(8).hex()}@fuzz",
            f"CSeq: {rng.randint(1, 10_000)} {method}",
            "User-Agent: Yealink SIP-T54W 96.86.0.100 805ec0123456",
        ]

    def _auth(self, phone: Phone, method: str, uri: str) -> str:
        nonce = self.nonce
        nonce.nc += 1
        h = sha256 if nonce.algorithm == "SHA-256" else md5
        ha1 = h(f"{phone.username}:{REALM}:{phone.password}")
        ha2 = h(f"{method}:{uri}")
        nc = f"{nonce.nc:08x}"
        cnonce = os.urandom(4).hex()
        response = h(f"{ha1}:{nonce.value}:{nc}:{cnonce}:auth:{ha2}")
        return (
            f'Digest username="{phone.username}", realm="{REALM}", nonce="{nonce.value}", '
            f'uri="{uri}", response="{response}", algorithm={nonce.algorithm}, qop=auth, '
            f'nc={nc}, cnonce="{cnonce}"'
        )

    def message(self, transport: str, local: str) -> bytes:
        rng = self.rng
        kind = rng.random()
        phone = rng.choice(self.phones)
        user = phone.username if rng.random() < 0.7 else f"guess{rng.randint(0, 999)}"
        contact_transport = "" if transport == "udp" else f";transport={transport}"
        contact = f"<sip:{user}@{local}{contact_transport}>"
        body = ""
        extra: list[str] = []
        if kind < 0.35:  # REGISTER, half of them with a valid digest of a real phone
            method, uri = "REGISTER", f"sip:{REALM}"
            user = phone.username
            contact = f"<sip:{user}@{local}{contact_transport}>"
            choice = rng.random()
            if choice < 0.1:
                extra += ["Contact: *", "Expires: 0"]
            else:
                expires = rng.choice(["0", "60", "300", "3600", "30"])
                extra += [f"Contact: {contact};expires={expires}", f"Expires: {expires}"]
                if rng.random() < 0.2:
                    extra.append(
                        f"Contact: <sip:{user}@10.0.0.{rng.randint(1, 254)}:5060>;+sip.instance="
                        f'"<urn:uuid:{os.urandom(8).hex()}>";reg-id=1'
                    )
            if rng.random() < 0.5 and self.nonce.value:
                extra.append(f"Authorization: {self._auth(phone, method, uri)}")
        elif kind < 0.5:  # SUBSCRIBE for BLF or presence
            method, uri = "SUBSCRIBE", f"sip:{rng.randint(100, 130)}@{REALM}"
            event = rng.choice(["dialog", "presence", "message-summary", "foo"])
            extra += [
                f"Contact: {contact}",
                f"Event: {event}",
                f"Accept: application/{'dialog-info+xml' if event == 'dialog' else 'pidf+xml'}",
                f"Expires: {rng.choice(['0', '60', '3600'])}",
            ]
            if rng.random() < 0.6 and self.nonce.value:
                extra.append(f"Authorization: {self._auth(phone, method, uri)}")
        elif kind < 0.58:  # PUBLISH with a PIDF document
            method, uri = "PUBLISH", f"sip:{user}@{REALM}"
            body = (
                '<?xml version="1.0" encoding="UTF-8"?>\r\n<presence xmlns='
                f'"urn:ietf:params:xml:ns:pidf" entity="sip:{user}@{REALM}"><tuple id="t1">'
                "<status><basic>open</basic></status><note>fuzz</note></tuple></presence>"
            )
            extra += ["Event: presence", "Content-Type: application/pidf+xml", "Expires: 60"]
            if rng.random() < 0.6 and self.nonce.value:
                extra.append(f"Authorization: {self._auth(phone, method, uri)}")
        elif kind < 0.68:
            method, uri = "OPTIONS", f"sip:{REALM}"
            extra.append("Accept: application/sdp")
        elif kind < 0.8:  # everything else a phone or a stranger may send
            method = rng.choice(METHODS)
            uri = f"sip:{rng.randint(100, 130)}@{REALM}"
            extra.append(f"Contact: {contact}")
            if method in ("INVITE", "UPDATE"):
                body = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                extra.append("Content-Type: application/sdp")
            if method == "NOTIFY":
                extra += ["Event: check-sync", "Subscription-State: terminated"]
        elif kind < 0.92:  # responses: to nothing, or marked for a worker
            status = rng.choice(["100 Trying", "180 Ringing", "200 OK", "401 Unauthorized",
                                 "481 Call Does Not Exist", "503 Service Unavailable"])  # fmt: skip
            mark = f"w{rng.randint(0, 3):02x}" if rng.random() < 0.5 else ""
            lines = [
                f"SIP/2.0 {status}",
                f"Via: SIP/2.0/{transport.upper()} 127.0.0.1:5060;branch=z9hG4bK{mark}"
                f"{os.urandom(5).hex()};rport",
                f"From: <sip:{REALM}>;tag={os.urandom(4).hex()}",
                f"To: <sip:{user}@{REALM}>;tag={os.urandom(4).hex()}",
                f"Call-ID: {os.urandom(8).hex()}@{REALM}",
                f"CSeq: {rng.randint(1, 100)} {rng.choice(['OPTIONS', 'NOTIFY'])}",
                "Content-Length: 0",
            ]
            return ("\r\n".join(lines) + "\r\n\r\n").encode()
        else:  # not SIP at all
            return rng.choice(
                [
                    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                    b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + os.urandom(60),
                    os.urandom(rng.randint(1, 400)),
                    b"\r\n\r\n",
                    b"SIP/2.0\r\n\r\n",
                    b"REGISTER\r\n\r\n",
                    b"",
                ]
            )
        lines = self._common(method, uri, transport, local, user) + extra
        lines.append(f"Content-Length: {len(body.encode())}")
        return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


# --- mutations --------------------------------------------------------------------------


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\r\n")


def _flip(rng: random.Random, data: bytes) -> bytes:
    if not data:
        return data
    buf = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        at = rng.randrange(len(buf))
        buf[at] ^= 1 << rng.randrange(8)
    return bytes(buf)


def _insert(rng: random.Random, data: bytes) -> bytes:
    at = rng.randint(0, len(data))
    piece = bytes(rng.choice(INSERT_BYTES) for _ in range(rng.randint(1, 16)))
    return data[:at] + piece + data[at:]


def _delete(rng: random.Random, data: bytes) -> bytes:
    if not data:
        return data
    at = rng.randrange(len(data))
    return data[:at] + data[at + rng.randint(1, 40) :]


def _duplicate_line(rng: random.Random, data: bytes) -> bytes:
    lines = _lines(data)
    at = rng.randrange(len(lines))
    lines[at:at] = [lines[at]] * rng.choice([1, 2, 50, 500])
    return b"\r\n".join(lines)


def _drop_line(rng: random.Random, data: bytes) -> bytes:
    lines = _lines(data)
    if len(lines) > 1:
        del lines[rng.randrange(len(lines))]
    return b"\r\n".join(lines)


def _swap_lines(rng: random.Random, data: bytes) -> bytes:
    lines = _lines(data)
    if len(lines) > 2:
        a, b = rng.randrange(len(lines)), rng.randrange(len(lines))
        lines[a], lines[b] = lines[b], lines[a]
    return b"\r\n".join(lines)


def _truncate(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randint(0, len(data))]


def _number(rng: random.Random, data: bytes) -> bytes:
    spans = [m.span() for m in re.finditer(rb"\d+", data)]
    if not spans:
        return data
    start, end = rng.choice(spans)
    return data[:start] + rng.choice(INTERESTING_NUMBERS).encode() + data[end:]


def _long_value(rng: random.Random, data: bytes) -> bytes:
    lines = _lines(data)
    at = rng.randrange(len(lines))
    size = rng.choice([300, 1000, 8000, 20000, 70000])
    filler = rng.choice([b"a", b";x=y", b",", b"%41", b" ", b"\xc3\xa9"]) * (size // 2)
    lines[at] = lines[at] + filler[:size]
    return b"\r\n".join(lines)


def _content_length(rng: random.Random, data: bytes) -> bytes:
    value = rng.choice(["-1", "0", "1", "99999999", "5000", "abc", "70000", " 3", "4 4"])
    pattern = rb"(?im)^(content-length|l)\s*:[^\r\n]*"
    replaced, count = re.subn(pattern, b"Content-Length: " + value.encode(), data, count=1)
    return replaced if count else data


def _token(rng: random.Random, data: bytes) -> bytes:
    spans = [m.span() for m in re.finditer(rb"[A-Za-z0-9.\-]+", data)]
    if not spans:
        return data
    start, end = rng.choice(spans)
    return data[:start] + rng.choice(INTERESTING_STRINGS).encode() + data[end:]


def _repeat_param(rng: random.Random, data: bytes) -> bytes:
    lines = _lines(data)
    at = rng.randrange(len(lines))
    lines[at] += rng.choice([b";a=b", b";tag=x", b";branch=z", b",<sip:x@y>", b";q=1"]) * 1000
    return b"\r\n".join(lines)


def _quote(rng: random.Random, data: bytes) -> bytes:
    at = rng.randint(0, len(data))
    return data[:at] + rng.choice([b'"', b"<", b">", b"\\", b'"\\']) + data[at:]


def _line_ends(rng: random.Random, data: bytes) -> bytes:
    return data.replace(b"\r\n", rng.choice([b"\n", b"\r", b"\r\r\n", b"\n\r"]))


def _version(rng: random.Random, data: bytes) -> bytes:
    return data.replace(b"SIP/2.0", rng.choice([b"SIP/3.0", b"SIP/2.00", b"sip/2.0", b"SIP/"]), 1)


def _header_case(rng: random.Random, data: bytes) -> bytes:
    text = data.decode("latin-1")
    name = rng.choice(list(COMPACT))
    if rng.random() < 0.5:
        text = text.replace(f"\r\n{name}:", f"\r\n{COMPACT[name]}:", 1)
    else:
        text = text.replace(f"\r\n{name}:", f"\r\n{name.upper()} \t :", 1)
    return text.encode("latin-1")


def _splice(rng: random.Random, data: bytes) -> bytes:
    at = rng.randint(0, len(data))
    return data[:at] + data + data[at:]


def _method(rng: random.Random, data: bytes) -> bytes:
    _, sep, rest = data.partition(b" ")
    return rng.choice(METHODS).encode() + sep + rest if sep else data


MUTATIONS: list[Callable[[random.Random, bytes], bytes]] = [
    _flip, _insert, _delete, _duplicate_line, _drop_line, _swap_lines, _truncate, _number,
    _long_value, _content_length, _token, _repeat_param, _quote, _line_ends, _version,
    _header_case, _splice, _method,
]  # fmt: skip


def mutate(rng: random.Random, data: bytes) -> bytes:
    for _ in range(rng.choice([0, 1, 1, 1, 2, 2, 3, 5])):
        data = rng.choice(MUTATIONS)(rng, data)
    return data
