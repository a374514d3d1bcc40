"""Sending the NOTIFYs of this node's subscriptions (RFC 6665 §4.2.2).

A new state of a watched extension (`apply_state`) marks every subscription of it whose
package shows the change; `coalesce` decides who may send now (one NOTIFY in flight per
subscription, at most one per interval). Those that may are sent in one synchronous pass
at the next turn of the loop: the NOTIFY is joined from the subscription's fixed bytes
(`sipcore.presence.notify.notify_bytes`) and handed to the client transactions' lean
path (`RequestSender.start`: no task, Timer E/F kept by the pure client transactions
behind one timer, the 200 OK matched on its raw bytes). Its answer arrives as a callback
(`_answered`): a failure or timeout ends the subscription (§4.2.2), otherwise a change
that came while it was in flight goes out next. A route that needs I/O first (a TCP
connection to open after a restart) takes the awaitable path (`notify_slow`:
`notify_request` and `SipService.send_request`)."""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Protocol

from prometheus_client import Counter

from sipcore import metrics
from sipcore.errors import SipParseError
from sipcore.message import SipRequest
from sipcore.presence import coalesce, subscription
from sipcore.presence.notify import (
    body_for,
    changed_packages,
    dialog_headers,
    make_wire,
    notify_bytes,
    notify_request,
)
from sipcore.presence.state import ExtensionState, is_newer
from sipcore.presence.subscription import NotifyPlan, SubState
from sipcore.server.context import RequestContext
from sipcore.server.presence.model import Clock, LiveSub, NotifyPort, Outbound, Watched
from sipcore.server.presence.table import SubscriptionTable
from sipcore.server.presence.tasks import Tasks

log = logging.getLogger("sipcore.server.presence.service")  # one logger for the service

NOTIFY_TIMEOUT = None  # the SIP service's Timer F (64*T1, RFC 3261 §17.1.2.2): then it ends


class Rows(Protocol):
    """What the fan-out uses of the stored subscriptions (`store.SubscriptionStore`)."""

    async def delete(self, ids: list[str]) -> None: ...


