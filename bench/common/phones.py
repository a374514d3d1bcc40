"""What the benchmarks' phones say about themselves: a Yealink T54W on firmware 96."""

from __future__ import annotations

YEALINK_UA = "Yealink SIP-T54W 96.86.0.100"


def colon_mac(mac: str) -> str:
    """001565A1B2C3 -> 00:15:65:a1:b2:c3"""
    mac = mac.lower()
    return ":".join(mac[i : i + 2] for i in range(0, 12, 2))


def yealink_user_agent(mac: str) -> str:
    """The User-Agent a T54W sends with its provisioning fetches: model, firmware, MAC."""
    return f"{YEALINK_UA} {colon_mac(mac)}"
