"""What a REGISTER says, read for the registrar: its decision input, its Contact specs,
the phone's own address, the 200's Date, whether an answer fits the transport, and the
extensions it asks for (Path, outbound, GRUU: `register_options`) — pure, and cached where
a phone repeats itself in every REGISTER (`sipcore.server.registrar.register` uses them).

Extensions (`register_options`), read only when the REGISTER has a Path, Supported or
Require header (the plain REGISTER pays two dict look-ups):
- Path (RFC 3327): believed only from a trusted edge proxy (`trusted_proxies`, the
  packet's peer). From anyone else a REGISTER with Path is refused with 403: a phone that
  wrote Path itself would steer sipfleet's requests (a check-sync reboot included) to an
  address of its choosing, and an edge proxy missing from `trusted_proxies` is a
  configuration error better shown at once than as phones that cannot be reached
  (RFC 3327 §5.3 leaves the refusal to the registrar's policy). A Path value that is not
  a SIP URI name-addr is a 400. The Path is echoed in the 200 only when the phone said
  `Supported: path` (§5.3).
- Outbound (RFC 5626 §6): a Contact's reg-id counts when the REGISTER came straight from
  the phone (one Via, no Path) or the Path URI nearest the phone (the last value, the
  edge proxy's) has `;ob`. Through a proxy without Path or an edge without `;ob` the
  reg-id is ignored and the 200 has no `Require: outbound`, which tells the phone that
  outbound is not in use. (439 First Hop Lacks Outbound Support, §11.6, is not sent:
  pjsip-based phones, outbound on by default over TCP/TLS, do not retry without outbound
  after a 439, so they would never register through such an edge.)
- GRUU (RFC 5627): `Supported: gruu` asks for the `pub-gruu` of each instance in the 200.
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import sys
import time

from sipcore.errors import SipParseError
from sipcore.headers import parse_contacts, parse_name_addr, split_values
from sipcore.message import SipRequest
from sipcore.parser import MAX_MESSAGE_SIZE
from sipcore.registrar.decision import ContactSpec, RegisterInput
from sipcore.syntax import frozen_builder
from sipcore.uri import SipUri

_RegisterInput = frozen_builder(RegisterInput)

# One UDP datagram carries at most 65,535 - 8 (UDP header) - 20 (IPv4 header) bytes; a
# larger answer cannot be sent at all. On streams the bound is the SIP message size limit
# (`sipcore.parser`), which our peers' framers apply too.
MAX_UDP_PAYLOAD = 65_507


def fits(transport: str, size: int) -> bool:
    """Can a response of `size` bytes reach the phone over `transport`?"""
    return size <= (MAX_UDP_PAYLOAD if transport == "udp" else MAX_MESSAGE_SIZE)


_date_cache: list[object] = [0, ""]


def http_date() -> str:
    """RFC 3261 §20.17 Date (RFC 1123 form, GMT), formatted once per second."""
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache[0] = now
        _date_cache[1] = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(now))
    return str(_date_cache[1])


def interned(text: str | None) -> str | None:
    """Phones of one model share a User-Agent: keep one copy in memory."""
    return sys.intern(text) if text is not None and len(text) < 200 else text


def register_input(request: SipRequest) -> RegisterInput:
    """The parts of a parsed REGISTER the decision needs (raises SipParseError → 400)."""
    lines = request.headers._index.get("contact")
    key = tuple(lines) if lines else ()
    if sum(map(len, key)) <= 1024:
        specs, star = contact_specs_cached(key)
    else:
        specs, star = _contact_specs(key)
    return _RegisterInput(
        call_id=request.call_id,
        cseq=request.cseq().number,
        contacts=specs,
        star=star,
        expires_header=request.expires(),
    )


def _contact_specs(lines: tuple[str, ...]) -> tuple[tuple[ContactSpec, ...], bool]:
    """The Contact lines as the decision sees them, and whether they are `*`."""
    contacts = parse_contacts(lines)
    specs = tuple(
        ContactSpec(
            uri=str(item.address.uri),
            expires=item.expires,
            q=item.q,
            instance_id=item.instance,
            reg_id=item.reg_id,
        )
        for item in contacts.contacts
    )
    return specs, contacts.wildcard


# A phone sends the same Contact in every REGISTER: its specs (immutable) are cached, so a
# refresh does not write the contact URI back to text again.
contact_specs_cached = functools.lru_cache(maxsize=16384)(_contact_specs)


def local_ip(contact: str, request: SipRequest) -> str | None:
    """The phone's own address: its Contact host, else its Via sent-by, when an IP."""
    via_host = request.top_via().host
    if len(contact) + len(via_host) <= 512:
        return _local_ip_cached(contact, via_host)
    return _local_ip_of(contact, via_host)


def _local_ip_of(contact: str, via_host: str) -> str | None:
    host = contact.partition("@")[2] or contact.partition(":")[2]
    host = host.split(";")[0].split(">")[0]
    bracketed = host.startswith("[")
    host = host[1:].partition("]")[0] if bracketed else (host.rpartition(":")[0] or host)
    for candidate in (host, via_host):
        if candidate.count(".") == 3 and candidate.replace(".", "").isdigit():
            parts = candidate.split(".")
            # (isdigit admits "" only through the split, and non-ASCII digits: neither int)
            if all(0 < len(part) <= 3 and part.isascii() and int(part) < 256 for part in parts):
                return candidate  # dotted IPv4, the common case, without ipaddress
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            continue
    return None


