"""Digest authentication (RFC 7616, RFC 8760): vectors, nonces, stale, replay, enumeration."""

from __future__ import annotations

import hashlib
import re

import pytest

from sipcore.digest import (
    DigestAuthenticator,
    DigestCredentials,
    DigestOutcome,
    NonceCounter,
    compute_response,
    parse_authorization,
    select_ha1,
)
from sipcore.errors import SipParseError

REALM = "sipfleet.test"
USER = "Ab3dEf9hIj2kLm4nOp6qRs8tUv0wXy1z"
PASSWORD = "Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2Rr1Qq0Pp"
RURI = "sip:sipfleet.test"


def h(name: str, text: str) -> str:
    return hashlib.new(name.lower().replace("-", ""), text.encode()).hexdigest()


def ha1_of(algorithm: str) -> str:
    return h(algorithm, f"{USER}:{REALM}:{PASSWORD}")


def client_header(
    nonce: str,
    *,
    algorithm: str = "MD5",
    nc: int = 1,
    uri: str = RURI,
    password: str = PASSWORD,
    realm: str = REALM,
    method: str = "REGISTER",
    cnonce: str = "0a4f113b",
) -> str:
    """What a phone sends, computed here independently with hashlib (RFC 7616 §3.4.1)."""
    ha1 = h(algorithm, f"{USER}:{realm}:{password}")
    ha2 = h(algorithm, f"{method}:{uri}")
    response = h(algorithm, f"{ha1}:{nonce}:{nc:08x}:{cnonce}:auth:{ha2}")
    return (
        f'Digest username="{USER}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
        f'response="{response}", algorithm={algorithm}, cnonce="{cnonce}", qop=auth, '
        f"nc={nc:08x}"
    )


def nonce_of(challenge: str) -> str:
    match = re.search(r'nonce="([^"]+)"', challenge)
    assert match
    return match.group(1)


@pytest.fixture
def auth() -> DigestAuthenticator:
    return DigestAuthenticator(b"k" * 32, REALM, lifetime=300)


def verify(auth: DigestAuthenticator, header: str, *, now: float, ha1: str | None = "auto",
           uri: str | None = RURI) -> DigestOutcome:  # fmt: skip
    creds = parse_authorization(header)
    if ha1 == "auto":
        ha1 = select_ha1(creds, ha1_md5=ha1_of("MD5"), ha1_sha256=ha1_of("SHA-256"))
    return auth.verify(creds, method="REGISTER", ha1=ha1, now=now, request_uri=uri)


def test_rfc7616_example_vectors() -> None:
    """RFC 7616 §3.9.1: Mufasa / "Circle of Life", both algorithms."""
    common = dict(
        method="GET",
        uri="/dir/index.html",
        nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
        nc_text="00000001",
        cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
        qop="auth",
    )
    md5 = h("MD5", "Mufasa:http-auth@example.org:Circle of Life")
    sha = h("SHA-256", "Mufasa:http-auth@example.org:Circle of Life")
    assert compute_response(ha1=md5, algorithm="MD5", **common) == (
        "8ca523f5e9506fed4657c9700eebdbec"
    )
    assert compute_response(ha1=sha, algorithm="SHA-256", **common) == (
        "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
    )


def test_challenges_offer_both_algorithms(auth: DigestAuthenticator) -> None:
    sha, md5 = auth.challenges(1000.0)
    assert sha.startswith(f'Digest realm="{REALM}", nonce="')
    assert "algorithm=SHA-256" in sha and "algorithm=MD5" in md5
    assert 'qop="auth"' in sha and "stale" not in sha
    assert nonce_of(sha) == nonce_of(md5)
    assert nonce_of(auth.challenges(1000.0)[0]) != nonce_of(sha)  # random part
    stale = auth.challenges(1000.0, stale=True)
    assert all(c.endswith(", stale=true") for c in stale)
    with_opaque = DigestAuthenticator(b"k", REALM, opaque="op1", algorithms=("MD5",))
    (only,) = with_opaque.challenges(0)
    assert 'opaque="op1"' in only and "algorithm=MD5" in only


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256"])
def test_valid_response_then_replay_refused(auth: DigestAuthenticator, algorithm: str) -> None:
    nonce = nonce_of(auth.challenges(1000.0)[0])
    assert verify(auth, client_header(nonce, algorithm=algorithm), now=1001) is DigestOutcome.OK
    # the same nc again: a replay
    assert verify(auth, client_header(nonce, algorithm=algorithm), now=1002) is (
        DigestOutcome.BAD_NC
    )
    # a higher nc on the same nonce (a refresh re-using the nonce) is fine
    assert verify(auth, client_header(nonce, algorithm=algorithm, nc=2), now=1003) is (
        DigestOutcome.OK
    )
    assert verify(auth, client_header(nonce, algorithm=algorithm, nc=2), now=1004) is (
        DigestOutcome.BAD_NC
    )


