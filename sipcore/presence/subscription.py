"""The notifier side of one subscription (RFC 6665), as a pure state machine.

Theory of operation. A SUBSCRIBE that is accepted creates the subscription and its dialog
(RFC 6665 §4.2.1.1, dialog per RFC 3261 §12.1.1: our To tag, the subscriber's From tag,
its Contact as remote target, Record-Route as route set) and is answered 200 with the
granted expiry: the requested one, capped at `subscription_max_expires`, or the package
default. The notifier then sends a NOTIFY at once with full state (§4.2.1.2) and on every
change. Every NOTIFY carries `Subscription-State: active;expires=<seconds left>`.

    state \\ event   refresh     unsubscribe   expire      notify_failed   deactivate
    ACTIVE          ACTIVE      TERMINATED    TERMINATED  TERMINATED      TERMINATED
    TERMINATED      -           -             -           -               -

- refresh (a SUBSCRIBE inside the dialog, higher CSeq, Expires > 0): new expiry.
- unsubscribe (Expires: 0, §4.2.1.4) and expire (the deadline passed without refresh,
  §4.2.2) end with a final NOTIFY `terminated;reason=timeout`.
- notify_failed: a NOTIFY answered 481 (the subscriber forgot the dialog), 408, another
  failure, or no answer at all (§4.2.2): the subscription is removed without a NOTIFY.
- deactivate: the service stops for good; final NOTIFY `terminated;reason=deactivated`
  (§4.1.3: the subscriber re-subscribes at once).

Time is passed in; `deadline` is the only timer and `handle_timer(now)` fires it. The
subscription is a frozen value: every step returns the new value and what to send.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, replace

from sipcore.presence import dialog_info, mwi, pidf

# Event package -> the body types it can send (RFC 4235 §3.2, RFC 3856 §6.2, RFC 3842 §4.4)
PACKAGES: dict[str, str] = {
    "dialog": dialog_info.CONTENT_TYPE,
    "presence": pidf.CONTENT_TYPE,
    "message-summary": mwi.CONTENT_TYPE,
}
ALLOW_EVENTS = ", ".join(PACKAGES)


class SubState(enum.Enum):
    ACTIVE = "active"
    TERMINATED = "terminated"


class SubEvent(enum.Enum):
    REFRESH = "refresh"
    UNSUBSCRIBE = "unsubscribe"
    EXPIRE = "expire"
    NOTIFY_FAILED = "notify_failed"
    DEACTIVATE = "deactivate"


TRANSITIONS: dict[tuple[SubState, SubEvent], SubState] = {
    (SubState.ACTIVE, SubEvent.REFRESH): SubState.ACTIVE,
    (SubState.ACTIVE, SubEvent.UNSUBSCRIBE): SubState.TERMINATED,
    (SubState.ACTIVE, SubEvent.EXPIRE): SubState.TERMINATED,
    (SubState.ACTIVE, SubEvent.NOTIFY_FAILED): SubState.TERMINATED,
    (SubState.ACTIVE, SubEvent.DEACTIVATE): SubState.TERMINATED,
}


class SubscriptionError(Exception):
    """A SUBSCRIBE the notifier refuses; `status` is the SIP response code to send."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason


def _step(state: SubState, event: SubEvent) -> SubState:
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise SubscriptionError(481, "Subscription Does Not Exist") from None


def negotiate_package(event: str | None, accept: list[str] | None) -> tuple[str, str]:
    """(package, content type) for the Event and Accept header values.

    489 Bad Event for a package we do not serve (§4.2.1.1, the caller adds Allow-Events);
    406 when Accept names no type the package can send. No Accept means the package
    default (§4.2.1.1; RFC 3261 §20.1).
    """
    package = (event or "").split(";", 1)[0].strip().lower()
    if package not in PACKAGES:
        raise SubscriptionError(489, "Bad Event")
    content_type = PACKAGES[package]
    if accept:
        wanted = {item.split(";", 1)[0].strip().lower() for item in accept}
        wanted.discard("")
        major = content_type.split("/", 1)[0]
        if wanted and not wanted & {content_type, f"{major}/*", "*/*"}:
            raise SubscriptionError(406, "Not Acceptable")
    return package, content_type


def check_limits(
    *, of_phone: int, of_resource: int, max_per_phone: int, max_per_resource: int
) -> None:
    """Refuse a new subscription when the subscriber already holds `max_per_phone`
    (403 "Too Many Subscriptions") or the watched resource already has `max_per_resource`
    watchers (403 "Too Many Watchers"); counts include subscriptions still being set up.

    403 rather than 503 + Retry-After: a UA receiving 503 may take the whole server as
    unavailable for Retry-After seconds and send its other requests, REGISTERs too,
    elsewhere (RFC 3261 §21.5.4), which one busy resource must not cause; the phone
    retries the subscription on its own timer.
    """
    if of_phone >= max_per_phone:
        raise SubscriptionError(403, "Too Many Subscriptions")
    if of_resource >= max_per_resource:
        raise SubscriptionError(403, "Too Many Watchers")


