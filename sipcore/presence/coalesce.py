"""NOTIFY coalescing: at most one NOTIFY per subscription per interval, and at most one
NOTIFY of a subscription in flight; the last state is always delivered.

A change only marks the subscription dirty. When it may send (nothing in flight and the
interval since the last NOTIFY has passed) the service renders the state as it is *then*,
so a burst of changes yields one NOTIFY carrying the newest state (RFC 6665 §4.2.2 allows
a notifier to throttle). Keeping one NOTIFY in flight also keeps them in order on the wire
even when UDP retransmits one (RFC 6665 §4.1.2.4 notes NOTIFYs may otherwise cross).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class Pacer:
    interval: float  # seconds; 0 means only the in-flight rule applies
    last_sent: float | None = None
    in_flight: bool = False
    dirty: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    send_now: bool
    wake_at: float | None = None  # when to poll again (a timer), if not sending now


IDLE = Decision(send_now=False)
SEND = Decision(send_now=True)


def poll(pacer: Pacer, now: float) -> tuple[Pacer, Decision]:
    if not pacer.dirty or pacer.in_flight:
        return pacer, IDLE
    due = now if pacer.last_sent is None else pacer.last_sent + pacer.interval
    if now >= due:
        # explicit construction: dataclasses.replace is several times slower, and this
        # runs once per watcher per change (1,000 watchers of one extension)
        return Pacer(interval=pacer.interval, last_sent=now, in_flight=True, dirty=False), SEND
    return pacer, Decision(send_now=False, wake_at=due)


def changed(pacer: Pacer, now: float) -> tuple[Pacer, Decision]:
    """The watched state changed: send now, at `wake_at`, or when the in-flight one ends."""
    if not pacer.in_flight and (pacer.last_sent is None or now >= pacer.last_sent + pacer.interval):
        # the fan-out's common case, without the intermediate dirty Pacer
        return Pacer(interval=pacer.interval, last_sent=now, in_flight=True, dirty=False), SEND
    return poll(Pacer(interval=pacer.interval, last_sent=pacer.last_sent,
                      in_flight=pacer.in_flight, dirty=True), now)  # fmt: skip


def answered(pacer: Pacer, now: float) -> tuple[Pacer, Decision]:
    """The NOTIFY in flight got its final response (or timed out)."""
    return poll(Pacer(interval=pacer.interval, last_sent=pacer.last_sent, in_flight=False,
                      dirty=pacer.dirty), now)  # fmt: skip
