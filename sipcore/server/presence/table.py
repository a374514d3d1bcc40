"""The subscriptions this node holds and the extensions they watch, in memory: looked up
by id and by dialog (a refresh is an in-dialog request: RFC 3261 §12.2.2 matches it
by Call-ID and our tag), counted per phone and per extension for the limits, and
scanned for expiry."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TypeVar

from sipcore import metrics
from sipcore.presence import subscription
from sipcore.presence.state import is_newer
from sipcore.presence.subscription import NotifyPlan
from sipcore.server.presence.model import LiveSub, Watched

_Key = TypeVar("_Key")


class SubscriptionTable:
    """`subs` and `watched` are paired: a subscription held here has its extension in
    `watched`, and an extension stays there while a subscription of it is held."""

    def __init__(self, *, max_per_phone: int, max_per_resource: int) -> None:
        self.max_per_phone = max_per_phone
        self.max_per_resource = max_per_resource
        self.subs: dict[str, LiveSub] = {}
        self.by_dialog: dict[tuple[str, str], str] = {}
        self.watched: dict[str, Watched] = {}
        self.next_expiry = 0.0  # no subscription here expires before this
        self._per_phone: dict[str | None, int] = {}
        # new SUBSCRIBEs being set up (awaiting the database), by phone and by extension
        self._pending_phone: dict[str | None, int] = {}
        self._pending_resource: dict[str, int] = {}

    def add(self, live: LiveSub, watched: Watched) -> None:
        self.next_expiry = min(self.next_expiry, live.sub.expires_at)
        # The entry may have been dropped (its last other subscription ended) or replaced
        # while this SUBSCRIBE awaited the database: join the one that is current.
        current = self.watched.setdefault(live.sub.extension_id, watched)
        if current is not watched and is_newer(current.state.seq, watched.state.seq):
            current.state = watched.state
            current.bodies.clear()
        self.subs[live.sub.id] = live
        self.by_dialog[(live.sub.dialog.call_id, live.sub.dialog.local_tag)] = live.sub.id
        current.subs.add(live.sub.id)
        self._per_phone[live.phone_id] = self._per_phone.get(live.phone_id, 0) + 1
        metrics.SUBSCRIPTIONS.labels(live.sub.package).inc()

    def forget(self, live: LiveSub) -> None:
        if self.subs.pop(live.sub.id, None) is None:
            return
        metrics.SUBSCRIPTIONS.labels(live.sub.package).dec()
        left = self._per_phone.get(live.phone_id, 1) - 1
        if left > 0:
            self._per_phone[live.phone_id] = left
        else:
            self._per_phone.pop(live.phone_id, None)
        if live.wake is not None:
            live.wake.cancel()
        self.by_dialog.pop((live.sub.dialog.call_id, live.sub.dialog.local_tag), None)
        watched = self.watched.get(live.sub.extension_id)
        if watched is not None:
            watched.subs.discard(live.sub.id)
            if not watched.subs:
                del self.watched[live.sub.extension_id]

    def expires_by(self, deadline: float) -> None:
        """A held subscription's deadline moved (a refresh): the scan must not miss it."""
        self.next_expiry = min(self.next_expiry, deadline)

    def unwatch_if_idle(self, extension_id: str) -> None:
        """Drop the extension's entry unless a subscription holds it (after a fetch)."""
        watched = self.watched.get(extension_id)
        if watched is not None and not watched.subs:
            del self.watched[extension_id]

    def in_dialog(self, call_id: str, local_tag: str) -> LiveSub | None:
        sub_id = self.by_dialog.get((call_id, local_tag))
        return self.subs.get(sub_id) if sub_id else None

    def check_limits(self, *, phone_id: str = "", extension_id: str = "") -> None:
        """`subscription.check_limits` for the subscriber phone or the watched extension
        (one at a time: once admitted, a SUBSCRIBE is one of the phone's pending ones),
        on what this node holds and is setting up."""
        of_phone = of_resource = 0
        if phone_id:
            of_phone = self._per_phone.get(phone_id, 0) + self._pending_phone.get(phone_id, 0)
        if extension_id:
            watched = self.watched.get(extension_id)
            of_resource = len(watched.subs) if watched is not None else 0
            of_resource += self._pending_resource.get(extension_id, 0)
        subscription.check_limits(
            of_phone=of_phone,
            of_resource=of_resource,
            max_per_phone=self.max_per_phone,
            max_per_resource=self.max_per_resource,
        )

    def pending_of_phone(self, phone_id: str) -> contextlib.AbstractContextManager[None]:
        """Hold the phone's place while its new SUBSCRIBE is being set up."""
        return _holding(self._pending_phone, phone_id)

    def pending_of_resource(self, extension_id: str) -> contextlib.AbstractContextManager[None]:
        """Hold the extension's place while a new SUBSCRIBE to it is being set up."""
        return _holding(self._pending_resource, extension_id)

    def expire(self, now: float) -> list[tuple[LiveSub, NotifyPlan]]:
        """The subscriptions whose deadline has come, ended (RFC 6665 §4.2.2), each with
        its final NOTIFY. Scans only once the earliest deadline has come (`add` and a
        refresh lower the remembered one, so it is never late): not 1,000 subscriptions
        4 times a second for nothing."""
        ended: list[tuple[LiveSub, NotifyPlan]] = []
        if now < self.next_expiry:
            return ended
        earliest = float("inf")
        for live in list(self.subs.values()):
            deadline = live.sub.deadline
            if deadline is not None and now >= deadline:
                live.sub, plan = subscription.handle_timer(live.sub, now)
                if plan is not None:
                    ended.append((live, plan))
            elif deadline is not None:
                earliest = min(earliest, deadline)
        self.next_expiry = earliest
        return ended


@contextlib.contextmanager
def _holding(counts: dict[_Key, int], key: _Key) -> Iterator[None]:
    """Count `key` in `counts` while the block runs (a subscription being set up)."""
    counts[key] = counts.get(key, 0) + 1
    try:
        yield
    finally:
        left = counts[key] - 1
        if left > 0:
            counts[key] = left
        else:
            del counts[key]
