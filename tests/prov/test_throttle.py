"""The scanner throttle, with a hand clock."""

from __future__ import annotations

from provisioning.prov.throttle import UnknownMacThrottle, address_key


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
    assert len(throttle) == 100
    assert address_key("2001:db8::1") == address_key("2001:db8::ffff:1") == "2001:db8::/64"
    assert address_key("::ffff:10.1.2.3") == "10.1.2.3"
    throttle.charge("2001:db8::1")
    assert throttle.retry_after("2001:db8::2") > 0