def test_wrong_password_and_unknown_user(auth: DigestAuthenticator) -> None:
    nonce = nonce_of(auth.challenges(1000.0)[0])
    wrong = client_header(nonce, password="not-it")
    assert verify(auth, wrong, now=1001) is DigestOutcome.BAD_RESPONSE
    # An unknown user, even sending what would be right for a known one: same answer.
    assert verify(auth, client_header(nonce), now=1001, ha1=None) is DigestOutcome.BAD_RESPONSE
    assert DigestOutcome.BAD_RESPONSE.is_failure and not DigestOutcome.STALE.is_failure


def test_unknown_user_does_the_same_work(auth: DigestAuthenticator) -> None:
    """The dummy HA1 path hashes exactly as often as a real check."""
    nonce = nonce_of(auth.challenges(1000.0)[0])
    creds = parse_authorization(client_header(nonce, password="x"))
    calls: list[str] = []
    import sipcore.digest as digest_module

    real = dict(digest_module._HASHES)
    try:
        for name, fn in real.items():
            digest_module._HASHES[name] = lambda data, fn=fn, name=name: (
                calls.append(name) or fn(data)
            )
        auth.verify(creds, method="REGISTER", ha1=ha1_of("MD5"), now=1001)
        known = list(calls)
        calls.clear()
        auth.verify(creds, method="REGISTER", ha1=None, now=1001)
        assert calls == known and len(known) == 2
    finally:
        digest_module._HASHES.update(real)


def test_expired_nonce_is_stale_only_when_the_response_is_right(
    auth: DigestAuthenticator,
) -> None:
    nonce = nonce_of(auth.challenges(1000.0)[0])
    assert verify(auth, client_header(nonce), now=1000 + 300) is DigestOutcome.STALE
    assert verify(auth, client_header(nonce, password="x"), now=1400) is (
        DigestOutcome.BAD_RESPONSE
    )
    # still valid just before the end of its lifetime
    assert verify(auth, client_header(nonce), now=1299) is DigestOutcome.OK


def test_tampered_and_foreign_nonces(auth: DigestAuthenticator) -> None:
    nonce = nonce_of(auth.challenges(1000.0)[0])
    # move the timestamp forward (extending its life) without the key: MAC breaks
    tampered = f"{int(nonce[:16], 16) + 1000:016x}" + nonce[16:]
    assert verify(auth, client_header(tampered), now=1001) is DigestOutcome.BAD_NONCE
    other = DigestAuthenticator(b"another key", REALM)
    assert verify(auth, client_header(nonce_of(other.challenges(1000)[0])), now=1001) is (
        DigestOutcome.BAD_NONCE
    )
    for junk in ("", "abc", "zz" * 28, nonce[:-2]):
        assert verify(auth, client_header(junk), now=1001) is DigestOutcome.BAD_NONCE


def test_realm_uri_qop_checks(auth: DigestAuthenticator) -> None:
    nonce = nonce_of(auth.challenges(1000.0)[0])
    assert verify(auth, client_header(nonce, realm="evil.example"), now=1001) is (
        DigestOutcome.WRONG_REALM
    )
    assert verify(auth, client_header(nonce, uri="sip:other.example"), now=1001) is (
        DigestOutcome.URI_MISMATCH
    )
    # SIPp's default digest uri names host:port; the host matches, so it is accepted.
    assert verify(auth, client_header(nonce, uri="sip:sipfleet.test:5060"), now=1001) is (
        DigestOutcome.OK
    )
    no_qop = client_header(nonce).replace(", qop=auth", "")
    assert verify(auth, no_qop, now=1001) is DigestOutcome.MALFORMED
    auth_int = client_header(nonce).replace("qop=auth", "qop=auth-int")
    assert verify(auth, auth_int, now=1001) is DigestOutcome.MALFORMED
    md5_only = DigestAuthenticator(b"k" * 32, REALM, algorithms=("MD5",))
    assert verify(md5_only, client_header(nonce, algorithm="SHA-256"), now=1001) is (
        DigestOutcome.MALFORMED
    )


def test_sess_variant(auth: DigestAuthenticator) -> None:
    nonce = nonce_of(auth.challenges(1000.0)[0])
    cnonce = "c1"
    ha1 = h("MD5", f"{ha1_of('MD5')}:{nonce}:{cnonce}")
    ha2 = h("MD5", f"REGISTER:{RURI}")
    response = h("MD5", f"{ha1}:{nonce}:00000001:{cnonce}:auth:{ha2}")
    header = (
        f'Digest username="{USER}", realm="{REALM}", nonce="{nonce}", uri="{RURI}", '
        f'response="{response}", algorithm=MD5-sess, cnonce="{cnonce}", qop=auth, nc=00000001'
    )
    assert verify(auth, header, now=1001) is DigestOutcome.OK


