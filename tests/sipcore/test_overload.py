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

POLICY = OverloadPolicy(enter_lag=0.2, enter_samples=2, leave_ratio=0.5, hold=1.0)


def run(samples: list[tuple[float, float]], policy: OverloadPolicy = POLICY) -> list[bool]:
    """The state after each (now, lag) sample."""
    control = OverloadControl(policy)
    states = []
    for now, lag in samples:
        control.observe(lag, now)
        states.append(control.active)
    return states


@pytest.mark.parametrize(
    ("samples", "expected"),
    [
        # calm: never overloaded
        ([(0.0, 0.0), (0.1, 0.05), (0.2, 0.19)], [False, False, False]),
        # one stall is not an overload; two samples in a row are
        ([(0.0, 0.5), (0.1, 0.0), (0.2, 0.3)], [False, False, False]),
        ([(0.0, 0.2), (0.1, 0.3)], [False, True]),
        # in overload: a lag between leave (0.1) and enter (0.2) keeps it
        ([(0.0, 0.3), (0.1, 0.3), (0.2, 0.15), (5.0, 0.15)], [False, True, True, True]),
        # calm below 0.1 for `hold` (1 s) seconds leaves it …
        (
            [(0.0, 0.3), (0.1, 0.3), (0.2, 0.05), (0.7, 0.05), (1.2, 0.05)],
            [False, True, True, True, False],
        ),
        # … and a relapse during the calm restarts the clock
        (
            [(0.0, 0.3), (0.1, 0.3), (0.2, 0.05), (0.9, 0.12), (1.3, 0.05), (2.2, 0.0),
             (2.5, 0.0)],
            [False, True, True, True, True, True, False],
        ),
        # after leaving, entering again needs two samples again
        (
            [(0.0, 0.3), (0.1, 0.3), (0.2, 0.0), (1.2, 0.0), (1.3, 0.3), (1.4, 0.3)],
            [False, True, True, False, False, True],
        ),
    ],
)  # fmt: skip
def test_lag_table(samples: list[tuple[float, float]], expected: list[bool]) -> None:
    assert run(samples) == expected


def test_observe_reports_only_changes() -> None:
    control = OverloadControl(POLICY)
    changes = [control.observe(lag, now) for now, lag in
               [(0.0, 0.3), (0.1, 0.4), (0.2, 0.9), (0.3, 0.0), (1.3, 0.0), (1.4, 0.0)]]  # fmt: skip
    assert changes == [None, True, None, None, False, None]


def test_worst_lag_of_the_episode() -> None:
    control = OverloadControl(POLICY)
    for now, lag in [(0.0, 0.3), (0.1, 0.4), (0.2, 1.5), (0.3, 0.6)]:
        control.observe(lag, now)
    assert control.active and control.worst_lag == 1.5


def test_disabled_never_overloaded() -> None:
    assert run([(0.0, 9.0), (0.1, 9.0), (0.2, 9.0)], OverloadPolicy(enter_lag=0)) == [
        False,
        False,
        False,
    ]


def test_one_sample_policy_enters_at_once() -> None:
    assert run([(0.0, 0.2)], OverloadPolicy(enter_lag=0.2, enter_samples=1)) == [True]


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
