"""The identity check: does the User-Agent name the device on record?

A phone's credentials sit in its config file in clear; if they leak, they will be used
from something else — typically a softphone. Phones name themselves in the User-Agent
(SIP, RFC 3261 §20.41, and HTTP on provisioning fetches), so a User-Agent that names
another vendor, model or MAC than the record is worth an event at once (`phone.mismatch`),
or a deny in strict mode (`settings.strict_identity`).

Rules, conservative so that a real phone is never flagged by its own firmware variants:
- no User-Agent, or a record without a vendor (or the test/`generic` vendor): no check;
- a User-Agent the vendor table (`provisioning.vendors.useragent`) does not recognise is a
  mismatch unless it names the record's vendor somewhere (`Zoiper rv2.10` on a Yealink
  record is one; `Yealink SIP-T54W-unknown-format` is not);
- a recognised vendor other than the record's is a mismatch;
- models are compared letters and digits only, case-blind, one may extend the other
  (`VVX_450` = `VVX 450`, `N670 IP PRO` = `N670`);
- MACs are compared when both are known.

Provisioning fetches are held to more (`check_fetch_mac`, used by the file server): phones
of some vendors put their own MAC in the HTTP User-Agent of every fetch
(`MAC_IN_FETCH_VENDORS`), so a fetch of such a phone's file whose User-Agent does not carry
that MAC is not the phone — a stranger who knows the MAC, taking the first fetch of an
OPEN phone. It is refused whatever `strict_identity` says. This cannot stop someone who
writes the MAC into a forged User-Agent; it stops scanners and copied User-Agents (the
countermeasures that hold are in the README's security part). Their SIP User-Agents carry
no MAC, so SIP is not held to it.
This module is pure.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Protocol

#: Names a vendor's devices also go by in User-Agents (old brands, product lines).
_VENDOR_ALIASES: dict[str, tuple[str, ...]] = {
    "cisco": ("cisco", "linksys"),
    "mitel": ("mitel", "aastra"),
    "polycom": ("polycom", "poly"),
}
_UNCHECKED_VENDORS = frozenset({"", "generic"})
_NOT_ALNUM = re.compile(r"[^a-z0-9]")
#: Vendors whose phones name their own MAC in the User-Agent of every provisioning fetch
#: (vendors.md and the samples in `provisioning.vendors.useragent`: Yealink
#: `… 80:5e:c0:12:34:56`, Snom `… 000413922D24 …`, Grandstream `… DevId c074ad2bd859`,
#: Mitel/Aastra `… MAC:00-08-5D-… …`, Cisco SPA `… (0018B9FFFF00)`). Not Polycom (no MAC),
#: nor Fanvil and Gigaset, whose User-Agents are not known to carry one every time.
MAC_IN_FETCH_VENDORS = frozenset({"yealink", "snom", "grandstream", "mitel", "cisco"})
_MAC_SEPARATORS = re.compile(r"[:\-.]")


@dataclass(frozen=True, slots=True, kw_only=True)
class Mismatch:
    """What the User-Agent said that contradicts the record; `fields` names which parts."""

    fields: tuple[str, ...]  # of "vendor", "model", "mac"
    reason: str
    seen_vendor: str | None
    seen_model: str | None
    seen_mac: str | None


class _Identified(Protocol):
    """What `provisioning.vendors.useragent.parse_user_agent` returns (`UserAgentInfo`)."""

    @property
    def vendor(self) -> str: ...
    @property
    def model(self) -> str | None: ...
    @property
    def mac(self) -> str | None: ...


@cache
def _parser() -> Callable[[str | None], _Identified | None]:
    """The vendors' User-Agent table; without it (a partial install) nothing is recognised
    and only the vendor-name test applies."""
    try:
        module = importlib.import_module("provisioning.vendors.useragent")
    except ImportError:
        return lambda _user_agent: None
    parse: Callable[[str | None], _Identified | None] = module.parse_user_agent

    def guarded(user_agent: str | None) -> _Identified | None:
        # A fault in one pattern of the table must not turn a SIP request into a 500.
        try:
            return parse(user_agent)
        except (IndexError, KeyError, ValueError, TypeError):
            return None

    return guarded


def _names(vendor: str) -> tuple[str, ...]:
    return _VENDOR_ALIASES.get(vendor, (vendor,))


def _same_model(expected: str, seen: str) -> bool:
    left = _NOT_ALNUM.sub("", expected.lower())
    right = _NOT_ALNUM.sub("", seen.lower())
    if not left or not right:
        return True
    return left.startswith(right) or right.startswith(left)


def check_identity(
    *,
    vendor: str | None,
    model: str | None,
    mac_address: str | None,
    user_agent: str | None,
) -> Mismatch | None:
    """None when the User-Agent fits the record (or cannot be checked), else the mismatch."""
    expected = (vendor or "").strip().lower()
    if not user_agent or not user_agent.strip() or expected in _UNCHECKED_VENDORS:
        return None
    info = _parser()(user_agent)
    if info is None:
        lowered = user_agent.lower()
        if any(name in lowered for name in _names(expected)):
            return None
        return Mismatch(
            fields=("vendor",),
            reason=f"User-Agent does not name a {expected} device",
            seen_vendor=None,
            seen_model=None,
            seen_mac=None,
        )
    fields: list[str] = []
    if info.vendor not in _names(expected) and expected not in _names(info.vendor):
        fields.append("vendor")
    elif model and info.model and not _same_model(model, info.model):
        fields.append("model")
    record_mac = (mac_address or "").upper()
    if record_mac and info.mac and info.mac != record_mac:
        fields.append("mac")
    if not fields:
        return None
    seen = " ".join(part for part in (info.vendor, info.model, info.mac) if part)
    return Mismatch(
        fields=tuple(fields),
        reason=f"User-Agent names another device ({', '.join(fields)}): {seen}",
        seen_vendor=info.vendor,
        seen_model=info.model,
        seen_mac=info.mac,
    )


def check_fetch_mac(
    *, vendor: str | None, mac_address: str, user_agent: str | None, seen_mac: str | None
) -> str | None:
    """Why a provisioning fetch of the file of `mac_address` is not that phone, by its
    User-Agent (`seen_mac`: the MAC the vendors' table read from it); None when it may be.

    A User-Agent naming another MAC is a mismatch for every vendor; one naming none is a
    mismatch for the `MAC_IN_FETCH_VENDORS` (unless the MAC is in it in a spelling the
    table does not read: 12 hex digits, or pairs separated by `:`, `-` or `.`)."""
    mac = mac_address.upper()
    if seen_mac is not None:
        return None if seen_mac == mac else "User-Agent names another MAC than the file"
    if (vendor or "").strip().lower() not in MAC_IN_FETCH_VENDORS:
        return None
    if user_agent and mac in _MAC_SEPARATORS.sub("", user_agent.upper()):
        return None
    return f"User-Agent does not carry the phone's MAC, which {vendor} phones always send"
