"""Overload control: when to refuse new work because the server has fallen behind.

Why: a registrar driven past its CPU capacity over UDP collapses instead of saturating.
Once requests wait in the socket longer than the client's T1 (500 ms, RFC 3261 §17.1.1),
every request arrives again as a retransmission, each first-half copy costs a fresh
challenge, latency grows and so do the retransmissions: measured, 2,750 REGISTER/s asked
of a 2,500/s process gave 755/s. The cure is to notice the lag early (well below T1) and
answer *new* work with a cheap 503 + Retry-After while the work already paid for (second
halves of registrations, in-dialog requests, retransmissions) keeps being served, so the
backlog drains and the server keeps doing useful work at its capacity.

This module is the pure decision: `OverloadControl.observe(lag, now)` takes the lag the
server measured (how long work waits before it is looked at: the age of a self-addressed
probe datagram, the drift of a timer) and adapts `admit`, the fraction of new requests
let in (AIMD, as TCP does with its window): while the lag is at or above `enter_lag` it
is multiplied by `decrease`, at most once per measured lag (a cut shows in the lag only
once the queue it measured has drained: cutting on every sample meanwhile overshot, a
server at capacity refused a third of the load); below `enter_lag * leave_ratio` it grows by
`increase`; in between it holds (the dead band). All-or-nothing shedding was measured to
overshoot: every exit let the full offered load in at once, and the server spent most of
the time refusing with an idle CPU. The first cut needs `enter_samples` samples in a row
(one stall of the loop — a collection, a descheduled process — is not an overload). The
reported state (`active`, the metric and the log lines) is entered at the first cut and
left only after `admit` has been back at 1 for `hold` seconds, so it does not flap.
The I/O (probes, timers, answering) lives in `sipcore.server.service`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# Retry-After range (seconds) of a shed request: randomised so the refused phones do not
# all come back in the same second (the same range as the durable-write storm control).
RETRY_AFTER_MIN = 5
RETRY_AFTER_MAX = 30


@dataclass(frozen=True, slots=True)
class OverloadPolicy:
    """`enter_lag` in seconds (0 or less: overload control off), reached by
    `enter_samples` samples in a row for the first cut; `leave_ratio` of it is the lag
    below which the admitted fraction grows again; `hold` calm seconds at full admission
    end the reported overload. Below `min_admit` the fraction drops to 0."""

    enter_lag: float
    enter_samples: int = 2
    leave_ratio: float = 0.5
    decrease: float = 0.8
    increase: float = 0.05
    min_admit: float = 0.02
    hold: float = 2.0

    @property
    def enabled(self) -> bool:
        return self.enter_lag > 0


class OverloadControl:
    """The overload state of one server, fed with lag samples."""

    __slots__ = (
        "_calm_since", "_lagging", "_next_cut", "active", "admit", "policy", "worst_lag",
    )  # fmt: skip

    def __init__(self, policy: OverloadPolicy) -> None:
        self.policy = policy
        self.active = False
        self.admit = 1.0  # the fraction of new requests let in
        self.worst_lag = 0.0  # the highest lag seen in the current overload episode
        self._calm_since: float | None = None
        self._lagging = 0  # consecutive samples at or above enter_lag at full admission
        self._next_cut = 0.0  # no further cut before this time (monotonic seconds)

    def observe(self, lag: float, now: float) -> bool | None:
        """Take one lag sample (seconds) at `now` (monotonic seconds); the new reported
        state when it changed (True: entered overload, False: left it), else None."""
        policy = self.policy
        if not policy.enabled:
            return None
        if lag >= policy.enter_lag:
            if self.admit >= 1.0:
                self._lagging += 1
                if self._lagging < policy.enter_samples:
                    return None
            self._lagging = 0
            self._calm_since = None
            if now >= self._next_cut:
                admit = self.admit * policy.decrease
                self.admit = admit if admit >= policy.min_admit else 0.0
                self._next_cut = now + lag
            if not self.active:
                self.active = True
                self.worst_lag = lag
                return True
            self.worst_lag = max(self.worst_lag, lag)
            return None
        self._lagging = 0
        if not self.active:
            return None
        self.worst_lag = max(self.worst_lag, lag)
        if lag < policy.enter_lag * policy.leave_ratio and self.admit < 1.0:
            self.admit = min(1.0, self.admit + policy.increase)
        if self.admit < 1.0:
            self._calm_since = None
            return None
        if self._calm_since is None:
            self._calm_since = now
        if now - self._calm_since >= policy.hold:
            self.active = False
            self._calm_since = None
            return False
        return None

    def shed(self, rand: float) -> bool:
        """Whether to refuse one new request; `rand` uniform in [0, 1)."""
        return rand >= self.admit


def retry_after(randint: Callable[[int, int], int]) -> str:
    """The Retry-After value of a shed request (`random.randint` in production)."""
    return str(randint(RETRY_AFTER_MIN, RETRY_AFTER_MAX))


def sheddable(method: str, has_credentials: bool, has_to_tag: bool) -> bool:
    """Whether a request that is NEW (not a retransmission) may be refused in overload.

    Only work that has not been paid for: an out-of-dialog request without credentials
    (the first half of a digest exchange; its 401 would cost a nonce and a response, and
    the second half more). Requests with credentials finish what an earlier challenge
    started; in-dialog requests (To tag) belong to a subscription already accepted; ACK
    and CANCEL end transactions rather than start work."""
    if method in ("ACK", "CANCEL"):
        return False
    return not has_credentials and not has_to_tag
