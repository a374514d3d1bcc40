"""The registrar's decision for one REGISTER (RFC 3261 §10.3), pure.

Theory of operation: the SIP server authenticates the request, turns the parsed REGISTER
into a `RegisterInput`, and calls `decide_register` with the phone's current bindings,
the policy and `now`. The decision is either a refusal (400, 423 + Min-Expires, 500) that
changes nothing, or the binding changes to persist — upserts and removals — plus the
contact list the 200 OK reports (every current binding with its remaining expiry,
§10.3 step 8). The server commits the changes to PostgreSQL, then applies them to the
in-memory `LocationService`, then answers.

Steps of §10.3 done here:
- step 5: each contact's expiry is its `expires` parameter, else the Expires header,
  else the default; a non-zero expiry under the minimum is refused with 423 and
  Min-Expires; above the maximum it is cut to the maximum. Storm control (ours, not the
  RFC's): a granted expiry is cut by a random 0..`spread_percent` percent, never under
  the minimum, so a building of phones that rebooted together drifts apart.
- step 6: `Contact: *` is only valid alone with `Expires: 0` (else 400) and removes every
  binding. For an existing binding, a different Call-ID replaces it; the same Call-ID
  needs a higher CSeq, else the whole update is aborted (500, "the request fails").
- step 7 is the server's (atomic commit); step 8 is `RegisterDecision.contacts`.

Outbound (RFC 5626 §6): a Contact with both `+sip.instance` and `reg-id` is one flow of
that instance, and its binding is the one of that (instance, reg-id) pair — a REGISTER of
the same pair with another Contact URI replaces the old binding (the same CSeq rule
applies to it), while flows of other reg-ids stay. The server decides before this whether
the reg-id counts (a first hop without outbound support: it does not) and passes it as
`ContactSpec.reg_id`.

Contact limit (ours): a phone holds at most `max_contacts` contacts. The flows of one
`+sip.instance` (RFC 5626 §4.2: one device over several connections, each with its own
reg-id) are one contact; a binding without an instance is one contact per URI; and no
instance may hold more than `max_contacts` flows. Only live bindings count, and only a
REGISTER that would raise a count above the limit is refused (403 "Too Many Contacts"):
a refresh, a re-registration replacing a binding, or a removal always goes through, even
for a phone already over a limit lowered since.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sipcore.location import Binding
from sipcore.syntax import frozen_builder

MAX_EXPIRES_VALUE = 2**32 - 1  # RFC 3261 §20.19: delta-seconds up to 2**32-1


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactSpec:
    """One Contact of the REGISTER: the URI (binding key) and its parameters."""

    uri: str
    expires: int | None = None
    q: float | None = None
    instance_id: str | None = None
    reg_id: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RegisterInput:
    call_id: str
    cseq: int
    contacts: tuple[ContactSpec, ...]
    star: bool = False  # Contact: *
    expires_header: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistrarPolicy:
    min_expires: int = 60
    max_expires: int = 3600
    default_expires: int = 3600
    spread_percent: int = 10
    max_contacts: int = 10

    def __post_init__(self) -> None:
        if not 1 <= self.min_expires <= self.max_expires:
            raise ValueError("min_expires must be at least 1 and at most max_expires")
        if self.max_contacts < 1:
            raise ValueError("max_contacts must be at least 1")
        if not 0 <= self.spread_percent <= 50:
            raise ValueError("spread_percent must be between 0 and 50")


@dataclass(frozen=True, slots=True, kw_only=True)
class GrantedContact:
    """A contact to add or refresh, with its granted expiry in seconds."""

    spec: ContactSpec
    expires: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportedContact:
    """One line of the 200 OK: a current binding and its remaining seconds."""

    uri: str
    expires: int
    q: float | None
    instance_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RegisterDecision:
    status: int
    reason: str
    min_expires: int | None = None
    upserts: tuple[GrantedContact, ...] = ()
    removals: tuple[str, ...] = ()
    contacts: tuple[ReportedContact, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def changes_nothing(self) -> bool:
        return not self.upserts and not self.removals


_GrantedContact = frozen_builder(GrantedContact)
_ReportedContact = frozen_builder(ReportedContact)
_RegisterDecision = frozen_builder(RegisterDecision)


def _refuse(status: int, reason: str, min_expires: int | None = None) -> RegisterDecision:
    return RegisterDecision(status=status, reason=reason, min_expires=min_expires)


def _requested_expiry(
    spec: ContactSpec, expires_header: int | None, policy: RegistrarPolicy
) -> int:
    if spec.expires is not None:
        return min(spec.expires, MAX_EXPIRES_VALUE)
    if expires_header is not None:
        return min(expires_header, MAX_EXPIRES_VALUE)
    return policy.default_expires


def _grant(requested: int, policy: RegistrarPolicy, rand: Callable[[], float]) -> int:
    granted = min(requested, policy.max_expires)
    if policy.spread_percent and granted > policy.min_expires:
        cut = int(granted * policy.spread_percent / 100 * rand())
        granted = max(policy.min_expires, granted - cut)
    return granted


def _ordering_ok(current: Binding | None, request: RegisterInput) -> bool:
    """§10.3 step 6: same Call-ID needs a higher CSeq."""
    return current is None or current.call_id != request.call_id or request.cseq > current.cseq


def _star(
    current: Sequence[Binding], request: RegisterInput, policy: RegistrarPolicy
) -> RegisterDecision:
    if request.contacts or request.expires_header != 0:
        return _refuse(400, "Contact * requires Expires: 0 and no other Contact")
    if not all(_ordering_ok(item, request) for item in current):
        return _refuse(500, "Stale CSeq for this Call-ID")
    return RegisterDecision(
        status=200, reason="OK", removals=tuple(item.contact for item in current)
    )


def decide_register(
    current: Sequence[Binding],
    request: RegisterInput,
    policy: RegistrarPolicy,
    now: float,
    rand: Callable[[], float],
) -> RegisterDecision:
    """Decide one REGISTER against the phone's current bindings (§10.3 steps 5, 6, 8).

    `rand()` returns a float in [0, 1) for the storm-control cut (pass `lambda: 0.0` in
    tests for exact expiries).
    """
    if request.expires_header is not None and request.expires_header < 0:
        return _refuse(400, "Invalid Expires")
    if request.star:
        return _star(current, request, policy)
    by_contact = {item.contact: item for item in current}
    latest: dict[str, ContactSpec] = {}
    for spec in request.contacts:  # the same URI twice: the last one counts
        latest[spec.uri] = spec
    upserts: list[GrantedContact] = []
    removals: list[str] = []
    for spec in latest.values():
        if spec.reg_id is not None and spec.instance_id is not None:
            for item in _same_flow(current, spec):  # RFC 5626 §6: one binding per flow
                if not _ordering_ok(item, request):
                    return _refuse(500, "Stale CSeq for this Call-ID")
                if item.contact not in latest and item.contact not in removals:
                    removals.append(item.contact)
        requested = _requested_expiry(spec, request.expires_header, policy)
        if requested < 0:
            return _refuse(400, "Invalid expires parameter")
        if 0 < requested < policy.min_expires:
            return _refuse(423, "Interval Too Brief", min_expires=policy.min_expires)
        existing = by_contact.get(spec.uri)
        if not _ordering_ok(existing, request):
            return _refuse(500, "Stale CSeq for this Call-ID")
        if requested == 0:
            if existing is not None:
                removals.append(spec.uri)
            continue
        upserts.append(_GrantedContact(spec=spec, expires=_grant(requested, policy, rand)))
    if upserts and _over_contact_limit(current, upserts, removals, now, policy.max_contacts):
        return _refuse(403, "Too Many Contacts")
    return _RegisterDecision(
        status=200,
        reason="OK",
        upserts=tuple(upserts),
        removals=tuple(removals),
        contacts=_report(current, upserts, removals, now),
    )


def _same_flow(current: Sequence[Binding], spec: ContactSpec) -> list[Binding]:
    """The bindings of `spec`'s (instance, reg-id) flow under another Contact URI."""
    return [
        item
        for item in current
        if item.reg_id == spec.reg_id
        and item.instance_id == spec.instance_id
        and item.contact != spec.uri
    ]


