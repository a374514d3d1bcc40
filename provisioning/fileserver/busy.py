"""Load shedding for the file server: a fetch that has already waited too long is answered
503 + Retry-After at once, before any database work.

Why: when a building's phones boot at once, fetches arrive faster than a worker can serve
them and queue up in the kernel (the listen backlog, then the socket). Served in order,
each waits longer than the one before, until phones give up (a time-out, a retry later,
the work done for the abandoned request wasted) — the queue never drains and everyone is
late. The loop's own lag does not show this queue: the worker stays busy, yet each turn of
its loop is short. So the age of each request is read from the kernel: `tcpi_last_data_recv`
of TCP_INFO, the milliseconds since the request's bytes arrived (Linux). A per-MAC fetch
older than `provisioning_queue_limit_ms` gets a cheap 503 with a randomised Retry-After
(5–30 s, as SIP's overload control), so the queue drains to fresh requests, the phones
turned away come back spread over the next half minute, and every phone is served a
little later instead of many not at all (CoDel's idea: judge a queue by its sojourn time).
Common files (no MAC, cached) are always served: they cost less than the refusal.
"""

from __future__ import annotations

import logging
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

_TCP_INFO_SIZE = 104
_LAST_DATA_RECV = struct.Struct("=I")
_LAST_DATA_RECV_OFFSET = 52  # struct tcp_info: 8 bytes of u8 fields, then u32s from rto
LOG_INTERVAL = 10.0  # seconds between the log lines of an episode


def request_age(sock: Any) -> float | None:
    """Seconds since the last bytes of the connection's request arrived, from the kernel;
    None where TCP_INFO is unavailable (not Linux, not TCP, a closed socket)."""
    if sock is None or not hasattr(socket, "TCP_INFO"):
        return None
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_SIZE)
    except OSError:
        return None
    if len(info) < _LAST_DATA_RECV_OFFSET + 4:
        return None
    return float(_LAST_DATA_RECV.unpack_from(info, _LAST_DATA_RECV_OFFSET)[0]) / 1000.0


class StaleFetches:
    """Decides which fetches have waited too long, and says so in the log once per
    `LOG_INTERVAL` while it lasts (a line per refusal would flood the log in a storm)."""

    def __init__(self, limit_seconds: float, clock: Callable[[], float] = time.monotonic):
        self.limit = limit_seconds
        self.refused = 0  # since start (tests, metrics)
        self._clock = clock
        self._episode = 0
        self._logged_at: float | None = None

    def stale(self, age: float | None) -> bool:
        """True when a fetch that waited `age` seconds is to be refused."""
        if self.limit <= 0 or age is None or age <= self.limit:
            return False
        self.refused += 1
        self._episode += 1
        now = self._clock()
        if self._logged_at is None or now - self._logged_at >= LOG_INTERVAL:
            log.warning(
                "provisioning busy: %d fetch(es) waited more than %.1f s (this one %.1f s); "
                "answered 503 + Retry-After",
                self._episode, self.limit, age,
            )  # fmt: skip
            self._logged_at = now
            self._episode = 0
        return True
