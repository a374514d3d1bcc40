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
host usually holds a whole /64).

The buckets are the node's, not the process's: they live in memory shared by every
worker process (`sipcore.server.sharedmem`; a private region when serving alone), so a scanner
whose connections the kernel spreads over the workers still gets `unknown_mac_limit`
guesses a minute, not that many per worker. A fetch from an address that never asked
for an unknown MAC finds no bucket and takes no lock. Memory is bounded: at most about
`max_addresses` buckets, the least recently used of a hash bucket's eight dropped first
(a dropped bucket is a full one, the safe side for a real phone). The clock is
`time.monotonic`, the same for every process of the host.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import struct
import time
from collections.abc import Callable

from sipcore.server.sharedmem import AddressTable, Region, encode_key, region

log = logging.getLogger(__name__)

REGION_NAME = "unknown_mac"
_BUCKET = struct.Struct("=dd")  # tokens, last refill (clock seconds)


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
        region_: Region | None = None,
    ) -> None:
        self.capacity = float(max(per_minute, 1))
        self.rate = self.capacity / 60.0  # tokens per second
        self.max_addresses = max_addresses
        self._clock = clock
        buckets = AddressTable.buckets_for(max_addresses)
        size = self.region_size(max_addresses)
        chosen = region_ if region_ is not None else region(REGION_NAME, size)
        try:
            self._table = AddressTable(chosen, payload=_BUCKET.size, buckets=buckets)
        except ValueError as exc:  # the supervisor's region does not fit these settings
            log.warning("unknown-MAC throttle kept per process: %s", exc)
            chosen = Region.private(size)
            self._table = AddressTable(chosen, payload=_BUCKET.size, buckets=buckets)
        self._region = chosen

    @staticmethod
    def region_size(max_addresses: int = 65536) -> int:
        """Bytes of the shared region (the supervisor creates it)."""
        buckets = AddressTable.buckets_for(max_addresses)
        return AddressTable.size(payload=_BUCKET.size, buckets=buckets)

    def __len__(self) -> int:
        return len(self._table)

    def _refill(self, offset: int, now: float) -> float:
        """The bucket's tokens now (hold the lock)."""
        tokens, stamp = _BUCKET.unpack_from(self._table.mm, offset)
        return float(min(self.capacity, tokens + max(0.0, now - stamp) * self.rate))

    def _store(self, offset: int, tokens: float, now: float) -> None:
        _BUCKET.pack_into(self._table.mm, offset, tokens, now)
        self._table.touch(offset, now)

    def retry_after(self, address: str) -> int:
        """0 when the address may fetch per-MAC files; else seconds until it may again.

        A refused request costs a token as well (see the module's docstring).
        """
        key = encode_key(address_key(address))
        if self._table.find(key) < 0:  # never charged (or forgotten): a full bucket
            return 0
        now = self._clock()
        with self._region:
            offset = self._table.find(key)
            if offset < 0:
                return 0
            tokens = self._refill(offset, now)
            if tokens >= 1.0:
                self._store(offset, tokens, now)
                return 0
            tokens = max(tokens - 1.0, -self.capacity)
            self._store(offset, tokens, now)
        return max(1, math.ceil((1.0 - tokens) / self.rate))

    def charge(self, address: str) -> None:
        """An unknown MAC was asked for from this address."""
        key = encode_key(address_key(address))
        now = self._clock()
        with self._region:
            offset, created = self._table.add(key, now)
            tokens = self.capacity if created else self._refill(offset, now)
            self._store(offset, max(tokens - 1.0, -self.capacity), now)