class Notifier:
    """The NOTIFYs of the subscriptions in `table`, sent through `sip`; an ended one's
    row is deleted from `store`."""

    def __init__(
        self,
        *,
        sip: NotifyPort,
        table: SubscriptionTable,
        store: Rows,
        tasks: Tasks,
        clock: Clock,
    ) -> None:
        self.sip = sip
        self.table = table
        self.store = store
        self.tasks = tasks
        self.clock = clock
        self._counters: dict[tuple[str, str], Counter] = {}  # pre-bound children

    # --- a new state -----------------------------------------------------------------

    def apply_state(self, new: ExtensionState) -> None:
        """`new` is the extension's state if newer than the one held: its watchers whose
        package shows the change get a NOTIFY."""
        watched = self.table.watched.get(new.extension_id)
        if watched is None or not is_newer(watched.state.seq, new.seq):
            return
        changed = changed_packages(watched.state, new)
        watched.state = new
        watched.bodies.clear()
        # The NOTIFYs go out at the next turn of the loop, in one synchronous pass: the
        # caller (a REST push) first reaches its pool release, so the release's reset
        # round trip overlaps the fan-out instead of following it.
        asyncio.get_running_loop().call_soon(self._fan_out, watched, changed)

    def _fan_out(self, watched: Watched, changed: set[str]) -> None:
        now = self.clock()
        subs = self.table.subs
        for sub_id in list(watched.subs):
            live = subs.get(sub_id)
            if live is not None and live.sub.package in changed:
                live.pacer, decision = coalesce.changed(live.pacer, now)
                self.act(live, decision, now)

    def changed(self, live: LiveSub) -> None:
        """`live` is new (or resumed) here: its first NOTIFY, with full state (§4.2.1.2)."""
        now = self.clock()
        live.pacer, decision = coalesce.changed(live.pacer, now)
        self.act(live, decision, now)

    # --- sending ---------------------------------------------------------------------

    def act(self, live: LiveSub, decision: coalesce.Decision, now: float) -> None:
        if decision.send_now:
            self._notify_now(live)
        elif decision.wake_at is not None and live.wake is None:
            live.wake = asyncio.get_running_loop().call_later(
                max(0.0, decision.wake_at - now), self._wake, live.sub.id
            )

    def _wake(self, sub_id: str) -> None:
        live = self.table.subs.get(sub_id)
        if live is None:
            return
        live.wake = None
        now = self.clock()
        live.pacer, decision = coalesce.poll(live.pacer, now)
        self.act(live, decision, now)

    def _notify_now(self, live: LiveSub) -> None:
        """Send the subscription's next NOTIFY now, without a task: a fan-out to a
        thousand watchers is one synchronous pass of build + send; each answer (matched
        on its raw bytes by the client) comes back through `live.answered`. Routes that
        need I/O first (a TCP connection to open) take the awaitable path."""
        if live.sub.state is not SubState.ACTIVE or live.sub.id not in self.table.subs:
            return  # ended meanwhile (its final NOTIFY, if any, went its own way)
        watched = self.table.watched.get(live.sub.extension_id)
        if watched is None:  # not while the subscription is held (the table pairs them)
            return
        live.sub, plan = subscription.notify(live.sub, self.clock())
        out = live.outbound or self._outbound(live)
        if out is None:
            self.tasks.spawn(self.notify_slow(live, plan))
            return
        client = self.sip.client
        answered = live.answered
        if answered is None:
            answered = live.answered = functools.partial(self._answered, live)
        branch = client.new_branch()
        body = body_for(watched.bodies, watched.state, live.sub)
        data = notify_bytes(out.wire, branch, plan, body)
        try:
            client.start("NOTIFY", branch, data, out.connection, out.address, answered)
        except (OSError, ConnectionError) as exc:
            log.info("NOTIFY for %s not sent: %s", plan.dialog.call_id, exc)
            answered(None)

    def _outbound(self, live: LiveSub) -> Outbound | None:
        """The subscription's fixed NOTIFY bytes and route; kept on `live` when the route
        cannot change (the SUBSCRIBE's own flow, or UDP)."""
        client = self.sip.client
        route = client.route_now(live.target)
        if route is None:
            return None
        connection, address = route
        wire = make_wire(live.sub, live.via, client.via_prefix(connection))
        out = Outbound(wire=wire, connection=connection, address=address)
        if isinstance(live.target, RequestContext) or connection.transport == "udp":
            live.outbound = out
        return out

    def _answered(self, live: LiveSub, status: int | None) -> None:
        """The NOTIFY in flight ended: a failure ends the subscription (§4.2.2), else the
        next one may go (a change that came meanwhile)."""
        self._count(live.sub.package, status)
        if subscription.notify_failed(status):
            self.tasks.spawn(self.drop(live, f"NOTIFY answered {status or 'timeout'}"))
            return
        now = self.clock()
        live.pacer, decision = coalesce.answered(live.pacer, now)
        self.act(live, decision, now)

    async def notify_slow(self, live: LiveSub, plan: NotifyPlan) -> None:
        """The NOTIFY of `plan` by the awaitable path; then as `_answered`."""
        status = await self.transmit(live, plan)
        if subscription.notify_failed(status):
            await self.drop(live, f"NOTIFY answered {status or 'timeout'}")
            return
        now = self.clock()
        live.pacer, decision = coalesce.answered(live.pacer, now)
        self.act(live, decision, now)

    def request(self, live: LiveSub, plan: NotifyPlan) -> SipRequest:
        """The NOTIFY of `plan` as a request, with the extension's current state."""
        watched = self.table.watched[live.sub.extension_id]
        headers = live.static
        if headers is None:  # the dialog's fixed headers, formatted once per subscription
            headers = live.static = dialog_headers(plan.dialog, plan.event, live.via)
        return notify_request(plan, body_for(watched.bodies, watched.state, live.sub), headers)

    async def transmit(
        self, live: LiveSub, plan: NotifyPlan, request: SipRequest | None = None
    ) -> int | None:
        """Send the NOTIFY (`request`, else built now) and await its final status (None:
        not sent or no answer)."""
        request = request or self.request(live, plan)
        try:
            response = await self.sip.send_request(
                request, binding_or_target=live.target, timeout=NOTIFY_TIMEOUT
            )
        except (OSError, ConnectionError, SipParseError) as exc:
            log.info("NOTIFY for %s not sent: %s", plan.dialog.call_id, exc)
            response = None
        status = None if response is None else response.status
        self._count(live.sub.package, status)
        return status

    # --- ending ----------------------------------------------------------------------

    async def final(self, live: LiveSub, plan: NotifyPlan, reason: str) -> None:
        """The subscription ended here (expired, unsubscribed): its final NOTIFY."""
        request = self.request(live, plan)  # rendered while the state is known
        self.table.forget(live)
        await self.store.delete([live.sub.id])
        await self.transmit(live, plan, request)
        log.info("subscription %s ended: %s", live.sub.dialog.call_id, reason)

    async def drop(self, live: LiveSub, reason: str) -> None:
        """The subscriber is gone (§4.2.2): the subscription ends without a NOTIFY."""
        live.sub = subscription.end_after_failure(live.sub)
        self.table.forget(live)
        await self.store.delete([live.sub.id])
        log.info("subscription %s dropped: %s", live.sub.dialog.call_id, reason)

    def _count(self, package: str, status: int | None) -> None:
        if status is not None and status < 300:
            result = "ok"
        else:
            result = "timeout" if status is None else "failed"
        counter = self._counters.get((package, result))
        if counter is None:
            counter = self._counters[(package, result)] = metrics.NOTIFIES.labels(package, result)
        counter.inc()
