"""Micro-benchmark of the SIP core's per-REGISTER work (no I/O, one core).

Every message names a different phone (20,000 distinct 32-character usernames, as in
the SIPp benchmark), so the URI/Contact caches only help where a real registration is
helped: the authenticated REGISTER repeats the To/Contact of the challenged one.

Prints messages/s (per CPU second of this process, and per wall second) for:
  parse        parse_message of a typical SIPp/phone REGISTER with Authorization
  parse+200    parse, top-Via stamping, Contact/To/CSeq views, 200 OK built and serialised
  challenge    parse a REGISTER without credentials, 401 with two challenges serialised
  auth+200     the full authenticated path: parse, stamp, parse Authorization, digest
               verify (MD5), transaction table insert/respond, 200 OK serialised
  pair         one whole registration as SIPp drives it: challenge, then auth+200
               (reported per registration; two messages each)

Run: .venv/bin/python bench/registrar/parser_bench.py [seconds-per-case]   (default 1.0)
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Callable

from sipcore.digest import DigestAuthenticator, compute_response, parse_authorization
from sipcore.headers import clear_caches
from sipcore.message import make_response, with_received
from sipcore.parser import parse_message
from sipcore.transaction import ServerTransactions

REALM = "127.0.0.1"
USER = "Ab3dEf9hIj2kLm4nOp6qRs8tUv0wXy1z"
PASSWORD = "Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2Rr1Qq0Pp"
HA1 = hashlib.md5(f"{USER}:{REALM}:{PASSWORD}".encode()).hexdigest()
AUTH = DigestAuthenticator(b"k" * 32, REALM, algorithms=("MD5", "SHA-256"), nc_capacity=10**7)


def ha1_of(i: int) -> str:
    return hashlib.md5(f"{user(i)}:{REALM}:{PASSWORD}".encode()).hexdigest()


def user(i: int) -> str:
    return f"{i:08d}{USER[8:]}"


def register(i: int, authorization: str | None) -> bytes:
    auth_line = f"Authorization: {authorization}\r\n" if authorization else ""
    return (
        f"REGISTER sip:{REALM} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-{i}-1-0\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:{user(i)}@{REALM}>;tag={i}SIPpTag001\r\n"
        f"To: <sip:{user(i)}@{REALM}>\r\n"
        f"Call-ID: {i}-12345@127.0.0.1\r\n"
        "CSeq: 2 REGISTER\r\n"
        f"Contact: <sip:{user(i)}@127.0.0.1:5061;transport=UDP>\r\n"
        f"{auth_line}"
        "Expires: 3600\r\n"
        "User-Agent: sipp-bench\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def authorization(i: int, nonce: str, nc: int) -> str:
    uri = f"sip:{REALM}:5060"
    response = compute_response(
        ha1=ha1_of(i), algorithm="MD5", method="REGISTER", uri=uri, nonce=nonce,
        nc_text=f"{nc:08x}", cnonce="6b8b4567", qop="auth",
    )  # fmt: skip
    return (
        f'Digest username="{user(i)}",realm="{REALM}",cnonce="6b8b4567",nc={nc:08x},'
        f'qop=auth,uri="{uri}",nonce="{nonce}",response="{response}",algorithm=MD5'
    )


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    now = time.time()
    n = 20_000
    plain = [register(i, None) for i in range(n)]
    authed = [register(i, authorization(i, AUTH.new_nonce(now), 1)) for i in range(n)]
    transactions = ServerTransactions()

    def parse(i: int) -> None:
        parse_message(authed[i % n])

    def parse_200(i: int) -> None:
        req = with_received(parse_message(authed[i % n]), "127.0.0.1", 5061)
        contacts = req.contacts().contacts
        req.to()
        make_response(
            req, 200, to_tag="t", headers=[("Contact", f"{contacts[0]};expires=3600")]
        ).to_bytes()

    def challenge(i: int) -> None:
        req = with_received(parse_message(plain[i % n]), "127.0.0.1", 5061)
        headers = [("WWW-Authenticate", value) for value in AUTH.challenges(now)]
        make_response(req, 401, headers=headers, to_tag="t").to_bytes()

    ha1s = [ha1_of(i) for i in range(n)]
    rounds = [0]

    def auth_200(i: int) -> None:
        if i % n == 0:  # every pass needs fresh nonce-counts and transactions
            rounds[0] += 1
            transactions.handle_timer(now + 1000.0 * rounds[0])
            AUTH._counter = type(AUTH._counter)(10**7)
        req = with_received(parse_message(authed[i % n]), "127.0.0.1", 5061)
        got = transactions.receive(req, reliable=False, now=now)
        creds = parse_authorization(req.headers.get("Authorization") or "")
        outcome = AUTH.verify(
            creds, method="REGISTER", ha1=ha1s[i % n], now=now, request_uri=req.uri
        )
        assert outcome.value == "ok", outcome
        contacts = req.contacts().contacts
        data = make_response(
            req, 200, to_tag="t", headers=[("Contact", f"{contacts[0]};expires=3600")]
        ).to_bytes()
        transactions.respond(got.key, data, status=200, now=now)

    def pair(i: int) -> None:
        challenge(i)
        auth_200(i)

    cases: list[tuple[str, Callable[[int], None]]] = [
        ("parse", parse),
        ("parse+200", parse_200),
        ("challenge", challenge),
        ("auth+200", auth_200),
        ("pair", pair),
    ]
    for name, fn in cases:
        clear_caches()
        count = 0
        start, cpu_start = time.perf_counter(), time.process_time()
        while (elapsed := time.perf_counter() - start) < seconds:
            for i in range(count, count + 500):
                fn(i)
            count += 500
        cpu = time.process_time() - cpu_start
        print(
            f"{name:10s} {count / cpu:10,.0f}/s per CPU second ({1e6 * cpu / count:6.1f} µs)"
            f"  {count / elapsed:10,.0f}/s wall"
        )


if __name__ == "__main__":
    main()
