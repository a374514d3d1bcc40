"""Grandstream GXP21xx / GRP261x desk phones and the GXP2200EXT expansion module.

Format: `<gs_provision version="1"><mac>…</mac><config version="1"><Pnnn>…</Pnnn>` — the
P-value dialect of the Grandstream "SIP Device Provisioning Guide" and the GXP21xx
Administration Guide's configuration template. The alias dialect (`<config version="2">`)
may not be mixed with P-values in one file, and the codec slots are only known as P-values
(P57–P62, P46, P98, filled with RTP payload numbers by Grandstream's own web UI), so the
whole file is P-values.

Account 1: P271 active, P270 account name, P3 display name, P47 SIP server, P35 user ID,
P36 authenticate ID, P34 password, P48 outbound proxy, P130 transport (0 UDP, 1 TCP,
2 TLS), P32 register expiration (minutes), P33 voicemail. Device: P2 admin password, P30
NTP server, P64 time zone (a POSIX TZ rule such as 'HAW10'), P1362 language, P102 date
format, P122 time format (1 = 24h), P91 disable call waiting, P104 ring tone, P334/P335
LCD brightness active/idle, P2916/P2917 wallpaper source/URL, P237 config server path,
P212 upgrade via (2 = HTTP), P8 address type (0 DHCP, 1 static) with P9–P28 the octets of
address, mask, gateway, DNS 1/2; P51/P87 WAN VLAN tag/priority, P229/P230 PC port VLAN
tag/priority and P1684 LLDP (leads from the P-value list, to confirm on hardware).

Keys: virtual multi-purpose (line) key N: mode P(1363+2(N-1)), account P(1364+2(N-1)),
description P(1465+2(N-1)), value P(1466+2(N-1)); modes from the admin guide's VPK table
(0 line, 10 speed dial, 11 BLF, 16 voicemail, 18 transfer, 21 LDAP search, 24 record,
27 menu, 28 XML application — the MPK modes plus 10). Extension module key K of module M:
P(23000+4(K-1)+…) mode/account/name/value with the MPK modes (0 speed dial, 1 BLF, …),
modules numbered on from the GXP2200EXT's key count. No BLF transfer-method or headset
P-value is confirmed, so neither is written.
"""

from __future__ import annotations

from collections.abc import Mapping

from provisioning.vendors.common import effective_codecs, key_rows, panel_rows, time_zone
from provisioning.vendors.context import PhoneContext
from provisioning.vendors.spec import VendorSpec

# MPK modes (GXP21xx Administration Guide, "Multi-Purpose Keys").
KEY_CODES: Mapping[str, str] = {
    "SPEEDDIAL": "0",
    "BLF": "1",
    "ADDRESSBOOK": "11",
    "VOICEMAIL": "6",
    "TRANSFER": "8",
    "URL": "18",
    "RECORD": "14",
    "MENU": "17",
    "PICKUPGROUP": "0",
    "QUEUE": "0",
    "SWITCH": "1",
}
_VPK_OFFSET = 10

_LANGUAGES = {
    "ENGLISH": "en",
    "CHINESE": "zh",
    "DUTCH": "nl",
    "FRENCH": "fr",
    "GERMAN": "de",
    "GREEK": "el",
    "ITALIAN": "it",
    "JAPANESE": "ja",
    "POLISH": "pl",
    "RUSSIAN": "ru",
    "SPANISH": "es",
    "SWEDISH": "sv",
    "UKRAINIAN": "uk",
    "BULGARIAN": "bg",
}
# P102: 0 yyyy-mm-dd, 1 mm-dd-yyyy, 2 dd-mm-yyyy
_DATE_FORMATS = {"YYYY-MM-DD": "0", "MM/DD/YYYY": "1", "DD/MM/YYYY": "2", "DD.MM.YYYY": "2"}
# RTP payload numbers for the vocoder slots (RFC 3551 §6; Opus 123 as Grandstream uses).
_CODECS = {"pcmu": "0", "pcma": "8", "g722": "9", "g729": "18", "opus": "123"}
_VOCODER_SLOTS = ("57", "58", "59", "60", "61", "62", "46", "98")
_TRANSPORTS = {"udp": "0", "tcp": "1", "tls": "2"}


def _p(number: int) -> str:
    return f"P{number}"


def prepare(ctx: PhoneContext) -> Mapping[str, object]:
    vpk = []
    for row in key_rows(ctx.softkeys, {**KEY_CODES, "LINE": "0"}):
        n = row.position - 1
        mode = "0" if row.function == "LINE" else str(int(row.code) + _VPK_OFFSET)
        vpk.append(
            (_p(1363 + 2 * n), _p(1364 + 2 * n), _p(1465 + 2 * n), _p(1466 + 2 * n), mode, row)
        )
    ext = []
    for row in panel_rows(ctx, KEY_CODES):
        base = 23000 + 4 * (row.position - 1)
        ext.append((_p(base), _p(base + 1), _p(base + 2), _p(base + 3), row.code, row))
    codecs = [_CODECS[c] for c in effective_codecs(ctx) if c in _CODECS]
    return {
        "vpk": vpk,
        "ext": ext,
        "language": _LANGUAGES.get(ctx.device.language, "en"),
        "date_format": _DATE_FORMATS.get(ctx.device.date_format, "0"),
        "timezone": time_zone(ctx.device.timezone),
        "vocoders": list(zip(_VOCODER_SLOTS, codecs, strict=False)),
        "transports": _TRANSPORTS,
    }


SPEC = VendorSpec(
    name="grandstream",
    key_codes={**KEY_CODES, "LINE": "0"},
    xml=True,
    content_type="application/xml; charset=utf-8",
    device_template="grandstream.xml",
    common_template="grandstream-common.xml",
    templates=("grandstream-base.xml", "grandstream.xml", "grandstream-common.xml"),
    prepare=prepare,
    panel_functions=frozenset(KEY_CODES),
)
