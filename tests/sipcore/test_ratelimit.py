"""Failed-auth limiter: sliding window, ban, bounded memory."""

from __future__ import annotations

import pytest

from sipcore.ratelimit import FailureLimiter


def test_window_then_ban_then_free() -> None:
    limiter = FailureLimiter(limit=3, window=60, ban=300)
    assert not limiter.record_failure("10.0.0.1", 0)
    assert not limiter.record_failure("10.0.0.1", 10)
    assert not limiter.is_banned("10.0.0.1", 11)
    assert limiter.record_failure("10.0.0.1", 20)  # third within 60 s
    assert limiter.is_banned("10.0.0.1", 21)
    assert limiter.is_banned("10.0.0.1", 319.9)
    assert not limiter.is_banned("10.0.0.2", 21)  # other addresses unaffected
    assert not limiter.is_banned("10.0.0.1", 320)
    # a new window starts from scratch
    assert not limiter.record_failure("10.0.0.1", 321)


def test_sliding_window_forgets_old_failures() -> None:
    limiter = FailureLimiter(limit=3, window=60, ban=300)
    for t in (0, 30, 61, 95):  # never three within 60 s
        assert not limiter.record_failure("a", t)
    assert limiter.record_failure("a", 100)  # 61, 95, 100


def test_failures_while_banned_do_not_extend_the_ban() -> None:
    limiter = FailureLimiter(limit=2, window=10, ban=30)
    limiter.record_failure("a", 0)
    assert limiter.record_failure("a", 1)
    for t in range(2, 30):
        assert not limiter.record_failure("a", t)
    assert not limiter.is_banned("a", 31)


def test_clear_and_memory_bound() -> None:
    limiter = FailureLimiter(limit=2, window=10, ban=30, capacity=100)
    limiter.record_failure("x", 0)
    limiter.clear("x")
    assert not limiter.record_failure("x", 1)
    for i in range(10_000):
        limiter.record_failure(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}", 2)
    assert len(limiter) <= 100
    for i in range(10_000):  # second failure: each bans; bans are bounded too
        addr = f"172.16.{i // 256}.{i % 256}"
        limiter.record_failure(addr, 3)
        limiter.record_failure(addr, 3)
    assert len(limiter) <= 200
    assert limiter.is_banned("172.16.39.15", 4)  # the most recent ban is kept


def test_bad_configuration() -> None:
    with pytest.raises(ValueError):
        FailureLimiter(limit=0, window=1, ban=1)
