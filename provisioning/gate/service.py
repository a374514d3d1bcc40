"""`IpGate`: the IP policy gate as the SIP core and the file server call it
(`sipcore.gateport.IpGatePort`).

Per contact: the pure decision (`decision.decide`) on the policy the caller passes in its
`GateSubject` (the SIP side keeps a cache refreshed by `sipfleet_phones` notifications),
the identity check of the User-Agent, and only then, when something must be written, the
database:
- allow: nothing is written (no round trip on the hot path);
- allow-and-lock: one conditional UPDATE switches the OPEN phone to LOCKED on this address
  and records `phone.ip_locked` in the same transaction. When the UPDATE finds the phone no
  longer OPEN (another first contact won the race, or the caller's cache is stale) the
  policy is re-read and decided again, so exactly one of two racing addresses is allowed;
- deny: `phone.denied` (address, mode, reason, channel) is recorded — at most one per
  (phone, address) per `event_interval` so an attacker cannot flood the event log — and the
  caller answers 403 every time.
A User-Agent naming another device records `phone.mismatch` (throttled the same way);
with `strict_identity` it is a deny.

Until the caller's cache learns of a lock, its subject still says OPEN; the gate remembers
the policy it wrote or read for `overlay_ttl` seconds and decides on that instead, so a
locked phone's next requests do not each go to the database.

The decision itself is cached, keyed on the policy's values, the source address and (for
ROAMING) the GeoIP file's generation: the same phone from the same address costs one dict
lookup instead of an `ipaddress` parse (and a country lookup). A policy changed over the API
reaches the caller's subject by its reload and is a different key, so it misses at once; a
replaced GeoIP file bumps the generation. The User-Agent identity check is a pure function
of (vendor, model, MAC, User-Agent) and is cached the same way.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncpg

from db.errors import DB_ERRORS
from db.events import append_event
from db.ip_policy import PhonePolicy, phone_policy
from db.phone_status import EventWrite
from provisioning.config import Settings
from provisioning.gate.decision import (
    Action,
    Decision,
    Policy,
    decide,
    needs_geo,
)
from provisioning.gate.geoip import GeoDatabase, resolve_database_path
from provisioning.gate.identity import Mismatch, check_identity
from provisioning.gate.locks import LockRequest, LockWriter
from sipcore.gateport import GateSubject, GateVerdict
from sipcore.metrics import GATE_DENIALS, GATE_LOCKS

log = logging.getLogger(__name__)

_DB_ERRORS = DB_ERRORS
_LOCK_ATTEMPTS = 3
UNRECORDED_LOG_SECONDS = 10.0
_DECISION_CACHE_LIMIT = 50_000  # (policy, source) pairs; cleared whole when full
_METRIC_REASONS = {
    "locked_mismatch": "locked",
    "locked_invalid": "locked",
    "roaming_country": "country",
    "roaming_no_country": "no_geoip",
    "roaming_no_countries": "country",
    "identity": "identity",
}


class EventThrottle:
    """At most one event per key per `interval` seconds; bounded memory."""

    def __init__(
        self, interval: float, *, limit: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.interval = interval
        self.limit = limit
        self._clock = clock
        self._last: dict[tuple[str, ...], float] = {}

    def allow(self, key: tuple[str, ...]) -> bool:
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            return False
        if len(self._last) >= self.limit:
            self._last = {k: t for k, t in self._last.items() if now - t < self.interval}
            if len(self._last) >= self.limit:
                return False  # still full of fresh keys: an attack; drop, keep memory bounded
        self._last[key] = now
        return True


def split_countries(values: tuple[str, ...] | list[str] | str) -> tuple[str, ...]:
    """`("DK", "SE")`, `("DK,SE",)` or `"DK,SE"` -> `("DK", "SE")`."""
    return _split_countries(tuple(values) if isinstance(values, list) else values)


@functools.lru_cache(maxsize=4096)
def _split_countries(values: tuple[str, ...] | str) -> tuple[str, ...]:
    # cached: `admit` runs on every SIP request and fetch, with few distinct lists
    items = [values] if isinstance(values, str) else list(values)
    return tuple(code.strip().upper() for item in items for code in item.split(",") if code.strip())


def policy_of(subject: GateSubject) -> Policy:
    return Policy(
        mode=subject.ip_mode,
        address=subject.ip_address,
        countries=split_countries(subject.ip_countries),
    )


def subject_from_policy(record: PhonePolicy) -> GateSubject:
    """The `GateSubject` of a phone read with `db.ip_policy.phone_policy`."""
    return GateSubject(
        phone_id=record.phone_id,
        customer_id=record.customer_id,
        ip_mode=record.ip_mode,
        ip_countries=split_countries(record.ip_countries),
        ip_address=record.ip_address,
        vendor=record.vendor,
        model=record.model,
        mac_address=record.mac_address,
    )


_check_identity = functools.lru_cache(maxsize=8192)(check_identity)


def _channel_label(channel: str) -> str:
    return "sip" if channel.startswith("sip") else "provisioning"


@dataclass(frozen=True, slots=True, kw_only=True)
class _Known:
    policy: Policy
    until: float


class IpGate:
    """The gate (implements `sipcore.gateport.IpGatePort`)."""

    def __init__(
        self,
        *,
        pool: asyncpg.Pool[Any],
        geo: GeoDatabase,
        strict_identity: bool = False,
        event_interval: float = 10.0,
        overlay_ttl: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pool = pool
        self.geo = geo
        self.strict_identity = strict_identity
        self.overlay_ttl = overlay_ttl
        self._clock = clock
        self._throttle = EventThrottle(event_interval, clock=clock)
        self._known: dict[str, _Known] = {}
        self._decisions: dict[tuple[Policy, str, int], Decision] = {}
        self._verdicts: dict[str, GateVerdict] = {}  # admit_now's allowed verdicts by reason
        self._locks = LockWriter(pool)
        self._unrecorded = 0  # events not written since the last log line about it
        self._unrecorded_logged: float | None = None

    @classmethod
    def from_settings(cls, settings: Settings, pool: asyncpg.Pool[Any]) -> IpGate:
        path = resolve_database_path(settings.geoip_database)
        return cls(pool=pool, geo=GeoDatabase(path), strict_identity=settings.strict_identity)

    def close(self) -> None:
        self.geo.close()

    def forget(self, phone_id: str) -> None:
        """Drop what the gate remembers of a phone (call on a phone change notification)."""
        self._known.pop(phone_id, None)

    async def load_subject(self, phone_id: str) -> GateSubject | None:
        """A phone's subject straight from the database (for callers without a cache)."""
        async with self.pool.acquire() as conn:
            record = await phone_policy(conn, phone_id)
        return None if record is None else subject_from_policy(record)

    async def admit(
        self, subject: GateSubject, *, source_ip: str, channel: str, user_agent: str | None
    ) -> GateVerdict:
        """Decide, lock an OPEN phone atomically, record denials and mismatches: every
        case (`admit_now` is its lane without I/O, held equal to it by
        tests/gate/test_fast_lane.py)."""
        policy = self._effective_policy(subject)
        decision = self._decide(policy, source_ip)
        mismatch = _check_identity(
            vendor=subject.vendor,
            model=subject.model,
            mac_address=subject.mac_address,
            user_agent=user_agent,
        )
        if mismatch is not None:
            await self._record_mismatch(subject, decision, mismatch, channel, user_agent)
            if self.strict_identity and decision.allowed:
                decision = Decision(
                    action=Action.DENY,
                    code="identity",
                    reason=mismatch.reason,
                    address=decision.address,
                )
        if decision.action is Action.LOCK:
            try:
                decision, locked = await self._lock(subject, decision, channel)
            except _DB_ERRORS as exc:
                log.error("gate: phone %s: lock failed: %s", subject.phone_id, exc)
                GATE_DENIALS.labels("rejected", _channel_label(channel)).inc()
                return GateVerdict(allowed=False, reason="the database is unavailable")
            if locked:
                return GateVerdict(allowed=True, reason=decision.reason, locked=True)
        if decision.allowed:
            return GateVerdict(allowed=True, reason=decision.reason)
        await self._record_denial(subject, policy, decision, channel)
        return GateVerdict(allowed=False, reason=decision.reason)

    def admit_now(
        self, subject: GateSubject, *, source_ip: str, channel: str, user_agent: str | None
    ) -> GateVerdict | None:
        """`admit` when that would do no I/O: an allowed decision (no OPEN phone to lock)
        and a User-Agent matching the phone's identity; None otherwise (call `admit`)."""
        decision = self._decide(self._effective_policy(subject), source_ip)
        if not decision.allowed or decision.action is Action.LOCK:
            return None
        if (
            _check_identity(
                vendor=subject.vendor,
                model=subject.model,
                mac_address=subject.mac_address,
                user_agent=user_agent,
            )
            is not None
        ):
            return None
        verdict = self._verdicts.get(decision.reason)
        if verdict is None:
            if len(self._verdicts) >= 1000:
                self._verdicts.clear()
            verdict = self._verdicts[decision.reason] = GateVerdict(
                allowed=True, reason=decision.reason
            )
        return verdict

    def _effective_policy(self, subject: GateSubject) -> Policy:
        """The subject's policy, or what the gate wrote/read since if the subject says OPEN
        (the caller's cache has not caught up with a lock yet)."""
        policy = policy_of(subject)
        if policy.mode != "OPEN":
            self._known.pop(subject.phone_id, None)
            return policy
        known = self._known.get(subject.phone_id)
        if known is None:
            return policy
        if self._clock() >= known.until:
            del self._known[subject.phone_id]
            return policy
        return known.policy

    def _remember(self, phone_id: str, policy: Policy) -> None:
        if len(self._known) >= 100_000:
            self._known.clear()
        self._known[phone_id] = _Known(policy=policy, until=self._clock() + self.overlay_ttl)

    def _decide(self, policy: Policy, source_ip: str) -> Decision:
        """`decide`, cached on (policy values, source, GeoIP generation): pure in those."""
        roaming = needs_geo(policy)
        key = (policy, source_ip, self.geo.generation() if roaming else 0)
        decision = self._decisions.get(key)
        if decision is None:
            decision = decide(policy, source_ip, self.geo.lookup(source_ip) if roaming else None)
            if len(self._decisions) >= _DECISION_CACHE_LIMIT:
                self._decisions.clear()
            self._decisions[key] = decision
        return decision

    async def _lock(
        self, subject: GateSubject, decision: Decision, channel: str
    ) -> tuple[Decision, bool]:
        """Try the OPEN -> LOCKED switch; (the final decision, whether this contact locked)."""
        for _ in range(_LOCK_ATTEMPTS):
            event = EventWrite(
                type="phone.ip_locked",
                phone_id=subject.phone_id,
                customer_id=subject.customer_id,
                details={
                    "address": decision.address,
                    "mode": "LOCKED",
                    "previousMode": "OPEN",
                    "reason": decision.reason,
                    "channel": channel,
                },
            )
            version = await self._locks.lock(
                LockRequest(phone_id=subject.phone_id, address=decision.address, event=event)
            )
            current = None
            if version is None:
                async with self.pool.acquire() as conn:
                    current = await phone_policy(conn, subject.phone_id)
            if version is not None:
                self._remember(subject.phone_id, Policy(mode="LOCKED", address=decision.address))
                GATE_LOCKS.labels(_channel_label(channel)).inc()
                log.info("gate: phone %s locked to %s", subject.phone_id, decision.address)
                return decision, True
            if current is None:
                gone = Decision(
                    action=Action.DENY,
                    code="unknown_phone",
                    reason="the phone no longer exists",
                    address=decision.address,
                )
                return gone, False
            fresh = Policy(
                mode=current.ip_mode,
                address=current.ip_address,
                countries=split_countries(current.ip_countries),
            )
            self._remember(subject.phone_id, fresh)
            decision = self._decide(fresh, decision.address)
            if decision.action is not Action.LOCK:
                return decision, False
        busy = Decision(
            action=Action.DENY,
            code="lock_contended",
            reason="the phone's IP mode keeps changing; try again",
            address=decision.address,
        )
        return busy, False

    async def _record_denial(
        self, subject: GateSubject, policy: Policy, decision: Decision, channel: str
    ) -> None:
        GATE_DENIALS.labels(
            _METRIC_REASONS.get(decision.code, "rejected"), _channel_label(channel)
        ).inc()
        log.info(
            "gate: phone %s denied from %s (%s): %s",
            subject.phone_id,
            decision.address,
            channel,
            decision.reason,
        )
        if not self._throttle.allow(("denied", subject.phone_id, decision.address)):
            return
        details = {
            "address": decision.address,
            "mode": policy.mode,
            "reason": decision.reason,
            "channel": channel,
        }
        await self._append("phone.denied", subject, details)

    async def _record_mismatch(
        self,
        subject: GateSubject,
        decision: Decision,
        mismatch: Mismatch,
        channel: str,
        user_agent: str | None,
    ) -> None:
        key = ("mismatch", subject.phone_id, decision.address, user_agent or "")
        if not self._throttle.allow(key):
            return
        details = {
            "address": decision.address,
            "channel": channel,
            "reason": mismatch.reason,
            "fields": list(mismatch.fields),
            "userAgent": (user_agent or "")[:256],
            "expected": {
                "vendor": subject.vendor,
                "model": subject.model,
                "macAddress": subject.mac_address,
            },
            "seen": {
                "vendor": mismatch.seen_vendor,
                "model": mismatch.seen_model,
                "macAddress": mismatch.seen_mac,
            },
            "strict": self.strict_identity,
        }
        await self._append("phone.mismatch", subject, details)

    async def _append(self, kind: str, subject: GateSubject, details: dict[str, Any]) -> None:
        """Record an event; a database failure is logged, never turned into an allow."""
        try:
            async with self.pool.acquire() as conn:
                await append_event(
                    conn,
                    kind,
                    phone_id=subject.phone_id,
                    customer_id=subject.customer_id,
                    details=details,
                )
        except _DB_ERRORS as exc:
            # while the database is away every refused phone would say so: one line per
            # UNRECORDED_LOG_SECONDS, with how many events went unrecorded
            self._unrecorded += 1
            now = self._clock()
            if (
                self._unrecorded_logged is None
                or now - self._unrecorded_logged >= UNRECORDED_LOG_SECONDS
            ):
                log.error(
                    "gate: %d event(s) not recorded, the database failing (last: %s of phone "
                    "%s): %s", self._unrecorded, kind, subject.phone_id, exc,
                )  # fmt: skip
                self._unrecorded = 0
                self._unrecorded_logged = now
