"""The overload decision (`sipcore.overload`): lag samples in, state changes out."""

from __future__ import annotations

import pytest

from sipcore.overload import (
    RETRY_AFTER_MAX,
    RETRY_AFTER_MIN,
    OverloadControl,
    OverloadPolicy,
    retry_after,
    sheddable,
)

# Binary fractions, so the expected admission values are exact.
POLICY = OverloadPolicy(
    enter_lag=0.2, enter_samples=2, leave_ratio=0.5, decrease=0.5, increase=0.25,
    min_admit=0.1, hold=1.0,
)  # fmt: skip
T, F = True, False


def run(
    samples: list[tuple[float, float]], policy: OverloadPolicy = POLICY
) -> list[tuple[bool, float]]:
    """(active, admitted fraction) after each (now, lag) sample."""
    control = OverloadControl(policy)
    states = []
    for now, lag in samples:
        control.observe(lag, now)
        states.append((control.active, control.admit))
    return states


@pytest.mark.parametrize(
    ("samples", "expected"),
    [
        # calm: never overloaded
        ([(0.0, 0.0), (0.1, 0.05), (0.2, 0.19)], [(F, 1), (F, 1), (F, 1)]),
        # one stall is not an overload; two samples in a row are: admission halves
        ([(0.0, 0.5), (0.1, 0.0), (0.2, 0.3)], [(F, 1), (F, 1), (F, 1)]),
        ([(0.0, 0.2), (0.1, 0.3)], [(F, 1), (T, 0.5)]),
        # further lagging samples halve it, at most once per measured lag (0.3 s here);
        # below min_admit it is 0 (all shed)
        (
            [(0.0, 0.3), (0.1, 0.3), (0.2, 0.3), (0.4, 0.3), (0.5, 0.3), (0.7, 0.3),
             (1.0, 0.3), (1.3, 0.3)],
            [(F, 1), (T, 0.5), (T, 0.5), (T, 0.25), (T, 0.25), (T, 0.125), (T, 0), (T, 0)],
        ),
        # a lag between leave (0.1) and enter (0.2) holds the admission
        (
            [(0.0, 0.3), (0.1, 0.3), (0.2, 0.15), (5.0, 0.15)],
            [(F, 1), (T, 0.5), (T, 0.5), (T, 0.5)],
        ),
        # below 0.1 it grows back by 0.25 a sample; the overload ends after `hold` (1 s)
        # at full admission
        (
            [(0.0, 0.3), (0.1, 0.3), (0.2, 0.05), (0.3, 0.05), (1.0, 0.0), (1.5, 0.0)],
            [(F, 1), (T, 0.5), (T, 0.75), (T, 1), (T, 1), (F, 1)],
        ),
        # a relapse (two lagging samples) during the calm cuts again and restarts the clock
        (
            [(0.0, 0.3), (0.1, 0.3), (0.2, 0.05), (0.3, 0.05), (0.8, 0.3), (0.9, 0.3),
             (1.5, 0.0), (1.6, 0.0), (2.0, 0.0)],
            [(F, 1), (T, 0.5), (T, 0.75), (T, 1), (T, 1), (T, 0.5), (T, 0.75), (T, 1),
             (T, 1)],
        ),
    ],
)  # fmt: skip
def test_lag_table(samples: list[tuple[float, float]], expected: list[tuple[bool, float]]) -> None:
    assert run(samples) == expected


def test_observe_reports_only_changes() -> None:
    control = OverloadControl(POLICY)
    changes = [control.observe(lag, now) for now, lag in
               [(0.0, 0.3), (0.1, 0.4), (0.2, 0.9), (0.3, 0.0), (0.4, 0.0), (0.5, 0.0),
                (1.4, 0.0), (1.6, 0.0), (1.7, 0.0)]]  # fmt: skip
    assert changes == [None, True, None, None, None, None, None, False, None]


def test_worst_lag_of_the_episode() -> None:
    control = OverloadControl(POLICY)
    for now, lag in [(0.0, 0.3), (0.1, 0.4), (0.2, 1.5), (0.3, 0.6)]:
        control.observe(lag, now)
    assert control.active and control.worst_lag == 1.5


def test_shed_by_admitted_fraction() -> None:
    control = OverloadControl(POLICY)
    assert not control.shed(0.999)  # full admission: nothing shed
    control.admit = 0.5
    assert not control.shed(0.49) and control.shed(0.5)
    control.admit = 0.0
    assert control.shed(0.0)


def test_disabled_never_overloaded() -> None:
    samples = [(0.0, 9.0), (0.1, 9.0), (0.2, 9.0)]
    assert run(samples, OverloadPolicy(enter_lag=0)) == [(F, 1), (F, 1), (F, 1)]


def test_one_sample_policy_cuts_at_once() -> None:
    policy = OverloadPolicy(enter_lag=0.2, enter_samples=1, decrease=0.5)
    assert run([(0.0, 0.2)], policy) == [(T, 0.5)]


def test_retry_after_in_range() -> None:
    assert retry_after(lambda low, high: low) == str(RETRY_AFTER_MIN)
    assert retry_after(lambda low, high: high) == str(RETRY_AFTER_MAX)


@pytest.mark.parametrize(
    ("method", "credentials", "to_tag", "expected"),
    [
        ("REGISTER", False, False, True),  # first half of a registration: new work
        ("REGISTER", True, False, False),  # second half: its 401 was already paid for
        ("SUBSCRIBE", False, False, True),
        ("SUBSCRIBE", True, False, False),
        ("SUBSCRIBE", False, True, False),  # refresh of an accepted subscription
        ("OPTIONS", False, False, True),
        ("NOTIFY", False, True, False),
        ("ACK", False, False, False),
        ("CANCEL", False, False, False),
    ],
)
def test_sheddable(method: str, credentials: bool, to_tag: bool, expected: bool) -> None:
    assert sheddable(method, credentials, to_tag) is expected
