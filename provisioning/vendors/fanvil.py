"""Fanvil X-series desk phones and the EXP20 expansion module.

Format and names: the XML `<sysConf>` file of Fanvil's auto provisioning, as the public
generator wazo-platform/wazo-provd-plugins writes it for current X-series firmware
(plugins/wazo-fanvil/common/templates/base-new.tpl, common/common.py): provisioning
`<ap>` FlashServerIP / FlashFileName / FlashMode / FlashInterval, `<pnp><PNPEnable>`; SIP
lines `<sip><line index="N">` PhoneNumber, DisplayName, RegisterAddr, RegisterPort,
RegisterUser, RegisterPswd, RegisterTTL, EnableReg, Transport (0 UDP, 1 TCP, 3 TLS),
MWINum, ProxyAddr/ProxyPort/ProxyUser/ProxyPswd; `<phone><MenuPassword>`,
`<phone><display><DefaultLanguage>` (codes en, cn, de, fr, it, nl, pl, ru, es, ua, …),
`<phone><date><SNTPServer>/<EnableSNTP>/<TimeZone>/<EnableDST>`, `<web><account index="1">`
admin Name/Password/Level 10, `<qos>` EnableVLAN / VLANID / SignallingPriority /
VoicePriority; DSS keys `<dsskey><internal index="1"><Fkey index="N"><Type>…</Type>
<Value>…</Value><Title>…</Title></Fkey>`: type 1 memory key whose value is
`{number}@{line}/f` (speed dial) or `{number}@{line}/ba` (BLF), type 2 line key `SIP{line}`.

Deployable as is: the web admin password (`<web><account>` admin and `MenuPassword`,
wazo-fanvil base-new.tpl); the voicemail number `MWINum` (same) and the line's MWI
subscription `Subscribe` (a lead: two public generators write it beside `SubExpire`);
the firmware `<AUTOUPDATE_CONFIG_MODULE>` `Download_Mode` 1 / `Auto_Image_URL` (base-new);
the time zone: `TimeZone` in quarter hours with X-series `TimeZoneName` (UTC+1, UCT,
UTC-05: wazo-fanvil serie_x entry.py), and daylight saving from the IANA zone as
`EnableDST` 2, `DSTFixedType` 2, `DSTMinOffset`, `DST{Start,End}{Mon,Hour,Wday,Week}`
(weekday 0 = Sunday, week -1 = last; base-new.tpl and common.py). The re-provisioning
timer is `<ap>` `FlashMode` 2 with `FlashInterval` (the generators write FlashMode 1 or 2
with FlashInterval 1; 2 as "repeat" and the interval in hours are unconfirmed), 1 (at
boot only) when off.

Unconfirmed (no public template or Fanvil guide found here names them; leads from the web
UI): key types 3 key event (DND, REDIAL, XFER, HOLD) and 7 URL, the `<exp module>` keys
of the EXP20, `<dsskey><BlfTransferMode>` (0 blind, 1 attended, 2 new call), the `<net>`
static address / PC-port VLAN / LLDP names, VoiceCodecMap, VideoEnabled,
EnableCallWaiting, the time/date format names, and the `<phone>` headset, ringer, volume
and display names.
"""

from __future__ import annotations

from collections.abc import Mapping

from provisioning.vendors.common import KeyRow, effective_codecs, key_rows, panel_rows, time_zone
from provisioning.vendors.context import PhoneContext
from provisioning.vendors.spec import VendorSpec

KEY_CODES: Mapping[str, str] = {
    "SPEEDDIAL": "1/f",
    "BLF": "1/ba",
    "LINE": "2",
    "DND": "3:DND",
    "REDIAL": "3:REDIAL",
    "TRANSFER": "3:XFER",
    "HOLD": "3:HOLD",
    "URL": "7",
    "PICKUPGROUP": "1/f",
    "QUEUE": "1/f",
    "SWITCH": "1/ba",
}
_LANGUAGES = {
    "ENGLISH": "en",
    "CHINESE": "cn",
    "DUTCH": "nl",
    "FRENCH": "fr",
    "GERMAN": "de",
    "ITALIAN": "it",
    "POLISH": "pl",
    "RUSSIAN": "ru",
    "SPANISH": "es",
    "UKRAINIAN": "ua",
}
_CODECS = {"opus": "OPUS", "g722": "G722", "pcma": "PCMA", "pcmu": "PCMU", "g729": "G729"}
_TRANSPORTS = {"udp": "0", "tcp": "1", "tls": "3"}


def _dss(row: KeyRow) -> tuple[str, str]:
    """(Type, Value) of one DSS key."""
    if row.code.startswith("1/"):
        return "1", f"{row.value}@{row.account}/{row.code[2:]}"
    if row.code == "2":
        return "2", f"SIP{row.account}"
    if row.code.startswith("3:"):
        return "3", row.code[2:]
    return row.code, row.value


def _zone_name(minutes: int) -> str | None:
    """X-series TimeZoneName of a whole-hour offset (wazo-fanvil serie_x _TZ_INFO)."""
    hours, rest = divmod(minutes, 60)
    if rest:
        return None
    if hours == 0:
        return "UCT"
    return f"UTC+{hours}" if hours > 0 else f"UTC-{-hours:02d}"


def _dst(ctx: PhoneContext) -> list[tuple[str, int]]:
    """DST{Start,End}{Mon,Hour,Wday,Week}: weekday 0 = Sunday, week -1 = the last."""
    rule = time_zone(ctx.device.timezone).rule
    if rule is None:
        return []
    found = [("DSTMinOffset", min(rule.save_minutes, 60))]
    for name, change in (("Start", rule.start), ("End", rule.end)):
        found += [
            (f"DST{name}Mon", change.month),
            (f"DST{name}Hour", change.hour),
            (f"DST{name}Wday", change.weekday),
            (f"DST{name}Week", -1 if change.week == 5 else change.week),
        ]
    return found


def prepare(ctx: PhoneContext) -> Mapping[str, object]:
    tz = time_zone(ctx.device.timezone)
    return {
        "keys": [(r, *_dss(r)) for r in key_rows(ctx.softkeys, KEY_CODES)],
        "panel_keys": [(r, *_dss(r)) for r in panel_rows(ctx, KEY_CODES)],
        "codecs": [_CODECS[c] for c in effective_codecs(ctx) if c in _CODECS],
        "language": _LANGUAGES.get(ctx.device.language, "en"),
        "tz_quarters": tz.offset_minutes // 15,
        "tz_name": _zone_name(tz.offset_minutes),
        "dst": tz.dst,
        "dst_rules": _dst(ctx),
        # hours between checks (unit unconfirmed, see the module docstring)
        "flash_interval": max(1, round(ctx.provisioning_interval / 60)),
        "transports": _TRANSPORTS,
        "blf_transfer": {"BLIND": "0", "ATTENDED": "1", "NEW_CALL": "2"}[
            ctx.device.transfer_method
        ],
    }


SPEC = VendorSpec(
    name="fanvil",
    key_codes=KEY_CODES,
    xml=True,
    content_type="application/xml; charset=utf-8",
    device_template="fanvil.cfg",
    templates=("fanvil-base.cfg", "fanvil.cfg"),
    prepare=prepare,
)
