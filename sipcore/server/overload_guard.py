"""Overload control's I/O side: sampling how long work waits, and refusing new work.

Every `PROBE_INTERVAL` the guard measures how long work waits — the drift of its own
timer plus the age of the probe datagram each UDP listener sends to itself
(`sipcore.server.transport.connections.UdpSocket.probe_lag`) — and feeds the pure
decision (`sipcore.overload.OverloadControl`). While the wait is above `overload_lag`, the
SIP service refuses a growing share of new requests without credentials with a cheap 503
+ Retry-After (`refuse`), before any digest work; second halves of registrations,
in-dialog requests and retransmissions are served as usual. Entering and leaving
overload is one log line each.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from typing import Any

from sipcore import metrics
from sipcore.message import SipRequest, response_bytes
from sipcore.overload import OverloadControl, OverloadPolicy, retry_after

log = logging.getLogger(__name__)

# Seconds between overload probes: a tenth of T1, so a backlog is seen long before the
# phones' first retransmission.
PROBE_INTERVAL = 0.05
_METRIC_METHODS = frozenset({"REGISTER", "SUBSCRIBE", "PUBLISH", "OPTIONS", "NOTIFY"})


class OverloadGuard:
    """Samples the lag, keeps `control` current and answers the requests it sheds."""

    def __init__(self, enter_lag: float) -> None:
        self.control = OverloadControl(OverloadPolicy(enter_lag=enter_lag))
        self._counters: dict[str, Any] = {}
        self._shed_in_episode = 0

    async def run(self, listener_lag: Callable[[float], float]) -> None:
        """Sample every PROBE_INTERVAL until cancelled; `listener_lag(now)` is the worst
        wait in the listeners' receive buffers."""
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(PROBE_INTERVAL)
            lag = max(0.0, loop.time() - started - PROBE_INTERVAL)  # the loop's own delay
            now = time.monotonic()
            self.observe_lag(max(lag, listener_lag(now)), now)

    def observe_lag(self, lag: float, now: float) -> None:
        """One lag sample (seconds): enter or leave overload, with one log line each."""
        control = self.control
        changed = control.observe(lag, now)
        if changed is None:
            return
        metrics.SIP_OVERLOAD.set(1 if changed else 0)
        limit_ms = control.policy.enter_lag * 1000
        if changed:
            self._shed_in_episode = 0
            log.warning(
                "SIP overload: requests wait %.0f ms (limit %.0f ms); a share of new requests "
                "without credentials gets 503 until the wait stays below %.0f ms",
                lag * 1000, limit_ms, limit_ms * control.policy.leave_ratio,
            )  # fmt: skip
        else:
            log.warning(
                "SIP overload over: worst wait %.0f ms, %d new requests refused",
                control.worst_lag * 1000, self._shed_in_episode,
            )  # fmt: skip

    def refuse(self, request: SipRequest) -> bytes:
        """503 + a randomised Retry-After for a new request refused in overload (RFC 3261
        §21.5.4), counted like the write-queue storm control's refusals."""
        method = request.method
        label = method if method in _METRIC_METHODS else "other"
        counter = self._counters.get(label)
        if counter is None:
            counter = self._counters[label] = metrics.SIP_OVERLOAD_SHED.labels(method=label)
        counter.inc()
        self._shed_in_episode += 1
        if method == "REGISTER":
            metrics.REGISTRATIONS.labels(result="error").inc()
        return response_bytes(request, 503, headers=[("Retry-After", retry_after(random.randint))])

    def stop(self) -> None:
        if self.control.active:
            metrics.SIP_OVERLOAD.set(0)
