"""SIP header fields: names, the ordered header list, and typed views of the values.

Public API:
    header_key(name) -> str          canonical lower-case long name; compact forms (§7.3.3,
                                     §20: i m f t v l c k s e o u r b x y a j d) map through
                                     COMPACT_FORMS; raises SipParseError on a non-token name
    canonical_name(key) -> str       "call-id" -> "Call-ID" (for headers we write)
    LIST_HEADERS                     keys whose values are comma-separated lists (§7.3.1)
    Headers(items)                   immutable ordered list of (name as sent, value):
        .get(name) -> str | None       first line's value (any casing / compact form)
        .get_all(name) -> list[str]    every line's value, in order
        .values(name) -> list[str]     every element, list headers split on commas
        .has(name) -> bool, len(), iter() -> (name, value), .items -> tuple
        .with_added(name, value, *, first=False) -> Headers
        .without(name) -> Headers       .replaced(name, value) -> Headers
    NameAddr(display_name, uri, params)    From/To/Contact/Route values; .tag, .param(name)
    parse_name_addr(text) -> NameAddr      name-addr or addr-spec with header params
    Via(protocol, transport, host, port, params)  .branch .received .rport .has_rport
        .sent_by() -> str, .with_received(ip, port) -> Via (RFC 3261 §18.2.1, RFC 3581 §4)
    parse_via(text) -> Via
    Contact(address, expires, q, instance, reg_id)   one REGISTER Contact value
    ContactList(wildcard, contacts)                  `Contact: *` has wildcard=True
    parse_contacts(values) -> ContactList
    CSeq(number, method), parse_cseq(text) -> CSeq
    parse_delta_seconds(text) -> int       Expires / expires= (values over 2**32-1 capped)
    clear_caches()                         parse_name_addr, parse_contacts, parse_cseq and
                                           uri.parse_uri keep bounded LRU caches of results
                                           for short texts (results are immutable)
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from sipcore.errors import SipParseError
from sipcore.syntax import (
    Params,
    format_params,
    param_get,
    param_set,
    parse_params,
    quote,
    quoted_end,
    split_commas,
    unquote,
)
from sipcore.uri import (
    CACHEABLE_LENGTH,
    AbsoluteUri,
    SipUri,
    _parse_uri_cached,
    format_host,
    parse_port,
    parse_uri,
)

# §7.3.3 compact forms, plus those registered since (RFC 3265/3515/3892/3841/4028/3329).
COMPACT_FORMS: dict[str, str] = {
    "i": "call-id",
    "m": "contact",
    "f": "from",
    "t": "to",
    "v": "via",
    "l": "content-length",
    "c": "content-type",
    "k": "supported",
    "s": "subject",
    "e": "content-encoding",
    "o": "event",
    "u": "allow-events",
    "r": "refer-to",
    "b": "referred-by",
    "x": "session-expires",
    "y": "identity",
    "a": "accept-contact",
    "j": "reject-contact",
    "d": "request-disposition",
}

_CANONICAL: dict[str, str] = {
    "call-id": "Call-ID",
    "cseq": "CSeq",
    "www-authenticate": "WWW-Authenticate",
    "mime-version": "MIME-Version",
    "rack": "RAck",
    "rseq": "RSeq",
    "sip-etag": "SIP-ETag",
    "sip-if-match": "SIP-If-Match",
}

# §7.3.1: headers whose grammar is a comma-separated list (not Authorization & co.,
# whose parameters contain commas, nor Date, From, To, Call-ID, CSeq, User-Agent...).
LIST_HEADERS = frozenset(
    {
        "via", "contact", "route", "record-route", "path", "service-route", "allow",
        "supported", "require", "proxy-require", "unsupported", "accept", "accept-encoding",
        "accept-language", "content-encoding", "content-language", "allow-events",
        "in-reply-to", "warning", "error-info", "alert-info", "call-info",
        "accept-contact", "reject-contact", "request-disposition", "security-client",
        "security-server", "security-verify", "p-associated-uri",
    }
)  # fmt: skip

# field-name = token (§25.1)
_NAME = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
_KEY_CACHE: dict[str, str] = {}
_KEY_CACHE_LIMIT = 4096


def header_key(name: str) -> str:
    """The canonical lookup key of a header name (lower case, compact form expanded)."""
    key = _KEY_CACHE.get(name)
    if key is not None:
        return key
    if not _NAME.fullmatch(name):
        raise SipParseError(f"bad header name {name[:30]!r}")
    lower = name.lower()
    key = COMPACT_FORMS.get(lower, lower)
    if len(_KEY_CACHE) < _KEY_CACHE_LIMIT:
        _KEY_CACHE[name] = key
    return key


def canonical_name(key: str) -> str:
    """The usual spelling of a header we write ("call-id" -> "Call-ID")."""
    name = _CANONICAL.get(key)
    if name is not None:
        return name
    return "-".join(part.capitalize() for part in key.split("-"))


class Headers:
    """An immutable, ordered header list that keeps each name as it was sent.

    Lookups go through `header_key`, so "v", "Via" and "VIA" find the same lines.
    """

    __slots__ = ("_index", "_items")

    _items: tuple[tuple[str, str], ...]
    _index: dict[str, list[str]]

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items = tuple(items)
        index: dict[str, list[str]] = {}
        for name, value in self._items:
            key = header_key(name)
            found = index.get(key)
            if found is None:
                index[key] = [value]
            else:
                found.append(value)
        self._index = index

    @classmethod
    def _trusted(cls, items: tuple[tuple[str, str], ...], index: dict[str, list[str]]) -> Headers:
        """Build from already-validated parts (the parser's fast path)."""
        self = cls.__new__(cls)
        self._items = items
        self._index = index
        return self

    @property
    def items(self) -> tuple[tuple[str, str], ...]:
        return self._items

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return self._items == other._items

    def __hash__(self) -> int:
        return hash(self._items)

    def __repr__(self) -> str:
        return f"Headers({list(self._items)!r})"

    def has(self, name: str) -> bool:
        return header_key(name) in self._index

    def get(self, name: str) -> str | None:
        found = self._index.get(header_key(name))
        return found[0] if found else None

    def get_all(self, name: str) -> list[str]:
        return list(self._index.get(header_key(name), ()))

    def values(self, name: str) -> list[str]:
        key = header_key(name)
        lines = self._index.get(key, ())
        if key not in LIST_HEADERS:
            return list(lines)
        out: list[str] = []
        for line in lines:
            out.extend(split_values(line))
        return out

    def with_added(self, name: str, value: str, *, first: bool = False) -> Headers:
        item = ((name, value),)
        return Headers(item + self._items if first else self._items + item)

    def without(self, name: str) -> Headers:
        key = header_key(name)
        return Headers(item for item in self._items if header_key(item[0]) != key)

    def replaced(self, name: str, value: str) -> Headers:
        """The first line of `name` replaced by `value` (others dropped), or appended."""
        key = header_key(name)
        out: list[tuple[str, str]] = []
        done = False
        for item in self._items:
            if header_key(item[0]) == key:
                if not done:
                    out.append((item[0], value))
                    done = True
                continue
            out.append(item)
        if not done:
            out.append((name, value))
        return Headers(out)


def split_values(value: str) -> list[str]:
    """Comma-split one list header line (quotes and <> respected)."""
    return split_commas(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class NameAddr:
    """( name-addr / addr-spec ) *( SEMI generic-param ) — From, To, Contact, Route."""

    display_name: str | None = None  # unquoted text
    uri: SipUri | AbsoluteUri
    params: Params = ()

    def __str__(self) -> str:
        display = ""
        if self.display_name is not None:
            display = quote(self.display_name) + " "
        return f"{display}<{self.uri}>{format_params(self.params)}"

    @property
    def tag(self) -> str | None:
        return param_get(self.params, "tag")

    def param(self, name: str) -> str | None:
        return param_get(self.params, name)


def parse_name_addr(text: str) -> NameAddr:
    """name-addr = [ display-name ] LAQUOT addr-spec RAQUOT; or a bare addr-spec, whose
    following `;params` are header parameters, not URI parameters (§20.10).

    Results are immutable and cached: a phone's To and Contact repeat in every REGISTER."""
    if len(text) <= CACHEABLE_LENGTH:
        return _parse_name_addr_cached(text)
    return _parse_name_addr(text)


def _parse_name_addr(text: str) -> NameAddr:
    text = text.strip(" \t")
    display: str | None = None
    if text.startswith('"'):
        end = quoted_end(text, 0)
        display = unquote(text[:end])
        rest = text[end:].lstrip(" \t")
        if not rest.startswith("<"):
            raise SipParseError("expected '<' after display name")
        lt = 0
        text = rest
    else:
        lt = text.find("<")
    if lt >= 0:
        gt = text.find(">", lt)
        if gt < 0:
            raise SipParseError("unterminated '<' in address")
        if display is None:
            words = text[:lt].split()
            if any(not _NAME.fullmatch(word) for word in words):
                raise SipParseError("bad display name")
            display = " ".join(words) if words else None
        uri_text = text[lt + 1 : gt]
        rest = text[gt + 1 :]
    else:
        uri_text, semi, rest = text.partition(";")
        if semi:
            rest = ";" + rest
        if any(ch in uri_text for ch in " \t,?"):
            raise SipParseError("bad addr-spec")
    return NameAddr(display_name=display, uri=parse_uri(uri_text), params=parse_params(rest))


_parse_name_addr_cached = functools.lru_cache(maxsize=8192)(_parse_name_addr)


@dataclass(frozen=True, slots=True, kw_only=True)
class Via:
    """via-parm = sent-protocol LWS sent-by *( SEMI via-params ) (§20.42)."""

    protocol: str = "SIP/2.0"
    transport: str  # upper case: UDP, TCP, TLS, WS, WSS, SCTP
    host: str  # IPv6 without brackets
    port: int | None = None
    params: Params = ()

    def __str__(self) -> str:
        return f"{self.protocol}/{self.transport} {self.sent_by()}{format_params(self.params)}"

    def sent_by(self) -> str:
        host = format_host(self.host)
        return host if self.port is None else f"{host}:{self.port}"

    @property
    def branch(self) -> str | None:
        return param_get(self.params, "branch")

    @property
    def received(self) -> str | None:
        return param_get(self.params, "received")

    @property
    def has_rport(self) -> bool:
        # a loop, not any(genexpr): asked twice per request
        for key, _ in self.params:  # noqa: SIM110
            if key == "rport" or key.lower() == "rport":
                return True
        return False

    @property
    def rport(self) -> int | None:
        """The rport value when one is filled in (RFC 3581), else None; raises
        SipParseError when it is not a port number."""
        value = param_get(self.params, "rport")
        if not value:
            return None
        if not (value.isascii() and value.isdigit()) or len(value) > 5 or int(value) > 65535:
            raise SipParseError("bad rport in Via")
        return int(value)

    def with_received(self, source_ip: str, source_port: int) -> Via:
        """§18.2.1: `received` is the packet's source address when sent-by's host is not it;
        RFC 3581 §4: a requested `rport` is the source port (and then `received` is always
        added). The top Via is written by the peer that sent the packet, so whatever it put
        in `received` or `rport` is replaced by what the packet shows, never followed: a
        client must not choose where answers go (reflection, amplification)."""
        params = self.params
        wants_rport = False
        forged = False
        for key, value in params:
            lkey = key.lower()
            if lkey == "rport":
                wants_rport = True
                forged = forged or value is not None
            elif lkey == "received":
                forged = True
        if forged:
            params = tuple(
                (key, None if key.lower() == "rport" else value)
                for key, value in params
                if key.lower() != "received"
            )
        if wants_rport:
            params = param_set(params, "rport", str(source_port))
        if wants_rport or self.host != source_ip:
            params = param_set(params, "received", source_ip)
        if params == self.params:
            return self
        return Via(
            protocol=self.protocol,
            transport=self.transport,
            host=self.host,
            port=self.port,
            params=params,
        )


# sent-protocol LWS sent-by, possessive so that no input makes the match slow.
_VIA_HEAD = re.compile(
    r"[ \t]*+([A-Za-z0-9\-.!%*_+`'~]++)[ \t]*+/[ \t]*+([A-Za-z0-9\-.!%*_+`'~]++)[ \t]*+/"
    r"[ \t]*+([A-Za-z0-9\-.!%*_+`'~]++)[ \t]++(\[[0-9A-Fa-f:.]++\]|[A-Za-z0-9\-_.]++)"
    r"(?:[ \t]*+:[ \t]*+([0-9]{1,5}+))?+[ \t]*+"
)


def parse_via(text: str) -> Via:
    """Parse one via-parm (a single element of a Via header line)."""
    match = _VIA_HEAD.match(text)
    if match is None:
        raise SipParseError("bad Via")
    name, version, transport, host, port_text = match.groups()
    if host[0] == "[":
        host = host[1:-1]
    via: Via = _new(Via)  # Via(...) without the frozen __init__: one per request parsed
    _set_protocol(via, "SIP/2.0" if name == "SIP" and version == "2.0" else f"{name}/{version}")
    _set_transport(via, transport.upper())
    _set_host(via, host)
    _set_port(via, parse_port(port_text) if port_text else None)
    _set_params(via, parse_params(text[match.end() :]))
    return via


_new = object.__new__
_set_protocol = Via.__dict__["protocol"].__set__
_set_transport = Via.__dict__["transport"].__set__
_set_host = Via.__dict__["host"].__set__
_set_port = Via.__dict__["port"].__set__
_set_params = Via.__dict__["params"].__set__


MAX_DELTA_SECONDS = 2**32 - 1


def parse_delta_seconds(text: str) -> int:
    """delta-seconds = 1*DIGIT; §20.19: larger than 2**32-1 is taken as 2**32-1."""
    text = text.strip(" \t")
    if not text.isdigit() or not text.isascii():
        raise SipParseError(f"bad delta-seconds {text[:20]!r}")
    return min(int(text[:12]), MAX_DELTA_SECONDS) if len(text) <= 12 else MAX_DELTA_SECONDS


_QVALUE = re.compile(r"0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?")


@dataclass(frozen=True, slots=True, kw_only=True)
class Contact:
    """One Contact value of a REGISTER (§10.2.1, §20.10; RFC 5626 §4.2 instance/reg-id)."""

    address: NameAddr
    expires: int | None = None
    q: float | None = None
    instance: str | None = None  # +sip.instance value without its quotes: "<urn:uuid:…>"
    reg_id: int | None = None

    def __str__(self) -> str:
        return str(self.address)

    @property
    def uri(self) -> SipUri | AbsoluteUri:
        return self.address.uri


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactList:
    """All Contact values of a message; `Contact: *` alone gives wildcard=True."""

    wildcard: bool = False
    contacts: tuple[Contact, ...] = ()


def parse_contact(text: str) -> Contact:
    address = parse_name_addr(text)
    expires = q = instance = reg_id = None
    for key, value in address.params:
        lkey = key.lower()
        if lkey == "expires":
            expires = parse_delta_seconds(value or "")
        elif lkey == "q":
            if value is None or not _QVALUE.fullmatch(value):
                raise SipParseError("bad q value in Contact")
            q = float(value)
        elif lkey == "+sip.instance":
            instance = unquote(value or "")
        elif lkey == "reg-id":
            if value is None or not value.isdigit() or not value.isascii() or len(value) > 10:
                raise SipParseError("bad reg-id in Contact")
            reg_id = int(value)
            if reg_id >= 2**31:  # RFC 5626 §4.2: at most 2**31-1 (an integer column)
                raise SipParseError("bad reg-id in Contact")
    return Contact(address=address, expires=expires, q=q, instance=instance, reg_id=reg_id)


def parse_contacts(values: Iterable[str]) -> ContactList:
    """Contact = ( STAR / (contact-param *(COMMA contact-param)) ) over every line."""
    lines = tuple(values)
    if sum(map(len, lines)) <= CACHEABLE_LENGTH:
        return _parse_contact_lines_cached(lines)
    return _parse_contact_lines(lines)


def _parse_contact_lines(values: tuple[str, ...]) -> ContactList:
    items = []
    for line in values:
        items.extend(split_values(line))
    if "*" in items:
        if len(items) != 1:
            raise SipParseError("'Contact: *' mixed with other contacts")
        return ContactList(wildcard=True)
    return ContactList(contacts=tuple(parse_contact(item) for item in items))


# Cached: a phone sends the same Contact in every REGISTER (the result is immutable).
_parse_contact_lines_cached = functools.lru_cache(maxsize=8192)(_parse_contact_lines)


@dataclass(frozen=True, slots=True, kw_only=True)
class CSeq:
    """CSeq = 1*DIGIT LWS Method (§20.16); the number is below 2**31 (§8.1.1.5)."""

    number: int
    method: str

    def __str__(self) -> str:
        return f"{self.number} {self.method}"


def parse_cseq(text: str) -> CSeq:
    if len(text) <= 64:
        return _parse_cseq_cached(text)
    return _parse_cseq(text)


def _parse_cseq(text: str) -> CSeq:
    number, _, method = text.strip(" \t").partition(" ")
    method = method.strip(" \t")
    if (
        not number.isdigit()
        or not number.isascii()
        or len(number) > 10
        or not _NAME.fullmatch(method)
    ):
        raise SipParseError("bad CSeq")
    value = int(number)
    if value >= 2**31:
        raise SipParseError("CSeq number too large")
    return CSeq(number=value, method=method)


_parse_cseq_cached = functools.lru_cache(maxsize=1024)(_parse_cseq)


def clear_caches() -> None:
    """Forget every cached parse (benchmarks measure the cold path with this)."""
    for cached in (
        _parse_uri_cached, _parse_name_addr_cached, _parse_contact_lines_cached,
        _parse_cseq_cached,
    ):  # fmt: skip
        cached.cache_clear()