@pytest.mark.parametrize(
    "header",
    [
        "Basic dXNlcjpwYXNz",
        'Digest username="u", realm="r", nonce="n", uri="sip:a"',  # no response
        'Digest username="u", realm="r", nonce="n", uri="sip:a", response="x", algorithm=SHA-512',
        'Digest username="u", realm="r", nonce="n", uri="sip:a", response="x", nc=1',
        'Digest username="u", username="v", realm="r", nonce="n", uri="sip:a", response="x"',
        'Digest username*=UTF-8\'\'u, realm="r", nonce="n", uri="sip:a", response="x", username="u"',
        'Digest username="u", realm="r", nonce="n", uri="sip:a", response="\u00e4"',
        'Digest username="u", realm="r", nonce="n", uri="sip:a", response="abc"',
        'Digest username="u", realm="r", nonce="n", uri="sip:a", response="0x' + "0" * 30 + '"',
        'Digest username="u", realm="r", nonce="n", uri="sip:a", response="'
        + "0" * 32
        + '", nc=0x000001',
        "Digest",
    ],
)
def test_malformed_authorization(header: str) -> None:
    with pytest.raises(SipParseError):
        parse_authorization(header)


def test_parse_authorization_fields() -> None:
    creds = parse_authorization(
        'Digest\t username="a\\"b", realm="sipfleet.test",nonce="n1", uri="sip:x", '
        'response="'
        + "ABCDEF" * 5
        + '01", algorithm=sha-256, cnonce="c", qop=auth, nc=0000000a, opaque="o"'
    )
    assert creds == DigestCredentials(
        username='a"b', realm="sipfleet.test", nonce="n1", uri="sip:x", response="abcdef" * 5 + "01",
        algorithm="SHA-256", qop="auth", nc=10, cnonce="c", opaque="o", nc_text="0000000a",
    )  # fmt: skip
    assert "response" not in repr(creds)


def test_parameter_names_are_case_insensitive() -> None:
    lower = parse_authorization(
        'Digest username="a", realm="r", nonce="n", uri="sip:x", response="' + "0" * 32 + '", '
        'qop=auth, nc=00000001, cnonce="c"'
    )
    mixed = parse_authorization(
        'Digest UserName="a", REALM="r", Nonce="n", URI="sip:x", Response="' + "0" * 32 + '", '
        'QOP=auth, NC=00000001, CNonce="c"'
    )
    assert mixed == lower
    with pytest.raises(SipParseError):  # the same name twice, spelled differently
        parse_authorization(
            'Digest username="a", Username="b", realm="r", nonce="n", uri="sip:x", response="'
            + "0" * 32
            + '"'
        )


def test_nonce_counter_is_bounded() -> None:
    counter = NonceCounter(capacity=3)
    for i in range(3):
        assert counter.accept(f"n{i}", 1, issued=float(i), expires=100.0 + i, now=10)
    # full: adding a fourth forgets the oldest and refuses anything issued up to it
    assert counter.accept("n3", 1, issued=3.0, expires=103.0, now=10)
    assert len(counter) == 3
    assert counter.forgotten(0.0) and not counter.forgotten(1.0)
    assert not counter.accept("n0", 2, issued=0.0, expires=100.0, now=10)
    # expiry frees entries without raising the floor
    assert counter.accept("n9", 1, issued=50.0, expires=150.0, now=102.5)
    assert len(counter) == 2  # n1, n2 expired; n3 and n9 remain
    assert counter.floor == 0.0


def test_counter_eviction_makes_old_nonces_stale_not_replayable() -> None:
    auth = DigestAuthenticator(b"k" * 32, REALM, nc_capacity=2)
    first = nonce_of(auth.challenges(1000.0)[0])
    assert verify(auth, client_header(first), now=1000) is DigestOutcome.OK
    for t in (1001.0, 1002.0):
        other = nonce_of(auth.challenges(t)[0])
        assert verify(auth, client_header(other), now=t) is DigestOutcome.OK
    # `first` was forgotten: its replay is not accepted, the phone is re-challenged
    assert verify(auth, client_header(first), now=1003) is DigestOutcome.STALE


def test_nonce_mac_is_hmac_sha256() -> None:
    import hmac as hmac_module

    auth = DigestAuthenticator(b"secret", REALM)
    raw = bytes.fromhex(auth.new_nonce(1234.0))
    key = hashlib.sha256(b"sipfleet digest nonce\x00secret").digest()
    assert raw[16:] == hmac_module.digest(key, raw[:16], "sha256")[:12]
    assert int.from_bytes(raw[:8], "big") == 1234


def test_nonce_counter_tracks_each_nonce_of_one_issue_second_apart() -> None:
    """Nonces issued in the same second share a group but not a count: each one's replay
    is refused, a higher nc of each accepted, and the group expires as one."""
    counter = NonceCounter(capacity=1000)
    names = [f"nonce-{i}" for i in range(50)]
    for name in names:
        assert counter.accept(name, 1, issued=7.0, expires=307.0, now=8)
    assert len(counter) == 50
    for name in names:
        assert not counter.accept(name, 1, issued=7.0, expires=307.0, now=9)
        assert counter.accept(name, 2, issued=7.0, expires=307.0, now=9)
    assert counter.accept("later", 1, issued=300.0, expires=600.0, now=307.0)
    assert len(counter) == 1 and counter.floor == float("-inf")
