"""What a phone or DECT base wants of its vendor's redirect service, and what to change to
get there. Pure: facts in, a decision out; `sync.py` reads the facts and writes the result.

A record wants its MAC registered when `rps` is set, or — Snom and Mitel/Aastra, whose
phones always ask their service first — when the vendor's account is configured. Subjects
are desk phone records and DECT bases; a DECT handset's record is not one (its base is,
with the base's one MAC, which several handset records share).
The registration points at the record's provisioning URL: the configured base URL, the
customer's secret path segment when it has one, over HTTPS when the record asks for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from provisioning.redirect import mitel, registry

PENDING = "pending"
REGISTERED = "registered"
FAILED = "failed"
NOT_CONFIGURED = "not_configured"
MANUAL = "manual"
UNSUPPORTED = "unsupported"
STATES = (PENDING, REGISTERED, FAILED, NOT_CONFIGURED, MANUAL, UNSUPPORTED)


@dataclass(frozen=True, slots=True, kw_only=True)
class Facts:
    """One phone record or DECT base as far as redirection goes."""

    kind: str  # "phone" | "dect"
    subject_id: str
    customer_id: str
    vendor: str
    model_kind: str  # desk, dect, softphone, … ("dect" for a base)
    mac: str | None
    rps: bool
    https: bool
    serial: str | None = None
    secret: str | None = None  # the customer's provisioning path segment
    handset: bool = False  # a phone record of a DECT base's handset


@dataclass(frozen=True, slots=True, kw_only=True)
class Wanted:
    vendor: str
    mac: str
    url: str
    serial: str | None
    state: str  # PENDING, NOT_CONFIGURED, MANUAL or UNSUPPORTED
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Current:
    """The registration sipfleet holds for the subject now."""

    vendor: str
    mac: str
    url: str
    serial: str | None
    state: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """`release`: the current entry must go (its removal is queued when it may exist at
    the vendor). `write`: the registration to hold from now on (None: keep what is)."""

    release: bool = False
    write: Wanted | None = None


def provisioning_url(base: str, secret: str | None, https: bool) -> str:
    """`base` ends with `/prov/`; the secret segment follows it; `https` forces the
    scheme (the host and port stay: sipfleet serves HTTPS on its HTTP port when it has a
    certificate, and an edge proxy in front of it is named by `provisioning_url`)."""
    url = base if base.endswith("/") else base + "/"
    if secret:
        url += secret + "/"
    if https:
        parts = urlsplit(url)
        if parts.scheme == "http":
            url = urlunsplit(("https", parts.netloc, parts.path, parts.query, parts.fragment))
    return url


def wanted(facts: Facts, configured: frozenset[str], base_url: str) -> Wanted | None:
    if facts.handset or not facts.mac:
        return None
    if facts.kind == "phone" and facts.model_kind != "desk":
        return None  # DECT handset records share their base's MAC: the base is the subject
    vendor = facts.vendor
    if not (facts.rps or (vendor in registry.ALWAYS_ASK and vendor in configured)):
        return None
    url = provisioning_url(base_url, facts.secret, facts.https)
    mac = facts.mac

    def make(state: str, reason: str = "") -> Wanted:
        return Wanted(
            vendor=vendor, mac=mac, url=url, serial=facts.serial, state=state, reason=reason
        )

    if vendor not in registry.SERVICES:
        return make(UNSUPPORTED, f"{vendor.capitalize()} phones have no redirect service")
    if vendor in registry.MANUAL:
        return make(MANUAL, mitel.manual_reason(mac, url))
    if vendor not in configured:
        return make(NOT_CONFIGURED, registry.not_configured_reason(vendor))
    return make(PENDING)


def plan(current: Current | None, want: Wanted | None) -> Plan:
    if want is None:
        return Plan(release=current is not None)
    if current is None:
        return Plan(write=want)
    if (current.vendor, current.mac) != (want.vendor, want.mac):
        return Plan(release=True, write=want)
    if want.state != PENDING:
        same = current.state == want.state
        return Plan() if same and current.url == want.url else Plan(write=want)
    unchanged = (current.url, current.serial) == (want.url, want.serial)
    if unchanged and current.state in (PENDING, REGISTERED, FAILED):
        return Plan()  # queued, done, or waiting for a retry by hand
    return Plan(write=want)
