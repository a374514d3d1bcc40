"""The IP policy gate's decision: a pure function of (the phone's policy, the source
address, the geo lookup's answer) -> allow, allow-and-lock, or deny with a reason.

003, Security settings:
- OPEN: the phone may connect from anywhere; the first successful contact switches it to
  LOCKED with `ip.address` set to that address. The decision says LOCK; the caller makes
  the switch atomic in the database (`provisioning.gate.service`).
- LOCKED: only from `ip.address`.
- ROAMING: only from addresses whose country (a GeoIP lookup) is in `ip.countries`. No
  database, or no country for the address, is a deny.

Addresses are compared as addresses, not text: `::ffff:1.2.3.4` (an IPv4-mapped IPv6
address, RFC 4291 §2.5.5.2, what a dual-stack socket reports for an IPv4 peer) equals
`1.2.3.4`, `2001:DB8:0::1` equals `2001:db8::1`, and an IPv6 zone (`fe80::1%eth0`) is not
part of the address. Nothing here does I/O, so it is tested exhaustively without sockets.
"""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MODES = ("OPEN", "LOCKED", "ROAMING")


class Action(enum.StrEnum):
    ALLOW = "allow"
    LOCK = "lock"  # allow, and switch the OPEN phone to LOCKED on this address
    DENY = "deny"


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    """A phone's Security settings as stored: `ip.mode`, `ip.address`, `ip.countries`."""

    mode: str
    address: str | None = None
    countries: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class GeoAnswer:
    """What the GeoIP database said about an address.

    `country` is the ISO 3166-1 alpha-2 code, or None with `reason` saying why there is
    none (no database, the address is not in it, the entry has no country).
    """

    country: str | None
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    action: Action
    code: str  # a short stable name of the rule that decided (metrics, tests)
    reason: str  # for operators: events and logs
    address: str  # the source address, normalised (what a LOCK stores)

    @property
    def allowed(self) -> bool:
        return self.action is not Action.DENY


def parse_address(text: str | None) -> IpAddress | None:
    """An address in any usual spelling, normalised; None when it is not an address.

    Accepts `[v6]` brackets and a zone (`%eth0`, dropped); an IPv4-mapped IPv6 address
    becomes the IPv4 address it carries.
    """
    if text is None:
        return None
    candidate = text.strip()
    if candidate.startswith("[") and candidate.endswith("]"):
        candidate = candidate[1:-1]
    candidate = candidate.split("%", 1)[0]
    if not candidate:
        return None
    try:
        address = ipaddress.ip_address(candidate)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def normalize_address(text: str | None) -> str | None:
    """The canonical text of an address (`::ffff:1.2.3.4` -> `1.2.3.4`), or None."""
    address = parse_address(text)
    return None if address is None else str(address)


def needs_geo(policy: Policy) -> bool:
    """Only ROAMING consults the GeoIP database; the caller skips the lookup otherwise."""
    return policy.mode == "ROAMING"


def _deny(code: str, reason: str, address: str) -> Decision:
    return Decision(action=Action.DENY, code=code, reason=reason, address=address)


def decide(policy: Policy, source: str, geo: GeoAnswer | None) -> Decision:
    """The gate's verdict for a contact from `source` (`geo`: its lookup, for ROAMING)."""
    address = parse_address(source)
    if address is None:
        return _deny("bad_source", f"source address {source!r} is not an IP address", source)
    text = str(address)
    if policy.mode == "OPEN":
        return Decision(
            action=Action.LOCK,
            code="open_lock",
            reason=f"OPEN: first contact locks to {text}",
            address=text,
        )
    if policy.mode == "LOCKED":
        return _decide_locked(policy, address, text)
    if policy.mode == "ROAMING":
        return _decide_roaming(policy, text, geo)
    return _deny("unknown_mode", f"unknown IP mode {policy.mode!r}", text)


def _decide_locked(policy: Policy, address: IpAddress, text: str) -> Decision:
    locked_to = parse_address(policy.address)
    if locked_to is None:
        if not (policy.address or "").strip():
            return _deny("locked_invalid", "LOCKED without an address on record", text)
        return _deny(
            "locked_invalid",
            f"LOCKED address on record {policy.address!r} is not an IP address",
            text,
        )
    if locked_to == address:
        return Decision(
            action=Action.ALLOW, code="locked_match", reason=f"LOCKED to {text}", address=text
        )
    # The reason does not name the locked address: callers may show it to the client.
    return _deny("locked_mismatch", f"LOCKED: {text} is not the locked address", text)


def _decide_roaming(policy: Policy, text: str, geo: GeoAnswer | None) -> Decision:
    allowed = {code.strip().upper() for code in policy.countries if code.strip()}
    if not allowed:
        return _deny("roaming_no_countries", "ROAMING without any country allowed", text)
    if geo is None:
        return _deny("roaming_no_country", "ROAMING: no GeoIP lookup was made", text)
    if geo.country is None:
        why = geo.reason or "the GeoIP database has no country for this address"
        return _deny("roaming_no_country", f"ROAMING: {why}", text)
    country = geo.country.upper()
    listed = ",".join(sorted(allowed))
    if country in allowed:
        return Decision(
            action=Action.ALLOW,
            code="roaming_allowed",
            reason=f"ROAMING: {country} is in {listed}",
            address=text,
        )
    return _deny("roaming_country", f"ROAMING: {country} is not in {listed}", text)
