"""HTTP Digest authentication for SIP — RFC 7616 (RFC 3261 §22.4 updated by RFC 8760).

Public API:
    DigestAuthenticator(key: bytes, realm: str, *, lifetime: float = 300,
                        algorithms: tuple[str, ...] = ("SHA-256", "MD5"),
                        opaque: str | None = None, nc_capacity: int = 200_000)
        .new_nonce(now) -> str
        .challenges(now, *, stale=False) -> list[str]    WWW-Authenticate values, one per
                                                          algorithm, sharing one fresh nonce
        .verify(creds, *, method, ha1, now, request_uri=None) -> DigestOutcome
              ha1: the stored HA1 hex for creds.algorithm (select_ha1 picks it), or None
              for an unknown username: a dummy HA1 is used so the work and the answer
              (BAD_RESPONSE) are the same as for a wrong password.
    DigestCredentials  (parsed Authorization / Proxy-Authorization)
        username, realm, nonce, uri, response, algorithm ("MD5", "SHA-256", "MD5-sess",
        "SHA-256-sess"), qop, nc (int | None), cnonce, opaque
    parse_authorization(value) -> DigestCredentials     raises SipParseError (400)
    select_ha1(creds, *, ha1_md5, ha1_sha256) -> str | None
    DigestOutcome: OK, STALE, BAD_NONCE, BAD_RESPONSE, BAD_NC, MALFORMED, WRONG_REALM,
                   URI_MISMATCH;  .is_failure (counts toward the failed-auth rate limit)
    NonceCounter(capacity) — the nc replay tracker (used inside DigestAuthenticator)
    compute_response(...) -> str — the RFC 7616 §3.4.1 response (tests, clients)

Nonces (RFC 7616 §3.3, §5.4): hex of issued-time (8 bytes, seconds) + 8 random bytes +
HMAC-SHA256(key, time ‖ random)[:12]. Verifying one needs no stored state: the MAC proves
we issued it and the time says whether it expired. An expired nonce yields STALE only when
the response was right (so the client retries silently with the new nonce, §3.3 stale);
a wrong response is BAD_RESPONSE whatever the nonce's age.

Only qop=auth is offered and accepted. The RFC 2069 form (no qop, no nc) is refused as
MALFORMED: without a nonce-count any captured REGISTER could be replayed for the whole
nonce lifetime, and every phone sipfleet provisions speaks qop=auth. `userhash` and
`username*` are not offered and are refused.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import hmac
import os
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass

from sipcore.errors import SipParseError
from sipcore.syntax import frozen_builder, random_bytes


def _md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


_HASHES: dict[str, Callable[[bytes], str]] = {"MD5": _md5_hex, "SHA-256": _sha256_hex}
_ALGORITHMS = {
    "md5": ("MD5", False),
    "md5-sess": ("MD5", True),
    "sha-256": ("SHA-256", False),
    "sha-256-sess": ("SHA-256", True),
}
_CANONICAL_ALGORITHM = {"md5": "MD5", "md5-sess": "MD5-sess", "sha-256": "SHA-256"}
_CANONICAL_ALGORITHM["sha-256-sess"] = "SHA-256-sess"

_NONCE_BYTES = 28  # 8 time + 8 random + 12 MAC
_MAC_BYTES = 12


class DigestOutcome(enum.Enum):
    OK = "ok"
    STALE = "stale"
    BAD_NONCE = "bad-nonce"
    BAD_RESPONSE = "bad-response"
    BAD_NC = "bad-nc"
    MALFORMED = "malformed"
    WRONG_REALM = "wrong-realm"
    URI_MISMATCH = "uri-mismatch"

    @property
    def is_failure(self) -> bool:
        """Whether this counts toward the per-address failed-auth limit (not OK/STALE)."""
        return self is not DigestOutcome.OK and self is not DigestOutcome.STALE


@dataclass(frozen=True, slots=True, kw_only=True)
class DigestCredentials:
    """The parameters of one `Digest` Authorization header (RFC 7616 §3.4)."""

    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    algorithm: str = "MD5"  # canonical spelling; the header may omit it (MD5)
    qop: str | None = None
    nc: int | None = None
    cnonce: str | None = None
    opaque: str | None = None
    nc_text: str | None = None  # as sent (8 hex digits); hashed verbatim

    def __repr__(self) -> str:  # the response is not a secret, but keep logs short
        return f"DigestCredentials(username={self.username!r}, algorithm={self.algorithm})"


# auth-param = token BWS "=" BWS ( token / quoted-string )
# (quoted-string unrolled and possessive: one C-level scan, no backtracking)
_AUTH_PARAM = re.compile(
    r'([A-Za-z0-9\-_.*]++)[ \t]*+=[ \t]*+(?:"([^"\\]*+(?:\\.[^"\\]*+)*+)"|([^\s,"]++))'
)
_REQUIRED = frozenset({"username", "realm", "nonce", "uri", "response"})
_LOWER_NAMES = _REQUIRED | {"algorithm", "qop", "nc", "cnonce", "opaque", "userhash"}
_HEX = re.compile(r"[0-9A-Fa-f]+")


def parse_authorization(value: str) -> DigestCredentials:
    """Parse `Digest k=v, k="v", …` (RFC 7616 §3.4); raises SipParseError."""
    parts = value.split(None, 1)
    if len(parts) != 2 or parts[0].lower() != "digest":
        raise SipParseError("authorization scheme is not Digest")
    found = _AUTH_PARAM.findall(parts[1])
    # (name, quoted content, token): one of the last two is empty. Clients write the names
    # in lower case; any other spelling is folded (the names are case-insensitive).
    params = {name: quoted or token for name, quoted, token in found}
    if not _LOWER_NAMES.issuperset(params):
        params = {name.lower(): quoted or token for name, quoted, token in found}
    if len(params) != len(found):
        raise SipParseError("duplicate digest parameter")
    if "\\" in parts[1]:  # quoted-pairs (rare): resolve them
        params = {key: re.sub(r"\\(.)", r"\1", raw) for key, raw in params.items()}
    if not params.keys() >= _REQUIRED:
        raise SipParseError("digest credentials lack a required parameter")
    if "username*" in params or params.get("userhash", "false").lower() != "false":
        raise SipParseError("username* and userhash are not supported")
    algorithm = _CANONICAL_ALGORITHM.get(params.get("algorithm", "MD5").lower())
    if algorithm is None:
        raise SipParseError("unsupported digest algorithm")
    nc_text = params.get("nc")
    nc = None
    if nc_text is not None:
        if len(nc_text) != 8 or not _HEX.fullmatch(nc_text):
            raise SipParseError("bad nonce count")
        nc = int(nc_text, 16)
    # request-digest = 32 or 64 LHEX; anything else (even non-ASCII) is refused here so the
    # constant-time comparison only ever sees ASCII hex.
    if not _HEX.fullmatch(params["response"]) or len(params["response"]) not in (32, 64):
        raise SipParseError("bad digest response")
    return _DigestCredentials(
        username=params["username"],
        realm=params["realm"],
        nonce=params["nonce"],
        uri=params["uri"],
        response=params["response"].lower(),
        algorithm=algorithm,
        qop=params.get("qop"),
        nc=nc,
        cnonce=params.get("cnonce"),
        opaque=params.get("opaque"),
        nc_text=nc_text,
    )


_DigestCredentials = frozen_builder(DigestCredentials)


def select_ha1(creds: DigestCredentials, *, ha1_md5: str, ha1_sha256: str) -> str:
    """The stored HA1 matching the algorithm the client used."""
    return ha1_sha256 if creds.algorithm.startswith("SHA-256") else ha1_md5


def compute_response(
    *,
    ha1: str,
    algorithm: str,
    method: str,
    uri: str,
    nonce: str,
    nc_text: str | None,
    cnonce: str | None,
    qop: str | None,
) -> str:
    """RFC 7616 §3.4.1-3.4.3: response = H(HA1:nonce:nc:cnonce:qop:H(method:uri)); the
    `-sess` variants first set HA1 = H(HA1:nonce:cnonce)."""
    base, sess = _ALGORITHMS[algorithm.lower()]
    digest = _HASHES[base]
    if sess:
        ha1 = digest(f"{ha1}:{nonce}:{cnonce}".encode())
    ha2 = digest(f"{method}:{uri}".encode())
    if qop is None:
        return digest(f"{ha1}:{nonce}:{ha2}".encode())
    return digest(f"{ha1}:{nonce}:{nc_text}:{cnonce}:{qop}:{ha2}".encode())


class NonceCounter:
    """The highest nonce-count accepted per nonce, to refuse replays (RFC 7616 §3.4.5).

    Bounded: entries leave when their nonce expires; when full, the oldest issue second is
    dropped and every nonce issued at or before it is from then on answered STALE (a
    fresh challenge) instead of risking a replay of a forgotten nonce.

    Compact, as it holds one entry per nonce used in the last `lifetime` seconds (a
    registration storm fills it to `capacity`): entries are grouped by issue second, so
    issue and expiry times are kept once per second, not per nonce, and a nonce is keyed
    by its string hash, not the 56-character string (≈80 instead of ≈230 bytes an entry).
    Two nonces with the same 64-bit hash would refuse the later one as a replay (a new
    challenge follows; odds about 1 in 10^9 for a full table of 200,000); a collision
    never accepts one.
    """

    __slots__ = ("_capacity", "_oldest", "_seconds", "_size", "floor")

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        # issue second -> (expires, {hash(nonce): highest nc})
        self._seconds: dict[float, tuple[float, dict[int, int]]] = {}
        self._size = 0
        self._oldest = float("inf")  # the smallest key of _seconds (inf: none)
        self.floor = float("-inf")  # nonces issued at or before this are forgotten

    def __len__(self) -> int:
        return self._size

    def accept(self, nonce: str, nc: int, *, issued: float, expires: float, now: float) -> bool:
        """Record `nc` for `nonce` if it is higher than any seen; False for a replay."""
        key = hash(nonce)
        second = self._seconds.get(issued)
        if second is not None:
            counts = second[1]
            seen = counts.get(key)
            if seen is not None:
                if nc <= seen:
                    return False
                counts[key] = nc
                return True
        if issued <= self.floor:
            return False
        self._evict(now)
        second = self._seconds.get(issued)  # eviction may have dropped it
        if second is None:
            second = self._seconds[issued] = (expires, {})
            self._oldest = min(self._oldest, issued)
        second[1][key] = nc
        self._size += 1
        return True

    def forgotten(self, issued: float) -> bool:
        return issued <= self.floor

    def _evict(self, now: float) -> None:
        seconds = self._seconds
        while seconds:
            oldest = self._oldest
            expires, counts = seconds[oldest]
            if expires <= now:
                pass
            elif self._size >= self._capacity:
                self.floor = max(self.floor, oldest)
            else:
                return
            del seconds[oldest]
            self._size -= len(counts)
            # a scan of at most `lifetime` keys, once per issue second dropped
            self._oldest = min(seconds, default=float("inf"))


class DigestAuthenticator:
    """Issues challenges and verifies responses for one realm, with no per-nonce state
    other than the bounded nonce-count tracker."""

    def __init__(
        self,
        key: bytes,
        realm: str,
        *,
        lifetime: float = 300,
        algorithms: tuple[str, ...] = ("SHA-256", "MD5"),
        opaque: str | None = None,
        nc_capacity: int = 200_000,
    ) -> None:
        if not key:
            raise ValueError("digest nonce key must not be empty")
        for algorithm in algorithms:
            if algorithm not in _HASHES:
                raise ValueError(f"unsupported digest algorithm {algorithm!r}")
        self.realm = realm
        self.lifetime = lifetime
        self.algorithms = algorithms
        self.opaque = opaque
        # HMAC-SHA256 (RFC 2104) with the padded-key states hashed once: a nonce costs two
        # hash copies instead of a fresh HMAC set-up (about 2.5x faster per nonce).
        mac_key = hashlib.sha256(b"sipfleet digest nonce\x00" + key).digest().ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in mac_key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in mac_key))
        self._counter = NonceCounter(nc_capacity)
        # Unknown usernames are checked against these so the work matches a known one.
        self._dummy = {name: _HASHES[name](os.urandom(16)) for name in _HASHES}

    def _mac(self, data: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(data)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()[:_MAC_BYTES]

    def new_nonce(self, now: float) -> str:
        head = struct.pack(">Q", int(now)) + random_bytes(8)
        mac = self._mac(head)
        return (head + mac).hex()

    def challenges(self, now: float, *, stale: bool = False) -> list[str]:
        """`WWW-Authenticate` values (RFC 7616 §3.3), most preferred algorithm first."""
        nonce = self.new_nonce(now)
        tail = f', qop="auth"{f", opaque={_q(self.opaque)}" if self.opaque else ""}'
        if stale:
            tail += ", stale=true"
        realm = _q(self.realm)
        return [
            f'Digest realm={realm}, nonce="{nonce}", algorithm={algorithm}{tail}'
            for algorithm in self.algorithms
        ]

    def nonce_issued(self, nonce: str) -> float | None:
        """The issue time of a nonce we signed, or None if it is not ours (or tampered)."""
        if len(nonce) != 2 * _NONCE_BYTES:
            return None
        try:
            raw = bytes.fromhex(nonce)
        except ValueError:
            return None
        head, mac = raw[:16], raw[16:]
        expected = self._mac(head)
        if not hmac.compare_digest(mac, expected):
            return None
        issued: int = struct.unpack(">Q", head[:8])[0]
        return float(issued)

    def verify(
        self,
        creds: DigestCredentials,
        *,
        method: str,
        ha1: str | None,
        now: float,
        request_uri: str | None = None,
    ) -> DigestOutcome:
        """Check one set of credentials; see the module docstring for the outcomes."""
        if creds.realm != self.realm:
            return DigestOutcome.WRONG_REALM
        base = creds.algorithm.removesuffix("-sess")
        if (
            base not in self.algorithms
            or creds.qop != "auth"
            or creds.nc is None
            or not creds.cnonce
            or (self.opaque is not None and creds.opaque != self.opaque)
        ):
            return DigestOutcome.MALFORMED
        if request_uri is not None and not uri_matches(creds.uri, request_uri):
            return DigestOutcome.URI_MISMATCH
        issued = self.nonce_issued(creds.nonce)
        if issued is None:
            return DigestOutcome.BAD_NONCE
        expected = compute_response(
            ha1=ha1 if ha1 is not None else self._dummy[base],
            algorithm=creds.algorithm,
            method=method,
            uri=creds.uri,
            nonce=creds.nonce,
            nc_text=creds.nc_text,
            cnonce=creds.cnonce,
            qop=creds.qop,
        )
        if not hmac.compare_digest(expected, creds.response) or ha1 is None:
            return DigestOutcome.BAD_RESPONSE
        expires = issued + self.lifetime
        if expires <= now or issued > now + 60 or self._counter.forgotten(issued):
            return DigestOutcome.STALE
        if not self._counter.accept(creds.nonce, creds.nc, issued=issued, expires=expires, now=now):
            return DigestOutcome.BAD_NC
        return DigestOutcome.OK


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


_URI_HOST = re.compile(r"(sips?):(?:([^@;?]*)@)?(\[[^\]]*\]|[^:;?]*)", re.IGNORECASE)


def uri_matches(digest_uri: str, request_uri: str) -> bool:
    """RFC 7616 §3.4.6 asks that digest-uri name the Request-URI. Clients differ on port and
    parameters (SIPp sends sip:host:port), so scheme, user and host must match."""
    if digest_uri == request_uri:
        return True
    if len(digest_uri) + len(request_uri) <= 512:
        return _uri_matches_cached(digest_uri, request_uri)
    return _uri_matches(digest_uri, request_uri)


def _uri_matches(digest_uri: str, request_uri: str) -> bool:
    if digest_uri == request_uri:
        return True
    a = _URI_HOST.match(digest_uri)
    b = _URI_HOST.match(request_uri)
    if a is None or b is None:
        return False
    return (
        a.group(1).lower() == b.group(1).lower()
        and a.group(2) == b.group(2)
        and a.group(3).lower() == b.group(3).lower()
    )


_uri_matches_cached = functools.lru_cache(maxsize=1024)(_uri_matches)
