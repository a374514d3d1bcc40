"""Grandstream GXP21xx / GRP261x desk phones and the GXP2200EXT expansion module.

Format: `<gs_provision version="1"><mac>…</mac><config version="1"><Pnnn>…</Pnnn>` — the
P-value dialect of the Grandstream "SIP Device Provisioning Guide". The alias dialect
(`<config version="2">`) may not be mixed with P-values in one file, and the codec slots are
only known as P-values, so the whole file is P-values.

Source of every P-value below unless marked otherwise: Grandstream's own "Configuration
Template For GXP2130/2135/2140/2160/2170 Firmware Version 1.0.11.16" (the vendor's P-value
list, kept in wazo-platform/wazo-provd-plugins at
plugins/wazo-grandstream/docs/config-template/gxp2130_40_60_70_35_config_1.0.11.16.txt; the
section names are the template's).

Accounts ("Account N/General Settings", "…/SIP Settings/Basic Settings", "…/Audio
Settings"): account 1 is P271 active, P270 account name, P47 SIP server, P48 outbound proxy,
P35 SIP user ID, P36 authenticate ID, P34 password, P3 name, P33 voicemail, P32 register
expiration (minutes), P130 SIP transport (0 UDP, 1 TCP, 2 TLS/TCP), P57 P58 P59 P60 P61 P62
P46 P98 vocoder choices 1-8 (RTP payload numbers: 0 PCMU, 8 PCMA, 9 G.722, 18 G.729,
123 Opus). Accounts 2, 3, 4, 5, 6 keep one layout on a base of 400, 500, 600, 1700, 1800
(account 5 and 6 "GXP2160/2170 only"): base+1 active, +17 account name, +2 SIP server,
+3 outbound proxy, +4 user ID, +5 authenticate ID, +6 password, +7 name, +26 voicemail,
+12 register expiration, +48 transport, +51…+58 vocoders. Six accounts is the most any
supported model has, so a seventh is a bug upstream and fails loudly.

Device: P2 admin password ("Maintenance/Web Access"); P212 config via (1 HTTP, 2 HTTPS) and
P237 config server path, host/path without scheme ("Maintenance/Upgrade and
Provisioning"); P1362 display language (codes listed under "Maintenance/Language"); P30 NTP
server, P64 time zone (a fixed list, or `customize` with the POSIX rule in P246), P102 date
format (0 yyyy-mm-dd, 1 mm-dd-yyyy, 2 dd-mm-yyyy), P122 time format (1 = 24 h) ("Settings/
Preferences/Date and Time"); P91 disable call waiting ("Settings/Call Features"); P1312
HEADSET key mode (0 default, 1 toggle headset/speaker, "Audio Control"); P104 account ring
tone 0-5; P334/P335 backlight brightness active 10-100 / idle 0-100, P2916/P2917 wallpaper
source (1 download) and server path ("LCD Display"); P8 IP address mode (0 DHCP, 1 static)
with P9-P28 the octets of address, mask, gateway, DNS 1 and 2 ("Network/Basic Settings");
P22174 manual VLAN configuration, P51/P87 802.1Q tag and 802.1p priority, P229/P230 PC port
VLAN tag and priority, P1684 LLDP ("Network/Advanced Settings").

Keys ("Settings/Programmable Keys"): virtual multi-purpose key (VPK) N has mode, account,
description and value at P(1363+2(N-1)), P(1364+2(N-1)), P(1465+2(N-1)), P(1466+2(N-1)) for
N = 1…6 and at P(23800+4(N-7)) … +3 from N = 7 on. The first VPKs are "fixed" (line) VPKs
— one per line key of the model: GXP2140 4, GXP2160 6, GXP2170 12 — whose modes are 0 line
(default), 10 speed dial, 11 BLF, 16 voicemail, 18 transfer, 21 LDAP search, 24 record,
27 menu, 28 XML application; the rest are "dynamic" VPKs with the same functions numbered
10 lower (0 speed dial, 1 BLF, …), and no line mode. Extension module (GXP2200EXT) key K,
counted on across modules: P(23000+5(K-1)) mode (the dynamic modes), +1 account, +2
description, +3 value ("Settings/Extension Boards", EXT MPK K). Transfer Mode via VPK P8390:
0 blind, 1 attended, 2 new call — what a BLF key does during a call.

Optional settings (catalogue `features.settings`, the same template): ringtone P104
"Account Ring Tone" — 0 system ring tone, 1-3 custom ring tones 1-3 (4 silent, 5 default
are not offered): sipfleet's ringtone 1 is the system ring tone, 2-4 the custom ones, so
the catalogue gives Grandstream four; screensaver P2918 "Screensaver" (0 no, 1 yes) and
P2919 "Screensaver Timeout" in minutes 3-60 (seconds are rounded to whole minutes within
that range). Grandstream's distinctive ringtones match caller ids only, not an Alert-Info
text, so there are no queue or external ringtones; the "Plantronics EHS" headset type is
not DHSG; there is no power LED setting.

Deployable as is (same template unless marked): the web admin password P2; voicemail
P33 and, for account 1 (desk phones have one), P99 "SUBSCRIBE for MWI"; the re-provisioning
timer P194 "Automatic Upgrade" 1 with P193 "check every … minutes" (older templates' values;
newer firmware's web UI numbers "check at a period" 3, so there P194 1 is "every day" —
unconfirmed which applies to 1.0.11), 0 off; firmware P6767 "Firmware Upgrade Via" (1 HTTP,
2 HTTPS) and P192 "Firmware Server Path" (a directory, without the scheme); the time zone
by its POSIX rule (P64 customize, P246), so daylight saving follows the IANA zone.

GRP261x (Grandstream's "grp261x_config_1.0.5.15" template, same repository folder): the
same VPK P-values, but its fixed VPKs take the dynamic mode numbers (SpeedDial 0, BLF 1, …)
with Default (31) for a line — no +10. Its fixed VPKs 1-6 carry account choices 1-6, so
the GRP2616 has 6; the GRP2614's 4 (one per SIP account) is unconfirmed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from provisioning.vendors.common import (
    KeyRow,
    UnsupportedFunction,
    effective_codecs,
    key_rows,
    panel_rows,
    time_zone,
)
from provisioning.vendors.context import PhoneContext, SipAccount
from provisioning.vendors.spec import VendorSpec

# Dynamic VPK / MPK modes ("Key Mode for Dynamic VPK"); fixed VPKs use these plus 10.
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
_FIXED_OFFSET = 10
#: line keys (fixed VPKs) per model; GRP2614 unconfirmed (see the module docstring)
_FIXED_VPKS = {"GXP2130": 3, "GXP2140": 4, "GXP2160": 6, "GXP2170": 12, "GRP2614": 4, "GRP2616": 6}

# P1362 codes of the languages sipfleet offers that the firmware lists; others: English.
_LANGUAGES = {
    "ENGLISH": "en",
    "CHINESE": "zh",
    "DUTCH": "nl",
    "FRENCH": "fr",
    "GERMAN": "de",
    "ITALIAN": "it",
    "JAPANESE": "ja",
    "POLISH": "pl",
    "RUSSIAN": "ru",
    "SPANISH": "es",
    "SWEDISH": "se",
}
_DATE_FORMATS = {"YYYY-MM-DD": "0", "MM/DD/YYYY": "1", "DD/MM/YYYY": "2", "DD.MM.YYYY": "2"}
_CODECS = {"pcmu": "0", "pcma": "8", "g722": "9", "g729": "18", "opus": "123"}
_TRANSPORTS = {"udp": "0", "tcp": "1", "tls": "2"}
_TRANSFER = {"BLIND": "0", "ATTENDED": "1", "NEW_CALL": "2"}
_ACCOUNT_BASES = {2: 400, 3: 500, 4: 600, 5: 1700, 6: 1800}
_RINGTONES = 4  # system ring tone and custom ring tones 1-3 (catalogue features.ringtones)


@dataclass(frozen=True, slots=True)
class AccountP:
    """The P-value names of one SIP account (see the module docstring)."""

    active: str
    name: str
    server: str
    outbound: str
    user_id: str
    auth_id: str
    password: str
    display: str
    voicemail: str
    expires: str
    transport: str
    vocoders: tuple[str, ...]


_ACCOUNT_1 = AccountP(
    active="P271",
    name="P270",
    server="P47",
    outbound="P48",
    user_id="P35",
    auth_id="P36",
    password="P34",
    display="P3",
    voicemail="P33",
    expires="P32",
    transport="P130",
    vocoders=("P57", "P58", "P59", "P60", "P61", "P62", "P46", "P98"),
)


def account_p(index: int) -> AccountP:
    """P-value names of account `index` (1-based)."""
    if index == 1:
        return _ACCOUNT_1
    base = _ACCOUNT_BASES.get(index)
    if base is None:
        raise ValueError(f"Grandstream phones have SIP accounts 1-6, not {index}")
    return AccountP(
        active=f"P{base + 1}",
        name=f"P{base + 17}",
        server=f"P{base + 2}",
        outbound=f"P{base + 3}",
        user_id=f"P{base + 4}",
        auth_id=f"P{base + 5}",
        password=f"P{base + 6}",
        display=f"P{base + 7}",
        voicemail=f"P{base + 26}",
        expires=f"P{base + 12}",
        transport=f"P{base + 48}",
        vocoders=tuple(f"P{base + 51 + i}" for i in range(8)),
    )


def vpk_p(n: int) -> tuple[str, str, str, str]:
    """Mode, account, description and value P-values of VPK `n` (1-based)."""
    if n <= 6:
        i = 2 * (n - 1)
        return f"P{1363 + i}", f"P{1364 + i}", f"P{1465 + i}", f"P{1466 + i}"
    base = 23800 + 4 * (n - 7)
    return f"P{base}", f"P{base + 1}", f"P{base + 2}", f"P{base + 3}"


def ext_p(k: int) -> tuple[str, str, str, str]:
    """Mode, account, description and value P-values of extension-module key `k`."""
    base = 23000 + 5 * (k - 1)
    return f"P{base}", f"P{base + 1}", f"P{base + 2}", f"P{base + 3}"


def _vpk_mode(row: KeyRow, fixed: bool, grp: bool) -> str:
    """GXP fixed VPKs: 0 line, dynamic mode + 10; GRP fixed VPKs: 31 line, dynamic mode."""
    if row.function == "LINE":
        if not fixed:
            raise UnsupportedFunction(f"soft key {row.position - 1}: LINE only on a line key")
        return "31" if grp else "0"
    return str(int(row.code) + _FIXED_OFFSET) if fixed and not grp else row.code


def _accounts(ctx: PhoneContext) -> list[tuple[SipAccount, AccountP, list[tuple[str, str]]]]:
    codecs = [_CODECS[c] for c in effective_codecs(ctx) if c in _CODECS]
    out = []
    for account in ctx.accounts:
        names = account_p(account.index)
        out.append((account, names, list(zip(names.vocoders, codecs, strict=False))))
    return out


def _server(url: str) -> tuple[str, str]:
    """(P212, P237): HTTPS or HTTP, and the path without its scheme."""
    scheme, found, rest = url.partition("://")
    if not found:
        return "1", url
    return ("2" if scheme.lower() == "https" else "1"), rest


def _ring_tone(tone: str | None) -> str | None:
    """P104: ringtone 1 → 0 (system ring tone), 2-4 → custom ring tones 1-3."""
    if tone is None or not tone.isdigit() or not 1 <= int(tone) <= _RINGTONES:
        return None
    return str(int(tone) - 1)


def _screensaver(seconds: int | None) -> tuple[str, str] | None:
    """(P2918, P2919): on/off and the timeout in minutes, 3-60."""
    if seconds is None:
        return None
    if seconds == 0:
        return "0", "3"
    return "1", str(min(max(round(seconds / 60), 3), 60))


def _firmware(ctx: PhoneContext) -> tuple[str, str] | None:
    """(P6767, P192): upgrade via (1 HTTP, 2 HTTPS) and the firmware server path, the
    catalogue URL without its scheme (the phone appends its own firmware file name)."""
    if ctx.firmware is None:
        return None
    via, path = _server(ctx.firmware.url)
    return via, path.rstrip("/")


def prepare(ctx: PhoneContext) -> Mapping[str, object]:
    fixed = _FIXED_VPKS.get(ctx.model.upper(), len(ctx.accounts))
    grp = ctx.model.upper().startswith("GRP")
    vpk = [
        (*vpk_p(row.position), _vpk_mode(row, row.position <= fixed, grp), row)
        for row in key_rows(ctx.softkeys, {**KEY_CODES, "LINE": "0"})
    ]
    ext = [(*ext_p(row.position), row.code, row) for row in panel_rows(ctx, KEY_CODES)]
    config_via, config_path = _server(ctx.provisioning_url)
    headset = ctx.device.headset_button in ("speaker-headset", "headset-speaker")
    return {
        "accounts": _accounts(ctx),
        "vpk": vpk,
        "ext": ext,
        "language": _LANGUAGES.get(ctx.device.language, "en"),
        "date_format": _DATE_FORMATS.get(ctx.device.date_format, "0"),
        "timezone": time_zone(ctx.device.timezone),
        "transports": _TRANSPORTS,
        "transfer_mode": _TRANSFER[ctx.device.transfer_method],
        "headset_toggle": "1" if headset else "0",
        "ring_tone": _ring_tone(ctx.ringer.tone),
        "screensaver": _screensaver(ctx.display.screensaver_timeout),
        "config_via": config_via,
        "config_path": config_path,
        "firmware": _firmware(ctx),
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
