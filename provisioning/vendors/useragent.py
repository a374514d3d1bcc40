"""Which phone is asking: vendor, model, firmware and MAC from the User-Agent header.

Phones name themselves in the HTTP User-Agent of their provisioning fetches (and in the
SIP User-Agent header, RFC 3261 §20.41). The table below is ordered; each regex has real
samples above it (vendors.md, the vendors' admin guides, captured traffic). A MAC found in
the header lets the file server check it against the MAC in the file name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class UserAgentInfo:
    vendor: str
    model: str | None
    firmware: str | None
    mac: str | None  # 12 uppercase hex digits

    @property
    def catalogue_name(self) -> str | None:
        """The catalogue slug this model most likely has ('yealink-t54w')."""
        if self.model is None:
            return None
        model = self.model.lower()
        if self.vendor == "gigaset":
            model = model.split()[0]
        return f"{self.vendor}-{re.sub(r'[^a-z0-9]', '', model.replace('vvx_', 'vvx'))}"


_HEX12 = re.compile(r"[^0-9A-Fa-f]")

_TABLE: tuple[tuple[str, re.Pattern[str]], ...] = (
    # Yealink SIP-T46G 28.72.0.1 00:15:65:4a:a9:37
    # Yealink SIP-T54W 96.85.0.5 80:5e:c0:12:34:56
    # Yealink W60B 77.83.0.85 80:5e:c0:aa:bb:cc
    # Yealink SIP VP-T49G 51.80.0.100 00:15:65:00:00:01
    (
        "yealink",
        re.compile(
            r"\bYealink\s+(?:SIP[- ]?)?(?:VP-)?(?P<model>[A-Z][A-Za-z0-9]+)\s+(?P<fw>\d+(?:\.\d+)+)"
            r"(?:\s+(?P<mac>(?:[0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}))?"
        ),
    ),
    # Mozilla/4.0 (compatible; snomD785-SIP 10.1.33.33 1.1.3-s 000413922D24 UPDATE)
    # Mozilla/4.0 (compatible; snom-m700 10.1.0.10 000413A1B2C3)
    # snomD735/10.1.46.16 (SIP User-Agent)
    (
        "snom",
        re.compile(
            r"\bsnom-?(?P<model>[A-Za-z]?\d+[A-Za-z]*)(?:-SIP)?[ /](?P<fw>\d+(?:\.\d+)+)"
            r"(?:.*?\b(?P<mac>000413[0-9A-Fa-f]{6})\b)?",
            re.IGNORECASE,
        ),
    ),
    # Grandstream Model HW GXP1628 SW 1.0.4.138 DevId c074ad2bd859
    # Grandstream Model HW GXP2170 V1.2A SW 1.0.11.3 DevId 000b82123456
    # Grandstream GXP2160 1.0.9.108 (SIP User-Agent)
    (
        "grandstream",
        re.compile(
            r"\bGrandstream\s+(?:Model HW\s+)?(?P<model>[A-Z]{2,4}\d{3,4}[A-Za-z]*)"
            r"(?:\s+V\S+)?\s+(?:SW\s+)?(?P<fw>\d+(?:\.\d+)+)"
            r"(?:\s+DevId\s+(?P<mac>[0-9A-Fa-f]{12}))?"
        ),
    ),
    # FileTransport PolycomVVX-VVX_410-UA/5.9.0.9373
    # PolycomVVX-VVX_450-UA/6.3.0.14929 Type/Application
    # FileTransport PolycomSoundPointIP-SPIP_331-UA/4.0.15.1009
    (
        "polycom",
        re.compile(r"\bPolycom\w*-(?P<model>[A-Za-z]+_\d+\w*)-UA/(?P<fw>\d+(?:\.\d+)+)"),
    ),
    # Cisco/SPA504G-7.5.5 (0018B9FFFF00)(CCQ1234567)
    # Linksys/SPA942-6.1.5(a) (000E08AABBCC)
    (
        "cisco",
        re.compile(
            r"\b(?:Cisco|Linksys)/(?P<model>SPA\d+\w*?)-(?P<fw>\d[\w.()]*)"
            r"(?:\s*\((?P<mac>[0-9A-Fa-f]{12})\))?"
        ),
    ),
    # Aastra6757i MAC:00-08-5D-1A-2B-3C V:3.3.1.4305-SIP
    # Mitel6867i MAC:00-08-5D-12-34-56 V:5.1.0.2051-SIP
    (
        "mitel",
        re.compile(
            r"\b(?:Aastra|Mitel)(?P<model>\d{2,4}i?\w*)\s+MAC:(?P<mac>(?:[0-9A-Fa-f]{2}-){5}"
            r"[0-9A-Fa-f]{2})\s+V:(?P<fw>\d+(?:\.\d+)+)"
        ),
    ),
    # Fanvil X5U 2.12.1 0c383e123456
    # Fanvil X4U 2.4.10.1
    (
        "fanvil",
        re.compile(
            r"\bFanvil\s+(?P<model>[A-Z][A-Za-z0-9]+)\s+(?P<fw>\d+(?:\.\d+)+)"
            r"(?:\s+(?P<mac>[0-9A-Fa-f]{12}))?"
        ),
    ),
    # Gigaset N670 IP PRO/83.V2.11.0+build.a546b47;7C2F80E0F443
    # Gigaset N870 IP PRO/83.V2.20.0+build.1a58b0f;7C2F80CA01B6
    (
        "gigaset",
        re.compile(
            r"\bGigaset\s+(?P<model>N\d+\w*(?: IP PRO)?)/(?P<fw>[\w.+]+)"
            r"(?:;(?P<mac>[0-9A-Fa-f]{12}))?"
        ),
    ),
)

_MAX_LENGTH = 512


def parse_user_agent(user_agent: str | None) -> UserAgentInfo | None:
    """Identify a phone from its User-Agent; None when no vendor pattern matches."""
    if not user_agent:
        return None
    text = user_agent[:_MAX_LENGTH]
    for vendor, pattern in _TABLE:
        match = pattern.search(text)
        if match is None:
            continue
        groups = match.groupdict()
        mac = groups.get("mac")
        return UserAgentInfo(
            vendor=vendor,
            model=groups["model"].upper() if vendor == "snom" else groups["model"],
            firmware=groups["fw"],
            mac=normalise_mac(mac) if mac else None,
        )
    return None


def normalise_mac(text: str) -> str | None:
    """12 uppercase hex digits from any common spelling, or None if it is not a MAC."""
    digits = _HEX12.sub("", text)
    if len(digits) != 12 or len(text) > 17:
        return None
    return digits.upper()
