"""Daylight saving rules of an IANA time zone, for phones that take rules instead of a name.

Most vendors' configs cannot name an IANA zone (Gigaset can; Grandstream takes the POSIX
rule itself): they take a standard offset plus, to switch to summer time on the right days,
the start and end of daylight saving as "month, week of the month, day of the week, hour".
That is exactly the POSIX TZ rule that ends every TZif file (RFC 8536 §3.3, IEEE 1003.1
§8.3: `CET-1CEST,M3.5.0,M10.5.0/3`), parsed here into `Dst`. Each vendor module writes it
in its own numbering.

Limits, so that a phone never gets a rule it cannot hold: only the `Mm.w.d` form of a
transition (every zone with DST today uses it); hours are clamped to 0-23 (America/Santiago
switches at "24", America/Nuuk at "-1": the phone switches within the hour's day instead).
A rule whose summer offset is *lower* than its standard one (Europe/Dublin: standard IST
+1, "winter time" GMT) is turned round: standard GMT, summer +1 from the rule's end to its
start — the same clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NAME = r"(?:<[^>]{1,16}>|[A-Za-z]{3,})"
_OFFSET = r"[+-]?\d{1,2}(?::\d{2}){0,2}"
_RULE = re.compile(
    rf"^(?P<std>{_NAME})(?P<stdoff>{_OFFSET})"
    rf"(?:(?P<dst>{_NAME})(?P<dstoff>{_OFFSET})?,(?P<start>[^,]+),(?P<end>[^,]+))?$"
)
_CHANGE = re.compile(r"^M(\d{1,2})\.([1-5])\.([0-6])(?:/([+-]?\d{1,3}(?::\d{2}){0,2}))?$")


@dataclass(frozen=True, slots=True, kw_only=True)
class DstChange:
    """One transition, in local time before it: `week` 1-5 (5 = the last in the month),
    `weekday` 0 = Sunday … 6 = Saturday (POSIX numbering)."""

    month: int
    week: int
    weekday: int
    hour: int
    minute: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Dst:
    """Summer time: `save_minutes` added from `start` until `end`; `standard_minutes` is the
    zone's standard offset east of UTC that the rule goes with."""

    standard_minutes: int
    save_minutes: int
    start: DstChange
    end: DstChange


def _minutes(text: str) -> int:
    sign = -1 if text.startswith("-") else 1
    parts = [int(p) for p in text.lstrip("+-").split(":")]
    hours, minutes = parts[0], (parts[1] if len(parts) > 1 else 0)
    return sign * (hours * 60 + minutes)


def _change(text: str) -> DstChange | None:
    match = _CHANGE.match(text)
    if match is None:
        return None
    month, week, weekday = (int(match.group(i)) for i in (1, 2, 3))
    if not 1 <= month <= 12:
        return None
    at = _minutes(match.group(4)) if match.group(4) else 120
    at = min(max(at, 0), 23 * 60 + 59)
    return DstChange(month=month, week=week, weekday=weekday, hour=at // 60, minute=at % 60)


def parse_rule(posix: str) -> Dst | None:
    """The daylight saving of a POSIX TZ rule; None for a zone without (or a rule this
    module does not take)."""
    match = _RULE.match(posix)
    if match is None or match.group("dst") is None:
        return None
    standard = -_minutes(match.group("stdoff"))  # POSIX offsets count west of UTC
    dst_text = match.group("dstoff")
    summer = -_minutes(dst_text) if dst_text else standard + 60
    start, end = _change(match.group("start")), _change(match.group("end"))
    if start is None or end is None or summer == standard:
        return None
    if summer < standard:  # "negative DST": the same clock with the seasons named round
        return Dst(standard_minutes=summer, save_minutes=standard - summer, start=end, end=start)
    return Dst(standard_minutes=standard, save_minutes=summer - standard, start=start, end=end)
