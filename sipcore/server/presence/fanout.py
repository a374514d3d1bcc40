"""Sending NOTIFYs of the presence service (a mixin of `PresenceService`).

A state change marks every subscription of the extension changed; `coalesce` decides who
may send now (one NOTIFY in flight per subscription, at most one per interval). Those
that may are sent in the same synchronous pass: the NOTIFY is joined from the
subscription's fixed bytes (`presence_notify.Wire`) and handed to the client
transactions' lean path (`ClientTransactions.start`: no task, Timer E/F on one timer
wheel, the 200 OK matched on its raw bytes). Its answer arrives as a callback
(`_answered`): a failure or timeout ends the subscription (RFC 6665 §4.2.2), otherwise a
change that came while it was in flight goes out next. A route that needs I/O first (a
TCP connection to open after a restart) takes the awaitable path (`_notify_slow`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from typing import Any

from sipcore import metrics
from sipcore.errors import SipParseError
from sipcore.message import SipRequest
from sipcore.presence import coalesce, subscription
from sipcore.presence.subscription import SubState
from sipcore.server.context import RequestContext
from sipcore.server.presence.model import LiveSub, SipPort, Watched
from sipcore.server.presence.notify import Wire, make_wire, notify_bytes, notify_request

log = logging.getLogger("sipcore.server.presence.service")  # one logger for the service

NOTIFY_TIMEOUT = None  # the SIP service's Timer F (64*T1, RFC 3261 §17.1.2.2): then it ends
_NOTIFY_COUNTERS: dict[tuple[str, str], Any] = {}  # pre-bound metric children


class NotifySender:
    """The NOTIFY side of `PresenceService`; it provides the attributes declared here."""

    sip: SipPort
    subs: dict[str, LiveSub]
    watched: dict[str, Watched]

    def _spawn(self, coro: Any) -> None:
        raise NotImplementedError

    async def _drop(self, live: LiveSub, reason: str) -> None:
        raise NotImplementedError

    # --- sending --------------------------------------------------------------------------

    def _act(self, live: LiveSub, decision: coalesce.Decision, now: float) -> None:
        if decision.send_now:
            self._notify_now(live)
        elif decision.wake_at is not None and live.wake is None:
            live.wake = asyncio.get_running_loop().call_later(
                max(0.0, decision.wake_at - now), self._wake, live.sub.id
            )

    def _wake(self, sub_id: str) -> None:
        live = self.subs.get(sub_id)
        if live is None:
            return
        live.wake = None
        now = time.time()
        live.pacer, decision = coalesce.poll(live.pacer, now)
        self._act(live, decision, now)

    def _notify_now(self, live: LiveSub) -> None:
        """Send the subscription's next NOTIFY now, without a task: a fan-out to a
        thousand watchers is one synchronous pass of build + send; each answer (matched
        on its raw bytes by the client) comes back through `live.answered`. Routes that
        need I/O first (a TCP connection to open) take the awaitable path."""
        if live.sub.state is not SubState.ACTIVE or live.sub.id not in self.subs:
            return  # ended meanwhile (its final NOTIFY, if any, went its own way)
        watched = self.watched.get(live.sub.extension_id)
        if watched is None:  # not while the subscription is held (`_forget` pairs them)
            return
        live.sub, plan = subscription.notify(live.sub, time.time())
        wire = live.wire or self._wire(live)
        if wire is None:
            self._spawn(self._notify_slow(live, plan))
            return
        client = self.sip.client
        answered = live.answered
        if answered is None:
            answered = live.answered = functools.partial(self._answered, live)
        branch = client.new_branch()
        data = notify_bytes(wire, branch, plan, watched, live.sub)
        try:
            client.start("NOTIFY", branch, data, wire.connection, wire.address, answered)
        except (OSError, ConnectionError) as exc:
            log.info("NOTIFY for %s not sent: %s", plan.dialog.call_id, exc)
            answered(None)

    def _wire(self, live: LiveSub) -> Wire | None:
        """The subscription's fixed NOTIFY bytes and route; kept on `live` when the route
        cannot change (the SUBSCRIBE's own flow, or UDP)."""
        client = self.sip.client
        route = client.route_now(live.target)
        if route is None:
            return None
        connection, address = route
        wire = make_wire(live, client.via_prefix(connection), connection, address)
        if isinstance(live.target, RequestContext) or connection.transport == "udp":
            live.wire = wire
        return wire

    def _answered(self, live: LiveSub, status: int | None) -> None:
        """The NOTIFY in flight ended: a failure ends the subscription (§4.2.2), else the
        next one may go (a change that came meanwhile)."""
        _count_notify(live.sub.package, status)
        if subscription.notify_failed(status):
            self._spawn(self._drop(live, f"NOTIFY answered {status or 'timeout'}"))
            return
        now = time.time()
        live.pacer, decision = coalesce.answered(live.pacer, now)
        self._act(live, decision, now)

    async def _notify_slow(self, live: LiveSub, plan: subscription.NotifyPlan) -> None:
        status = await self._transmit(live, plan)
        if subscription.notify_failed(status):
            await self._drop(live, f"NOTIFY answered {status or 'timeout'}")
            return
        now = time.time()
        live.pacer, decision = coalesce.answered(live.pacer, now)
        self._act(live, decision, now)

    async def _transmit(
        self, live: LiveSub, plan: subscription.NotifyPlan, request: SipRequest | None = None
    ) -> int | None:
        request = request or notify_request(live, plan, self.watched[live.sub.extension_id])
        try:
            response = await self.sip.send_request(
                request, binding_or_target=live.target, timeout=NOTIFY_TIMEOUT
            )
        except (OSError, ConnectionError, SipParseError) as exc:
            log.info("NOTIFY for %s not sent: %s", plan.dialog.call_id, exc)
            response = None
        status = None if response is None else response.status
        _count_notify(live.sub.package, status)
        return status


def _count_notify(package: str, status: int | None) -> None:
    if status is not None and status < 300:
        result = "ok"
    else:
        result = "timeout" if status is None else "failed"
    counter = _NOTIFY_COUNTERS.get((package, result))
    if counter is None:
        counter = _NOTIFY_COUNTERS[(package, result)] = metrics.NOTIFIES.labels(package, result)
    counter.inc()