# A phone's Contact and Via host repeat in every REGISTER (pure function of two strings).
_local_ip_cached = functools.lru_cache(maxsize=16384)(_local_ip_of)


# --- extensions: Path, outbound, GRUU --------------------------------------------------

# The option tags the registrar honours in a REGISTER's Require (others are a 420).
REGISTER_EXTENSIONS = frozenset({"path", "outbound", "gruu"})


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RegisterOptions:
    """What a REGISTER's Path / Supported / Require headers ask of the registrar."""

    path: str | None = None  # the Path values as one Route value, in order
    path_values: tuple[str, ...] = ()
    echo_path: bool = False  # Supported: path — the 200 carries the Path (RFC 3327 §5.3)
    outbound: bool = False  # Supported: outbound
    gruu: bool = False  # Supported: gruu
    reg_id_counts: bool = True  # no Path, or the edge's Path URI has ;ob

    @property
    def plain(self) -> bool:
        """Nothing for the registrar to do beyond a REGISTER without these headers."""
        return self.path is None and not self.outbound and not self.gruu

    @property
    def path_only(self) -> bool:
        """A Path and nothing else (what an edge proxy adds to every REGISTER): the 200 is
        the plain one, with the Path echoed when asked."""
        return not self.outbound and not self.gruu


PLAIN = RegisterOptions()


class OptionsRefused(Exception):
    """A REGISTER whose extension headers are refused: `status` and `reason`."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@functools.lru_cache(maxsize=1024)
def _tags(lines: tuple[str, ...]) -> frozenset[str]:
    return frozenset(
        item.strip().lower() for line in lines for item in line.split(",") if item.strip()
    )


def register_options(request: SipRequest, trusted_peer: bool) -> RegisterOptions:
    """The extensions a REGISTER asks for (module docstring); PLAIN when none. Raises
    OptionsRefused for a Path from an untrusted peer (403) or one that does not parse
    (400)."""
    index = request.headers._index
    supported = index.get("supported")
    require = index.get("require")
    tags = _tags(tuple(supported or ()) + tuple(require or ()))
    lines = index.get("path")
    path_values: tuple[str, ...] = ()
    reg_id_counts = True
    if lines:
        if not trusted_peer:
            raise OptionsRefused(403, "Path Not Accepted From This Peer")
        path_values = _path_values(tuple(lines))
        reg_id_counts = _has_ob(path_values[-1])
    if not path_values and not tags & REGISTER_EXTENSIONS:
        return PLAIN
    options = RegisterOptions(
        path=", ".join(path_values) if path_values else None,
        path_values=path_values,
        echo_path=bool(path_values) and "path" in tags,
        outbound="outbound" in tags,
        gruu="gruu" in tags,
        reg_id_counts=reg_id_counts,
    )
    return PLAIN if options.plain else options  # (Supported: path alone, straight)


def _path_values(lines: tuple[str, ...]) -> tuple[str, ...]:
    out: list[str] = []
    for line in lines:
        for value in split_values(line):
            try:
                address = parse_name_addr(value)
            except SipParseError:
                raise OptionsRefused(400, "Bad Path") from None
            if not isinstance(address.uri, SipUri) or address.display_name is not None:
                raise OptionsRefused(400, "Bad Path")
            out.append(str(address))
    if not out:
        raise OptionsRefused(400, "Bad Path")
    return tuple(out)


def _has_ob(value: str) -> bool:
    uri = parse_name_addr(value).uri
    return isinstance(uri, SipUri) and uri.has_param("ob")


def first_hop_outbound(request: SipRequest, options: RegisterOptions) -> bool:
    """Does the hop next to the phone support outbound (RFC 5626 §6)? Through an edge
    with Path: its Path URI has `;ob`; without Path: only when the REGISTER came straight
    from the phone (one Via) — a proxy that adds no Path cannot keep a flow for it."""
    if options.path is not None:
        return options.reg_id_counts
    lines = request.headers._index.get("via", ())
    return len(lines) == 1 and ("," not in lines[0] or len(split_values(lines[0])) == 1)


def options_specs(
    specs: tuple[ContactSpec, ...], options: RegisterOptions, request: SipRequest
) -> tuple[ContactSpec, ...]:
    """The Contacts as the decision sees them: `specs` itself when their reg-ids count,
    else without their reg-id (the first hop lacks outbound support: `first_hop_outbound`;
    see the module docstring for why this is not a 439)."""
    if all(item.reg_id is None for item in specs) or first_hop_outbound(request, options):
        return specs
    return tuple(dataclasses.replace(item, reg_id=None) for item in specs)


def route_of(path: str) -> tuple[str, str, int]:
    """(transport, host, port) of the first hop of a stored Path: its first URI's host and
    port (5060, 5061 for sips), its transport parameter (else udp, tls for sips)."""
    first = split_values(path)[0]
    uri = parse_name_addr(first).uri
    if not isinstance(uri, SipUri):
        raise SipParseError("Path is not a SIP URI")
    secure = uri.scheme == "sips"
    transport = uri.transport or ("tls" if secure else "udp")
    return transport, uri.host, uri.port or (5061 if secure else 5060)
