"""Pieces every vendor module shares: key rows, codec lists, time zones, languages.

A vendor module turns a `PhoneContext` into the few vendor-specific values its templates
print (key type codes, language names, time-zone spellings); the templates then stay
declarative. Everything here is pure and cached where it is pure.
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from provisioning.vendors.context import (
    AUDIO_CODECS,
    HD_CODECS,
    PhoneContext,
    SoftKey,
)
from provisioning.vendors.tzrules import Dst, parse_rule


class UnsupportedFunction(ValueError):
    """A soft key whose function the vendor has no key type for. The phone API refuses
    such keys on save (catalogue `softkey_functions`); reaching this at render time is a bug
    upstream, so rendering fails loudly instead of dropping the key."""


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyRow:
    """One key as a template prints it.

    `position` is 1-based on the phone, `panel` 0 for the phone itself or 1.. for the
    expansion module, `panel_key` 1-based within that module. `code` is the vendor's own
    key type for `function`; `value` is what the key dials or watches.
    """

    position: int
    panel: int
    panel_key: int
    function: str
    code: str
    value: str
    label: str
    account: int


def key_rows(
    keys: tuple[SoftKey, ...], codes: Mapping[str, str], *, keys_per_panel: int = 0
) -> tuple[KeyRow, ...]:
    """Key rows in index order; with `keys_per_panel` the keys are on expansion modules."""
    rows = []
    for key in sorted(keys, key=lambda k: k.index):
        code = codes.get(key.function)
        if code is None:
            raise UnsupportedFunction(f"soft key {key.index}: {key.function} has no key type")
        panel, within = (
            (key.index // keys_per_panel + 1, key.index % keys_per_panel + 1)
            if (keys_per_panel)
            else (0, key.index + 1)
        )
        rows.append(
            KeyRow(
                position=key.index + 1,
                panel=panel,
                panel_key=within,
                function=key.function,
                code=code,
                value=key.value,
                label=key.label or key.value,
                account=key.account,
            )
        )
    return tuple(rows)


def panel_rows(ctx: PhoneContext, codes: Mapping[str, str]) -> tuple[KeyRow, ...]:
    if ctx.side_panel is None:
        return ()
    return key_rows(ctx.side_panel.keys, codes, keys_per_panel=ctx.side_panel.keys_per_panel)


def effective_codecs(ctx: PhoneContext) -> tuple[str, ...]:
    """The audio codecs in the phone's preferred order, HD codecs only with hdAudio
    (002 `codec.hdAudio`), then the rest of the vendor-neutral list; video separately."""
    wanted = [c for c in ctx.device.codecs if c in AUDIO_CODECS]
    for codec in AUDIO_CODECS:
        if codec not in wanted and codec not in ("ilbc", "g729"):
            wanted.append(codec)
    if not ctx.device.hd_audio:
        wanted = [c for c in wanted if c not in HD_CODECS]
    return tuple(wanted)


@dataclass(frozen=True, slots=True, kw_only=True)
class TimeZone:
    name: str
    offset_minutes: int  # standard time, east of UTC positive
    posix: str  # POSIX TZ rule (IEEE 1003.1 §8.3), e.g. 'CET-1CEST,M3.5.0,M10.5.0/3'
    #: its daylight saving rule (`tzrules`), None where there is none
    rule: Dst | None = None

    @property
    def gmt(self) -> str:
        """'+01:00' style standard offset."""
        sign = "-" if self.offset_minutes < 0 else "+"
        hours, minutes = divmod(abs(self.offset_minutes), 60)
        return f"{sign}{hours:02d}:{minutes:02d}"

    @property
    def hours(self) -> str:
        """'+1', '-3.5' style offset (Yealink `local_time.time_zone`)."""
        value = self.offset_minutes / 60
        text = f"{value:+g}"
        return text

    @property
    def dst(self) -> bool:
        return self.rule is not None


@functools.lru_cache(maxsize=512)
def time_zone(name: str) -> TimeZone:
    """Offsets and the POSIX rule of an IANA zone; unknown names fall back to UTC."""
    try:
        zone = zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return TimeZone(name="UTC", offset_minutes=0, posix="UTC0")
    offset = timedelta(0)
    for month in (1, 7):
        moment = datetime(2025, month, 15, 12, tzinfo=zone)
        if moment.dst() == timedelta(0):
            offset = moment.utcoffset() or timedelta(0)
            break
    posix = _posix_rule(name)
    rule = parse_rule(posix)
    minutes = rule.standard_minutes if rule else int(offset.total_seconds() // 60)
    return TimeZone(name=name, offset_minutes=minutes, posix=posix, rule=rule)


def _posix_rule(name: str) -> str:
    """The footer of the TZif v2+ file (RFC 8536 §3.3) is the POSIX rule."""
    for base in zoneinfo.TZPATH:
        path = Path(base) / name
        if path.is_file():
            footer = path.read_bytes().rstrip(b"\n").rsplit(b"\n", 1)[-1]
            text = footer.decode("ascii", "replace")
            if re.fullmatch(r"[A-Za-z0-9<>+\-,.:/]{3,64}", text):
                return text
    return "UTC0"


def pick(mapping: Mapping[str, str], key: str, default: str) -> str:
    return mapping.get(key, default)


def flag(value: bool | None) -> str:
    """'1'/'0' as most key=value formats write booleans."""
    return "1" if value else "0"
