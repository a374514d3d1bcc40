"""The failed-auth limiter of a node, in shared memory: the rules of the per-process
limiter (sliding window, ban, nothing recorded while banned, bounded memory), and the
point of it — limiters of several workers on one region count together, a ban set by
one holds on the others at once, a worker started later sees the bans already set, and
a worker far behind (more bans than the ring holds) still sees every ban. Two worker
processes on one region are exercised for real in tests/bans/test_bans_workers.py."""

from __future__ import annotations

import os

import pytest

from sipcore.server.registrar.limiter import EXACT_LIMIT, RING, SharedFailureLimiter
from sipcore.server.sharedmem import Region


def _pair(**settings: float) -> tuple[SharedFailureLimiter, SharedFailureLimiter, Region]:
    """Two workers' limiters on one shared region (as the supervisor hands it out)."""
    size = SharedFailureLimiter.region_size(int(settings["limit"]))
    region = Region.create("test", size)
    first = SharedFailureLimiter(region_=region, **settings)  # type: ignore[arg-type]
    second = SharedFailureLimiter(region_=Region.attach(os.dup(region.fd or -1)), **settings)  # type: ignore[arg-type]
    return first, second, region


def test_window_then_ban_then_free() -> None:
    limiter = SharedFailureLimiter(limit=3, window=60, ban=300)
    assert not limiter.record_failure("10.0.0.1", 1000)
    assert not limiter.record_failure("10.0.0.1", 1010)
    assert not limiter.is_banned("10.0.0.1", 1011)
    assert limiter.record_failure("10.0.0.1", 1020)  # third within 60 s
    assert limiter.is_banned("10.0.0.1", 1021)
    assert limiter.is_banned("10.0.0.1", 1319.9)
    assert not limiter.is_banned("10.0.0.2", 1021)
    assert not limiter.is_banned("10.0.0.1", 1320)
    assert not limiter.record_failure("10.0.0.1", 1321)  # a new window from scratch


def test_sliding_window_and_nothing_recorded_while_banned() -> None:
    limiter = SharedFailureLimiter(limit=3, window=60, ban=300)
    for t in (1000, 1030, 1061, 1095):  # never three within 60 s
        assert not limiter.record_failure("a", t)
    assert limiter.record_failure("a", 1100)  # 1061, 1095, 1100
    short = SharedFailureLimiter(limit=2, window=10, ban=30)
    short.record_failure("a", 1000)
    assert short.record_failure("a", 1001)
    for t in range(1002, 1030):
        assert not short.record_failure("a", t)
    assert not short.is_banned("a", 1031)


def test_clear_memory_bound_and_bad_settings() -> None:
    limiter = SharedFailureLimiter(limit=2, window=10, ban=30, capacity=100)
    limiter.record_failure("x", 1000)
    limiter.clear("x")
    assert not limiter.record_failure("x", 1001)
    for i in range(10_000):
        limiter.record_failure(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}", 1002)
    assert len(limiter.table) <= 104  # 13 buckets of 8: the capacity, rounded up
    for i in range(10_000):
        addr = f"172.16.{i // 256}.{i % 256}"
        limiter.record_failure(addr, 1003)
        limiter.record_failure(addr, 1003)
    assert len(limiter.banned(1004)) <= 100
    assert limiter.is_banned("172.16.39.15", 1004)  # the most recent ban is kept
    with pytest.raises(ValueError):
        SharedFailureLimiter(limit=0, window=1, ban=1)


def test_workers_count_together_and_a_ban_holds_on_every_worker() -> None:
    first, second, _ = _pair(limit=4, window=60, ban=300)
    assert not first.record_failure("198.51.100.7", 1000)
    assert not second.record_failure("198.51.100.7", 1001)
    assert not first.record_failure("198.51.100.7", 1002)
    assert not second.is_banned("198.51.100.7", 1003)
    assert second.record_failure("198.51.100.7", 1003)  # the 4th of the node: not the 2nd
    assert first.is_banned("198.51.100.7", 1004)  # at once, on the other worker
    assert not first.record_failure("198.51.100.7", 1005)  # nothing recorded while banned
    assert not first.is_banned("198.51.100.8", 1004)


def test_a_later_worker_sees_bans_already_set_and_one_far_behind_catches_up() -> None:
    first, second, region = _pair(limit=1, window=60, ban=300)
    assert first.record_failure("203.0.113.1", 1000.0)
    restarted = SharedFailureLimiter(
        limit=1, window=60, ban=300, region_=Region.attach(os.dup(region.fd or -1))
    )
    assert restarted.is_banned("203.0.113.1", 1001.0)  # read from the table at start
    for i in range(RING + 10):  # more bans than the ring holds while `second` sleeps
        first.record_failure(f"10.1.{i // 256}.{i % 256}", 1002.0)
    assert second.is_banned("10.1.0.0", 1003.0)  # the oldest: from the table, not the ring
    assert second.is_banned("203.0.113.1", 1003.0)
    assert len(second.banned(1003.0)) == RING + 11


def test_other_nodes_bans_are_added_to_the_view() -> None:
    limiter = SharedFailureLimiter(limit=3, window=60, ban=300)
    assert limiter.ban("192.0.2.50", 1500.0, 1000.0)
    assert not limiter.ban("192.0.2.50", 1400.0, 1000.0)  # not news: a longer one is known
    assert not limiter.ban("192.0.2.51", 900.0, 1000.0)  # already over
    assert limiter.is_banned("192.0.2.50", 1200.0)
    assert not limiter.record_failure("192.0.2.50", 1200.0)  # nothing recorded meanwhile
    assert not limiter.is_banned("192.0.2.50", 1500.0)


def test_limits_beyond_the_stored_times_count_per_window() -> None:
    # a limit of a billion (a fuzzing or load-test setting) used to ask for a record of
    # eight gigabytes and stop every worker at start; above EXACT_LIMIT the count is per
    # window from the address's first failure
    assert SharedFailureLimiter.region_size(10**9) == SharedFailureLimiter.region_size(EXACT_LIMIT)
    huge = SharedFailureLimiter(limit=10**9, window=60, ban=300)
    for t in range(1000):
        assert not huge.record_failure("10.9.9.9", 1000 + t / 100)
    limiter = SharedFailureLimiter(limit=100, window=60, ban=300)
    for t in range(99):
        assert not limiter.record_failure("a", 1000 + t * 0.1)
    assert limiter.record_failure("a", 1010)  # the 100th within the window
    for t in range(99):  # a window that ran out starts again from one
        assert not limiter.record_failure("b", 1000 + t * 0.1)
    assert not limiter.record_failure("b", 1061)
    assert not limiter.is_banned("b", 1062)
