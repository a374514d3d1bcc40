"""MAC addresses as sipfleet stores them: 12 uppercase hex digits, no separators."""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[:\-.]")
_MAC = re.compile(r"^[0-9A-F]{12}$")


def normalise_mac(text: str) -> str | None:
    """`00:15:65:4a:a9:37`, `00-15-65-4A-A9-37`, `0015.654a.a937` → `0015654AA937`."""
    candidate = _SEPARATORS.sub("", text.strip()).upper()
    return candidate if _MAC.match(candidate) else None
