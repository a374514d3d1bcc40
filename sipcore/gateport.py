"""What the SIP core asks of the IP policy gate, without importing it.

sipcore never imports provisioning; the gate is handed to the SIP service
when the service is assembled, as an object with this shape. The SIP core calls it after
digest authentication succeeded and before any binding or subscription is made.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True, kw_only=True)
class GateSubject:
    """The phone as the gate needs it: its policy and the identity on record."""

    phone_id: str
    customer_id: str
    ip_mode: str  # OPEN | LOCKED | ROAMING
    ip_countries: tuple[str, ...]
    ip_address: str | None
    vendor: str | None  # of the phone's model, for the User-Agent identity check
    model: str | None
    mac_address: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class GateVerdict:
    allowed: bool
    reason: str
    locked: bool = False  # this contact switched an OPEN phone to LOCKED


class IpGatePort(Protocol):
    async def admit(
        self,
        subject: GateSubject,
        *,
        source_ip: str,
        channel: str,  # "sip:REGISTER", "sip:SUBSCRIBE", "sip:PUBLISH", "prov", …
        user_agent: str | None,
    ) -> GateVerdict:
        """Decide, lock an OPEN phone atomically, record denials and mismatches."""
        ...

    def admit_now(
        self, subject: GateSubject, *, source_ip: str, channel: str, user_agent: str | None
    ) -> GateVerdict | None:
        """`admit`'s verdict when it needs no I/O — allowed, nothing to lock or record —
        else None (then call `admit`). Why: the registrar answers most REGISTERs without
        a coroutine per request."""
        ...


class AllowAll:
    """The gate used when none is configured (tests of the SIP core alone)."""

    async def admit(
        self, subject: GateSubject, *, source_ip: str, channel: str, user_agent: str | None
    ) -> GateVerdict:
        return _ALLOWED

    def admit_now(
        self, subject: GateSubject, *, source_ip: str, channel: str, user_agent: str | None
    ) -> GateVerdict | None:
        return _ALLOWED


_ALLOWED = GateVerdict(allowed=True, reason="no gate configured")
