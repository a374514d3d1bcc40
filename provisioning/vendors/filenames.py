"""Which file a phone is asking for: vendor, MAC and kind from the requested name.

Every vendor asks for a per-MAC file and, usually first, a common file (vendors.md and the
vendors' auto-provisioning guides):

- Yealink: `y0000000000XX.cfg` (XX = firmware family) then `{mac}.cfg` (Yealink Auto
  Provisioning Guide, "Common CFG file" / "MAC-Oriented CFG file").
- Snom: `snom{model}.htm|.xml`, `snom{model}-{MAC}.htm`, `{MAC}.xml`; M-series DECT
  `{model}.htm`, `{model}-{MAC}.htm` (snom "Auto Provisioning" wiki).
- Grandstream: `cfg{mac}.xml`, then `cfg{mac}`, common `cfg.xml` (GXP21xx Admin Guide,
  "Provisioning").
- Poly/Polycom: `{mac}.cfg` (else `000000000000.cfg`) = the master file naming the
  config files, here `{mac}-user.cfg` (UC Software Admin Guide, "Master configuration file").
- Cisco SPA/Linksys: `spa{model}.cfg` first; its Profile_Rule names `spa{mac}.xml`
  (SPA500 Provisioning Guide).
- Mitel/Aastra: `aastra.cfg`, `{model}.cfg`, then `{MAC}.cfg` (6800i SIP Admin Guide).
- Fanvil: `{mac}.cfg` (Fanvil Auto Provisioning Guide). Gigaset: `{MAC}.xml`.

`{mac}.cfg` is asked for by Yealink, Polycom, Fanvil and Mitel, `{MAC}.xml` by Snom and
Gigaset: such names give several candidates, which `resolve` settles with the User-Agent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Literal

from provisioning.vendors.useragent import UserAgentInfo

#: device: the per-MAC config; master: Polycom's per-MAC master file naming the configs;
#: common: a file shared by all phones of a vendor/model (no MAC).
FileKind = Literal["device", "master", "common"]


@dataclass(frozen=True, slots=True, kw_only=True)
class FileRequest:
    filename: str
    vendor: str | None  # None while several vendors could have asked
    candidates: tuple[str, ...]
    mac: str | None  # 12 uppercase hex digits; None for a common file
    kind: FileKind
    model: str | None = None  # model named by the file ('D785', 'SPA504G', '096')

    def for_vendor(self, vendor: str) -> FileRequest:
        """This request as asked by `vendor` (one of the candidates)."""
        if vendor not in self.candidates:
            raise ValueError(f"{self.filename} is not a {vendor} file name")
        kind: FileKind = self.kind
        if vendor == "polycom" and self.filename.lower().endswith(".cfg") and self.mac:
            kind = "device" if self.filename.lower().endswith("-user.cfg") else "master"
        return replace(self, vendor=vendor, candidates=(vendor,), kind=kind)


_HEX = "[0-9A-Fa-f]{12}"
_RULES: tuple[tuple[re.Pattern[str], tuple[str, ...], FileKind], ...] = (
    (re.compile(r"y0{9}(?P<model>\d{3})\.cfg"), ("yealink",), "common"),
    (re.compile(r"0{12}\.cfg"), ("polycom",), "common"),
    (re.compile(rf"(?P<mac>{_HEX})-user\.cfg"), ("polycom",), "device"),
    (
        re.compile(rf"snom(?P<model>[A-Za-z]?\d+[A-Za-z]*)-(?P<mac>{_HEX})\.htm"),
        ("snom",),
        "device",
    ),
    (re.compile(r"snom(?P<model>[A-Za-z]?\d+[A-Za-z]*)\.(?:htm|xml)"), ("snom",), "common"),
    (re.compile(rf"(?P<model>[Mm]\d{{3}})-(?P<mac>{_HEX})\.htm"), ("snom",), "device"),
    (re.compile(r"(?P<model>[Mm]\d{3})\.htm"), ("snom",), "common"),
    (re.compile(rf"cfg(?P<mac>{_HEX})(?:\.xml)?"), ("grandstream",), "device"),
    (re.compile(r"cfg\.xml"), ("grandstream",), "common"),
    (re.compile(rf"spa(?P<mac>{_HEX})\.xml"), ("cisco",), "device"),
    (re.compile(r"spa(?P<model>\d{3}\w*)\.cfg"), ("cisco",), "common"),
    (re.compile(r"aastra\.cfg"), ("mitel",), "common"),
    (re.compile(r"(?P<model>\d{4}i)\.cfg"), ("mitel",), "common"),
    (re.compile(rf"(?P<mac>{_HEX})\.cfg"), ("yealink", "fanvil", "polycom", "mitel"), "device"),
    (re.compile(rf"(?P<mac>{_HEX})\.xml"), ("snom", "gigaset"), "device"),
)
_MAX_NAME = 128


def match_file(path: str) -> FileRequest | None:
    """Recognise a requested file name (the last path segment); None if no vendor asks
    for such a name. Unambiguous names come back resolved (`vendor` set)."""
    name = path.rsplit("/", 1)[-1]
    if not name or len(name) > _MAX_NAME:
        return None
    for pattern, vendors, kind in _RULES:
        match = pattern.fullmatch(name)
        if match is None:
            continue
        groups = match.groupdict()
        mac = groups.get("mac")
        request = FileRequest(
            filename=name,
            vendor=None,
            candidates=_by_case_hint(vendors, mac),
            mac=mac.upper() if mac else None,
            kind=kind,
            model=groups.get("model"),
        )
        return request.for_vendor(vendors[0]) if len(vendors) == 1 else request
    return None


def _by_case_hint(vendors: tuple[str, ...], mac: str | None) -> tuple[str, ...]:
    """Mitel writes the MAC uppercase, Yealink/Fanvil/Polycom lowercase: order by that."""
    if mac is None or len(vendors) == 1 or "mitel" not in vendors:
        return vendors
    if any(c.isupper() for c in mac):
        return ("mitel", *(v for v in vendors if v != "mitel"))
    return vendors


def resolve(request: FileRequest, user_agent: UserAgentInfo | None) -> FileRequest | None:
    """Settle which vendor asked: the one the User-Agent names, if it is a candidate; the
    only candidate; else None (the caller may use the phone record's vendor)."""
    if request.vendor is not None:
        return request
    if user_agent is not None and user_agent.vendor in request.candidates:
        return request.for_vendor(user_agent.vendor)
    return None


def expand_pattern(pattern: str, mac: str) -> str:
    """A catalogue `config_files` pattern for one phone ('{mac}.cfg' → 'aabbcc…cfg')."""
    return pattern.replace("{mac}", mac.lower()).replace("{MAC}", mac.upper())
