"""Daylight saving rules from the POSIX rule that ends each TZif file (RFC 8536 §3.3)."""

from __future__ import annotations

import pytest

from provisioning.vendors.common import time_zone
from provisioning.vendors.tzrules import Dst, DstChange, parse_rule


def _change(month: int, week: int, weekday: int, hour: int, minute: int = 0) -> DstChange:
    return DstChange(month=month, week=week, weekday=weekday, hour=hour, minute=minute)


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (
            "CET-1CEST,M3.5.0,M10.5.0/3",
            Dst(
                standard_minutes=60,
                save_minutes=60,
                start=_change(3, 5, 0, 2),
                end=_change(10, 5, 0, 3),
            ),
        ),
        (
            "EST5EDT,M3.2.0,M11.1.0",
            Dst(
                standard_minutes=-300,
                save_minutes=60,
                start=_change(3, 2, 0, 2),
                end=_change(11, 1, 0, 2),
            ),
        ),
        (  # "negative DST" turned round: standard GMT, summer +1
            "IST-1GMT0,M10.5.0,M3.5.0/1",
            Dst(
                standard_minutes=0,
                save_minutes=60,
                start=_change(3, 5, 0, 1),
                end=_change(10, 5, 0, 2),
            ),
        ),
        (  # transitions at 24:00 and -1:00 are clamped into the day
            "<-04>4<-03>,M9.1.6/24,M4.1.6/24",
            Dst(
                standard_minutes=-240,
                save_minutes=60,
                start=_change(9, 1, 6, 23, 59),
                end=_change(4, 1, 6, 23, 59),
            ),
        ),
        (
            "<+1245>-12:45<+1345>,M9.5.0/2:45,M4.1.0/3:45",
            Dst(
                standard_minutes=765,
                save_minutes=60,
                start=_change(9, 5, 0, 2, 45),
                end=_change(4, 1, 0, 3, 45),
            ),
        ),
        ("IST-5:30", None),
        ("<+0330>-3:30", None),
        ("UTC0", None),
        ("XYZ-1ABC,J60,J300", None),  # Julian days: not taken
        ("garbage", None),
    ],
)
def test_posix_rules(rule: str, expected: Dst | None) -> None:
    assert parse_rule(rule) == expected


def test_time_zone_carries_its_rule() -> None:
    copenhagen = time_zone("Europe/Copenhagen")
    assert copenhagen.dst and copenhagen.rule is not None and copenhagen.offset_minutes == 60
    dublin = time_zone("Europe/Dublin")
    assert dublin.offset_minutes == 0 and dublin.rule is not None
    assert not time_zone("Asia/Kolkata").dst
    assert time_zone("Not/AZone").offset_minutes == 0
