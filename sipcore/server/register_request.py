"""What a REGISTER says, read for the registrar: its decision input, its Contact specs,
the phone's own address, the 200's Date, and whether an answer fits the transport — pure,
and cached where a phone repeats itself in every REGISTER (`sipcore.server.register` uses
them).
"""

from __future__ import annotations

import functools
import ipaddress
import sys
import time

from sipcore.headers import parse_contacts
from sipcore.message import SipRequest
from sipcore.parser import MAX_MESSAGE_SIZE
from sipcore.registrar import ContactSpec, RegisterInput
from sipcore.syntax import frozen_builder

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
