"""The scanner throttle, with a hand clock; two workers' throttles on one shared region
count together."""

from __future__ import annotations

import os

from provisioning.fileserver.throttle import UnknownMacThrottle, address_key
from sipcore.server.sharedmem import Region


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_empties_refuses_and_refills() -> None:
    clock = Clock()
    throttle = UnknownMacThrottle(per_minute=3, clock=clock)
    for _ in range(3):
        assert throttle.retry_after("10.0.0.1") == 0
        throttle.charge("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") > 0
    assert throttle.retry_after("10.0.0.2") == 0  # another address is not affected
    clock.now += 60 * 3  # hammering cost tokens; waiting long enough recovers fully
    assert throttle.retry_after("10.0.0.1") == 0


def test_hammering_keeps_it_refused() -> None:
    clock = Clock()
    throttle = UnknownMacThrottle(per_minute=60, clock=clock)
    for _ in range(60):
        throttle.charge("10.0.0.1")
    waits = []
    for _ in range(100):
        waits.append(throttle.retry_after("10.0.0.1"))
        clock.now += 0.5
    assert all(wait > 0 for wait in waits)


def test_memory_is_bounded_and_ipv6_counts_per_64() -> None:
    throttle = UnknownMacThrottle(per_minute=1, max_addresses=100, clock=Clock())
    for n in range(1000):
        throttle.charge(f"10.0.{n // 256}.{n % 256}")
    assert 50 < len(throttle) <= 104  # about max_addresses: 13 hash buckets of 8 each
    assert address_key("2001:db8::1") == address_key("2001:db8::ffff:1") == "2001:db8::/64"
    assert address_key("::ffff:10.1.2.3") == "10.1.2.3"
    throttle.charge("2001:db8::1")
    assert throttle.retry_after("2001:db8::2") > 0


def test_workers_share_the_buckets() -> None:
    clock = Clock()
    shared = Region.create("test-throttle", UnknownMacThrottle.region_size())
    first = UnknownMacThrottle(per_minute=4, clock=clock, region_=shared)
    other = Region.attach(os.dup(shared.fd or -1))  # another worker's mapping of it
    second = UnknownMacThrottle(per_minute=4, clock=clock, region_=other)
    for throttle in (first, second, first, second):  # a scanner spread over two workers
        assert throttle.retry_after("192.0.2.77") == 0
        throttle.charge("192.0.2.77")
    assert first.retry_after("192.0.2.77") > 0  # 4 a minute for the node, not per worker
    assert second.retry_after("192.0.2.77") > 0
    assert second.retry_after("192.0.2.78") == 0
