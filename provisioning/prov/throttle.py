"""Scanner throttle: unknown-MAC fetches per source address.

A scanner walks MAC ranges asking for `/prov/<mac>.cfg`; every miss costs its address one
token of a bucket holding `unknown_mac_limit` tokens and refilled at that many per minute.
Until the bucket is empty a miss answers the same 404 as any unknown MAC. Once it is empty
the address gets 429 Too Many Requests with `Retry-After` for EVERY per-MAC file — known
MACs included, so a throttled scanner cannot tell a real MAC from a miss — and nothing is
recorded for it (the seen-phones list is not flooded). Requests made while throttled cost a
token too (down to minus one bucket), so an address that keeps hammering stays refused,
while one that waits recovers at the refill rate: a scanner is held to `unknown_mac_limit`
guesses a minute. A refusal is cheap and immediate (429), rather than a delayed answer
that would hold a connection and a coroutine per scanner request.

Phones behind one NAT share an address: known-MAC fetches never cost a token, so only an
address that also asks for unknown MACs is slowed. IPv6 addresses count per /64 (one
host usually holds a whole /64). Memory is bounded: at most `max_addresses` buckets, the
least recently used one is dropped first (a dropped bucket is a full one, the safe side
for a real phone).
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp: float


def address_key(address: str) -> str:
    """The unit that is throttled: the IPv4 address, or the IPv6 /64."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)


class UnknownMacThrottle:
    """Token buckets per address; `retry_after` asks, `charge` spends."""

    def __init__(
        self,
        *,
        per_minute: int,
        max_addresses: int = 65536,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.capacity = float(max(per_minute, 1))
        self.rate = self.capacity / 60.0  # tokens per second
        self.max_addresses = max_addresses
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def _bucket(self, key: str, now: float) -> _Bucket | None:
        bucket = self._buckets.get(key)
        if bucket is None:
            return None
        bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.stamp) * self.rate)
        bucket.stamp = now
        self._buckets.move_to_end(key)
        return bucket

    def retry_after(self, address: str) -> int:
        """0 when the address may fetch per-MAC files; else seconds until it may again.

        A refused request costs a token as well (see the module's docstring).
        """
        now = self._clock()
        bucket = self._bucket(address_key(address), now)
        if bucket is None or bucket.tokens >= 1.0:
            return 0
        bucket.tokens = max(bucket.tokens - 1.0, -self.capacity)
        return max(1, math.ceil((1.0 - bucket.tokens) / self.rate))

    def charge(self, address: str) -> None:
        """An unknown MAC was asked for from this address."""
        now = self._clock()
        key = address_key(address)
        bucket = self._bucket(key, now)
        if bucket is None:
            bucket = _Bucket(tokens=self.capacity, stamp=now)
            self._buckets[key] = bucket
            while len(self._buckets) > self.max_addresses:
                self._buckets.popitem(last=False)
        bucket.tokens = max(bucket.tokens - 1.0, -self.capacity)
