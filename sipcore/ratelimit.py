"""Failed-authentication limiter per source address: repeated
failures from one source address are rate-limited and then ignored for a while.

Public API:
    FailureLimiter(*, limit: int, window: float, ban: float, capacity: int = 65536)
        .record_failure(addr, now) -> bool   True when this failure bans the address
        .is_banned(addr, now) -> bool        the I/O side drops requests from it silently
        .clear(addr)                         forget an address (e.g. after a success)
        len(limiter)                         addresses tracked (failures + bans)

Sliding window: an address with `limit` failures whose oldest is less than `window`
seconds old is banned for `ban` seconds; while banned nothing about it is recorded, so a
flood cannot extend its own ban forever — but the first failures after the ban start a
new window. Memory is bounded: at most `capacity` addresses with failures and at most
`capacity` bans, the least recently touched dropped first (a ban is dropped only when
every tracked ban is newer — the oldest bans are the nearest to expiring anyway).
"""

from __future__ import annotations


class FailureLimiter:
    __slots__ = ("_ban", "_bans", "_capacity", "_failures", "_limit", "_window")

    def __init__(self, *, limit: int, window: float, ban: float, capacity: int = 65536) -> None:
        if limit < 1 or window <= 0 or ban < 0 or capacity < 1:
            raise ValueError("limit, window and capacity must be positive, ban not negative")
        self._limit = limit
        self._window = window
        self._ban = ban
        self._capacity = capacity
        # addr -> times of its recent failures, oldest first (a list: a deque is ~600 bytes)
        self._failures: dict[str, list[float]] = {}
        self._bans: dict[str, float] = {}  # addr -> banned until

    def __len__(self) -> int:
        return len(self._failures) + len(self._bans)

    def is_banned(self, addr: str, now: float) -> bool:
        until = self._bans.get(addr)
        if until is None:
            return False
        if now < until:
            return True
        del self._bans[addr]
        return False

    def record_failure(self, addr: str, now: float) -> bool:
        if self.is_banned(addr, now):
            return False
        times = self._failures.pop(addr, None)
        if times is None:
            if len(self._failures) >= self._capacity:
                del self._failures[next(iter(self._failures))]
            times = []
        horizon = now - self._window
        if times and times[0] <= horizon:
            times = [t for t in times if t > horizon]
        times.append(now)
        if len(times) >= self._limit:
            self._ban_address(addr, now)
            return True
        self._failures[addr] = times  # re-inserted: most recently touched last
        return False

    def clear(self, addr: str) -> None:
        self._failures.pop(addr, None)

    def _ban_address(self, addr: str, now: float) -> None:
        if self._ban <= 0:
            return
        bans = self._bans
        if addr not in bans and len(bans) >= self._capacity:
            oldest = next(iter(bans))
            if bans[oldest] > now:
                del bans[oldest]
            else:  # drop every expired ban at the front
                while bans and bans[next(iter(bans))] <= now:
                    del bans[next(iter(bans))]
        bans.pop(addr, None)
        bans[addr] = now + self._ban
