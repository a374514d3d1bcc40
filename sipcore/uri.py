"""SIP and SIPS URIs (RFC 3261 §19.1, grammar §25.1) and other absolute URIs.

Public API:
    SipUri(scheme, user, password, host, port, params, headers)   frozen dataclass
        .host is without IPv6 brackets ("::1"); `str(uri)` writes it back ("[::1]").
        .user / .password are kept as sent (still %-escaped).
        .param(name) -> str | None, .has_param(name) -> bool, .transport -> str | None
        .host_port() -> str ("host", "host:5060", "[::1]:5060")
        .aor() -> str  the address-of-record key "sip:user@host" (host lower-cased,
                       user unescaped, no port/params), §10.3 step 5
        .with_params(**) not provided: build with dataclasses.replace
    AbsoluteUri(scheme, text)    any other scheme (tel:, urn:, mailto:), kept as text
    parse_uri(text) -> SipUri | AbsoluteUri       raises SipParseError (400)
    parse_sip_uri(text) -> SipUri                 raises UnsupportedUriScheme (416) for a
                                                  valid non-SIP URI, SipParseError otherwise
    format_host(host) -> str                      brackets an IPv6 literal
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from urllib.parse import unquote as _percent_unquote

from sipcore.errors import SipParseError, UnsupportedUriScheme
from sipcore.syntax import Params, format_params, param_get, param_has

# scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*")
# user = 1*( unreserved / escaped / user-unreserved ), user-unreserved = "&=+$,;?/";
# escapes ("%" 2HEXDIG) are checked apart, which keeps these patterns plain character sets.
_USER = re.compile(r"[A-Za-z0-9\-_.!~*'()&=+$,;?/%]+")
# password = *( unreserved / escaped / "&" / "=" / "+" / "$" / "," )
_PASSWORD = re.compile(r"[A-Za-z0-9\-_.!~*'()&=+$,%]*")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
# hostname / IPv4address (a lenient hostname: "_" is seen in the wild)
_HOSTNAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9\-_.]*[A-Za-z0-9.])?")
# IPv6reference = "[" IPv6address "]"
_IPV6 = re.compile(r"[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*")
# uri-parameters = *( ";" pname [ "=" pvalue ] ); pname / pvalue = 1*paramchar
_URI_PARAMS = re.compile(
    r"[A-Za-z0-9\-_.!~*'()\[\]/:&+$%]++(?:=[A-Za-z0-9\-_.!~*'()\[\]/:&+$%]++)?+"
    r"(?:;[A-Za-z0-9\-_.!~*'()\[\]/:&+$%]++(?:=[A-Za-z0-9\-_.!~*'()\[\]/:&+$%]++)?+)*+"
)
# The common SIP URI in one match: the same character sets as the general path.
_COMMON_SIP = re.compile(
    r"(?:([A-Za-z0-9\-_.!~*'()&=+$,;?/]++)@)?+"
    r"([A-Za-z0-9](?:[A-Za-z0-9\-_.]*[A-Za-z0-9.])?)"
    r"(?::([0-9]{1,5}+))?+"
    r"((?:;[A-Za-z0-9\-_.!~*'()\[\]/:&+$]++(?:=[A-Za-z0-9\-_.!~*'()\[\]/:&+$]++)?+)*+)"
)
# hname / hvalue = *( hnv-unreserved / unreserved / escaped ); hnv-unreserved "[]/?:+$"
_HCHARS = re.compile(r"[A-Za-z0-9\-_.!~*'()\[\]/?:+$%]*")
# absoluteURI (RFC 2396): hier_part / opaque_part; no whitespace, no <>" and no comma-free check
_ABS_REST = re.compile(r"[^\s<>\"]+")


@dataclass(frozen=True, slots=True, kw_only=True)
class SipUri:
    """A parsed sip:/sips: URI; writing it back with str() keeps its meaning."""

    scheme: str = "sip"
    user: str | None = None
    password: str | None = None
    host: str
    port: int | None = None
    params: Params = ()
    headers: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        out = [self.scheme, ":"]
        if self.user is not None:
            out.append(self.user)
            if self.password is not None:
                out.append(":" + self.password)
            out.append("@")
        out.append(self.host_port())
        if self.params:
            out.append(format_params(self.params))
        if self.headers:
            out.append("?" + "&".join(f"{k}={v}" for k, v in self.headers))
        return "".join(out)

    def host_port(self) -> str:
        host = format_host(self.host)
        return host if self.port is None else f"{host}:{self.port}"

    def param(self, name: str) -> str | None:
        return param_get(self.params, name)

    def has_param(self, name: str) -> bool:
        return param_has(self.params, name)

    @property
    def transport(self) -> str | None:
        value = param_get(self.params, "transport")
        return value.lower() if value else None

    def aor(self) -> str:
        """Canonical address-of-record: scheme, unescaped user, lower-cased host (§10.3)."""
        user = self.user or ""
        if "%" in user:
            user = _percent_unquote(user)
        host = format_host(self.host.lower())
        return f"{self.scheme}:{user}@{host}" if user else f"{self.scheme}:{host}"


@dataclass(frozen=True, slots=True, kw_only=True)
class AbsoluteUri:
    """A URI of a scheme other than sip/sips (tel:, urn:, mailto:, …), kept verbatim."""

    scheme: str
    text: str

    def __str__(self) -> str:
        return self.text


def format_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


CACHEABLE_LENGTH = 512  # longer texts are parsed every time, so the caches stay small


def parse_uri(text: str) -> SipUri | AbsoluteUri:
    """Parse a Request-URI or the URI of a name-addr / addr-spec (§25.1).

    Results are immutable and cached: a phone sends the same URIs in every REGISTER."""
    if len(text) <= CACHEABLE_LENGTH:
        return _parse_uri_cached(text)
    return _parse_uri(text)


def _parse_uri(text: str) -> SipUri | AbsoluteUri:
    scheme, colon, rest = text.partition(":")
    if not colon or not _SCHEME.fullmatch(scheme):
        raise SipParseError(f"bad URI {text[:40]!r}")
    lscheme = scheme.lower()
    if lscheme != "sip" and lscheme != "sips":
        if not _ABS_REST.fullmatch(rest):
            raise SipParseError(f"bad {lscheme} URI")
        return AbsoluteUri(scheme=lscheme, text=text)
    return _parse_sip(lscheme, rest, text)


_parse_uri_cached = functools.lru_cache(maxsize=8192)(_parse_uri)


def parse_sip_uri(text: str) -> SipUri:
    uri = parse_uri(text)
    if isinstance(uri, AbsoluteUri):
        raise UnsupportedUriScheme(f"unsupported URI scheme {uri.scheme[:20]!r}")
    return uri


def _parse_sip(scheme: str, rest: str, text: str) -> SipUri:
    """One pattern for the usual shape (user@host[:port][;params], no escapes, password,
    IPv6 or headers); everything else takes the general path below."""
    match = _COMMON_SIP.fullmatch(rest)
    if match is None:
        return _parse_sip_general(scheme, rest, text)
    user, host, port_text, param_text = match.groups()
    port = None
    if port_text is not None:
        port = int(port_text)
        if port > 65535:
            raise SipParseError(f"port out of range: {port}")
    params: Params = ()
    if param_text:
        out: list[tuple[str, str | None]] = []
        for part in param_text[1:].split(";"):
            name, eq, value = part.partition("=")
            out.append((name, value if eq else None))
        params = tuple(out)
    return SipUri(scheme=scheme, user=user, host=host, port=port, params=params)


def _parse_sip_general(scheme: str, rest: str, text: str) -> SipUri:
    # SIP-URI = "sip:" [ userinfo ] hostport uri-parameters [ headers ]
    # "@" appears nowhere after the userinfo, which itself may hold ";" and "?".
    user = password = None
    at = rest.rfind("@")
    if at >= 0:
        userinfo, rest = rest[:at], rest[at + 1 :]
        # userinfo = ( user / telephone-subscriber ) [ ":" password ] "@"
        user, colon, pw = userinfo.partition(":")
        if not _USER.fullmatch(user) or ("%" in userinfo and _BAD_ESCAPE.search(userinfo)):
            raise SipParseError("bad user part in URI")
        if colon:
            if not _PASSWORD.fullmatch(pw):
                raise SipParseError("bad password part in URI")
            password = pw
    rest, qmark, header_text = rest.partition("?")
    hostport, semi, param_text = rest.partition(";")
    host, port = _parse_hostport(hostport)
    params = _parse_uri_params(param_text) if semi else ()
    headers = _parse_uri_headers(header_text) if qmark else ()
    return SipUri(
        scheme=scheme,
        user=user,
        password=password,
        host=host,
        port=port,
        params=params,
        headers=headers,
    )


def _parse_hostport(hostport: str) -> tuple[str, int | None]:
    """hostport = host [ ":" port ]; host = hostname / IPv4address / IPv6reference."""
    if hostport.startswith("["):
        close = hostport.find("]")
        host = hostport[1:close] if close > 0 else ""
        if close < 0 or not _IPV6.fullmatch(host):
            raise SipParseError("bad IPv6 reference in URI")
        after = hostport[close + 1 :]
        if not after:
            return host, None
        if after[0] != ":":
            raise SipParseError("bad text after IPv6 reference")
        return host, parse_port(after[1:])
    host, colon, port_text = hostport.partition(":")
    if not _HOSTNAME.fullmatch(host):
        raise SipParseError(f"bad host {host[:40]!r}")
    return host, (parse_port(port_text) if colon else None)


def parse_port(text: str) -> int:
    if not text.isdigit() or not text.isascii() or len(text) > 5:
        raise SipParseError(f"bad port {text[:10]!r}")
    port = int(text)
    if port > 65535:
        raise SipParseError(f"port out of range: {port}")
    return port


def _parse_uri_params(text: str) -> Params:
    if not _URI_PARAMS.fullmatch(text) or ("%" in text and _BAD_ESCAPE.search(text)):
        raise SipParseError("bad URI parameters")
    out: list[tuple[str, str | None]] = []
    for part in text.split(";"):
        name, eq, value = part.partition("=")
        out.append((name, value if eq else None))
    return tuple(out)


def _parse_uri_headers(text: str) -> tuple[tuple[str, str], ...]:
    out = []
    for part in text.split("&"):
        name, eq, value = part.partition("=")
        if (
            not eq
            or not name
            or not _HCHARS.fullmatch(name)
            or not _HCHARS.fullmatch(value)
            or _BAD_ESCAPE.search(part)
        ):
            raise SipParseError("bad URI header")
        out.append((name, value))
    return tuple(out)