# An instance ID a GRUU can carry as it is: a URN whose characters a URI parameter takes
# unescaped (RFC 5627 §3.1 would escape the others; phones send urn:uuid:…).
_GRUU_INSTANCE = re.compile(r"<(urn:[A-Za-z0-9][A-Za-z0-9\-.:_]*)>")


def pub_gruu(aor: str, instance_id: str) -> str | None:
    """The public GRUU of an instance of `aor` (RFC 5627 §3.1): the AOR with a `gr`
    parameter naming the instance, stable for as long as the instance ID is — so it is
    computed, never stored. `instance_id` is the `+sip.instance` value without its quotes
    (`<urn:uuid:…>`); None for one that is not such a URN (no GRUU is issued for it)."""
    match = _GRUU_INSTANCE.fullmatch(instance_id)
    return f"{aor};gr={match.group(1)}" if match else None


def contact_counts(bindings: Sequence[tuple[str, str | None]]) -> tuple[int, int]:
    """(contacts, most flows of one instance) of (contact URI, instance id) pairs: the
    flows of one instance are one contact, a binding without an instance one per URI."""
    instances: dict[str, int] = {}
    plain: set[str] = set()
    for uri, instance in bindings:
        if instance is None:
            plain.add(uri)
        else:
            instances[instance] = instances.get(instance, 0) + 1
    return len(plain) + len(instances), max(instances.values(), default=0)