def grant_expires(requested: int | None, *, minimum: int, maximum: int, default: int) -> int:
    """The expiry to grant: 0 stays 0 (unsubscribe), below `minimum` is 423 (§4.2.1.1)."""
    if requested is None:
        return min(default, maximum)
    if requested < 0:
        raise SubscriptionError(400, "Bad Expires")
    if requested == 0:
        return 0
    if requested < minimum:
        raise SubscriptionError(423, "Interval Too Brief")
    return min(requested, maximum)


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscriptionDialog:
    """RFC 3261 §12.1.1, from the notifier's (UAS) side."""

    call_id: str
    local_tag: str  # our To tag
    remote_tag: str  # the subscriber's From tag
    local_uri: str  # the watched resource (To URI of the SUBSCRIBE) -> From of NOTIFY
    remote_uri: str  # the subscriber (From URI) -> To of NOTIFY
    remote_target: str  # its Contact URI -> Request-URI of NOTIFY
    route_set: tuple[str, ...]  # Record-Route values, in order (§12.1.1)
    local_cseq: int  # CSeq of the last NOTIFY we sent
    remote_cseq: int  # CSeq of the last SUBSCRIBE accepted


@dataclass(frozen=True, slots=True, kw_only=True)
class NotifyPlan:
    """One NOTIFY to send: the dialog fields, the headers and the body's version."""

    dialog: SubscriptionDialog  # with the CSeq of this NOTIFY as local_cseq
    event: str  # the Event header value (package and its id, §7.2.1)
    subscription_state: str
    content_type: str
    version: int  # dialog-info version (§4.1.2 of RFC 4235) for this NOTIFY
    final: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Subscription:
    id: str
    package: str
    event_id: str | None
    content_type: str
    extension_id: str
    customer_id: str
    entity: str  # the watched AOR as shown in bodies
    profile: str  # quirks profile name, from the subscriber's User-Agent
    dialog: SubscriptionDialog
    expires_at: float
    state: SubState = SubState.ACTIVE
    version: int = 0  # the version the next dialog-info body carries

    @property
    def deadline(self) -> float | None:
        return self.expires_at if self.state is SubState.ACTIVE else None

    @property
    def event_header(self) -> str:
        return self.package + (f";id={self.event_id}" if self.event_id else "")


def _plan(sub: Subscription, header: str, final: bool) -> tuple[Subscription, NotifyPlan]:
    # Explicit construction rather than dataclasses.replace: this runs once per watcher
    # per change, and replace() costs several times as much.
    d = sub.dialog
    dialog = SubscriptionDialog(
        call_id=d.call_id, local_tag=d.local_tag, remote_tag=d.remote_tag,
        local_uri=d.local_uri, remote_uri=d.remote_uri, remote_target=d.remote_target,
        route_set=d.route_set, local_cseq=d.local_cseq + 1, remote_cseq=d.remote_cseq,
    )  # fmt: skip
    plan = NotifyPlan(
        dialog=dialog,
        event=sub.event_header,
        subscription_state=header,
        content_type=sub.content_type,
        version=sub.version,
        final=final,
    )
    after = Subscription(
        id=sub.id, package=sub.package, event_id=sub.event_id, content_type=sub.content_type,
        extension_id=sub.extension_id, customer_id=sub.customer_id, entity=sub.entity,
        profile=sub.profile, dialog=dialog, expires_at=sub.expires_at, state=sub.state,
        version=sub.version + 1,
    )  # fmt: skip
    return after, plan


def notify(sub: Subscription, now: float) -> tuple[Subscription, NotifyPlan]:
    """The next NOTIFY of an active subscription, with the seconds left (§4.1.3)."""
    if sub.state is not SubState.ACTIVE:
        raise SubscriptionError(481, "Subscription Does Not Exist")
    left = max(0, math.ceil(sub.expires_at - now))
    return _plan(sub, f"active;expires={left}", final=False)


def refresh(
    sub: Subscription, *, cseq: int, granted: int, now: float
) -> tuple[Subscription, NotifyPlan]:
    """A SUBSCRIBE in the dialog: refresh (granted > 0) or unsubscribe (granted == 0).

    Either way a NOTIFY follows at once (§4.2.1.2 and §4.2.1.4); a CSeq not above the
    last one is out of order (RFC 3261 §12.2.2: 500).
    """
    if cseq <= sub.dialog.remote_cseq:
        raise SubscriptionError(500, "CSeq Out of Order")
    dialog = replace(sub.dialog, remote_cseq=cseq)
    if granted == 0:
        state = _step(sub.state, SubEvent.UNSUBSCRIBE)
        ended = replace(sub, dialog=dialog, state=state, expires_at=now)
        return _plan(ended, "terminated;reason=timeout", final=True)
    _step(sub.state, SubEvent.REFRESH)
    return notify(replace(sub, dialog=dialog, expires_at=now + granted), now)


def handle_timer(sub: Subscription, now: float) -> tuple[Subscription, NotifyPlan | None]:
    """At the deadline: the subscription ends with a final NOTIFY (reason=timeout)."""
    if sub.state is not SubState.ACTIVE or now < sub.expires_at:
        return sub, None
    ended = replace(sub, state=_step(sub.state, SubEvent.EXPIRE))
    return _plan(ended, "terminated;reason=timeout", final=True)


def deactivate(sub: Subscription) -> tuple[Subscription, NotifyPlan]:
    ended = replace(sub, state=_step(sub.state, SubEvent.DEACTIVATE))
    return _plan(ended, "terminated;reason=deactivated", final=True)


def notify_failed(status: int | None) -> bool:
    """Does this NOTIFY outcome end the subscription? None is a transaction timeout.

    §4.2.2: 481 and 408 and a timeout end it; so does any other final failure without
    Retry-After, since the subscriber cannot take our state.
    """
    return status is None or status >= 300


def end_after_failure(sub: Subscription) -> Subscription:
    if sub.state is not SubState.ACTIVE:
        return sub
    return replace(sub, state=_step(sub.state, SubEvent.NOTIFY_FAILED))