def _over_contact_limit(
    current: Sequence[Binding],
    upserts: Sequence[GrantedContact],
    removals: Sequence[str],
    now: float,
    limit: int,
) -> bool:
    """Would the change raise the phone's contacts, or one instance's flows, above
    `limit`? (A count already above it that the change does not raise is left alone.)"""
    live = [(item.contact, item.instance_id) for item in current if item.expires_at > now]
    if len(live) + len(upserts) <= limit:
        return False  # nothing can be over it (the common case, without counting)
    changed = {item.spec.uri for item in upserts} | set(removals)
    after = [pair for pair in live if pair[0] not in changed]
    after.extend((item.spec.uri, item.spec.instance_id) for item in upserts)
    contacts, flows = contact_counts(after)
    before_contacts, before_flows = contact_counts(live)
    return (contacts > limit and contacts > before_contacts) or (
        flows > limit and flows > before_flows
    )


def refresh_grant(
    current: Binding,
    call_id: str,
    cseq: int,
    spec: ContactSpec,
    expires_header: int | None,
    policy: RegistrarPolicy,
    rand: Callable[[], float],
) -> int | None:
    """The expiry `decide_register` grants when a REGISTER whose one Contact is `spec`
    only refreshes `current`, the phone's one binding; None when it would do anything else
    (add or remove a binding, or be refused): then `decide_register` decides.

    Equal to `decide_register([current], RegisterInput(call_id=…, cseq=…,
    contacts=(spec,), expires_header=…), …)` whose decision is then one upsert of `spec`
    with this expiry, no removal, and the 200 OK listing that one contact; `rand` is
    called as often. Why a second entry: nearly every REGISTER of a fleet is this
    refresh, and it needs none of the general decision's maps and records. (A refresh
    never raises the phone's contact count, so the contact limit never refuses it.)
    """
    if spec.uri != current.contact or (expires_header is not None and expires_header < 0):
        return None
    if current.call_id == call_id and cseq <= current.cseq:
        return None  # §10.3 step 6: a stale CSeq (500)
    requested = _requested_expiry(spec, expires_header, policy)
    if requested < policy.min_expires:
        return None  # a removal (0), 423, or 400
    return _grant(requested, policy, rand)


def _report(
    current: Sequence[Binding],
    upserts: Sequence[GrantedContact],
    removals: Sequence[str],
    now: float,
) -> tuple[ReportedContact, ...]:
    """§10.3 step 8: every binding after the change, with its remaining expiry."""
    changed = {item.spec.uri for item in upserts} | set(removals)
    out = [
        _ReportedContact(
            uri=item.contact, expires=item.remaining(now), q=item.q, instance_id=item.instance_id
        )
        for item in current
        if item.contact not in changed and item.expires_at > now
    ]
    out.extend(
        _ReportedContact(
            uri=item.spec.uri, expires=item.expires, q=item.spec.q,
            instance_id=item.spec.instance_id,
        )
        for item in upserts
    )  # fmt: skip
    return tuple(out)
