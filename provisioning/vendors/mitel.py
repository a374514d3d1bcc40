"""Mitel/Aastra 6800i SIP phones and their M680i/M685i expansion modules.

Parameter names: Mitel 6800i/6900i SIP Phones Administrator Guide (`sip lineN …`, key
settings `{key} type|value|label|line` for `topsoftkeyN` (6867i/6869i/6873i), `prgkeyN`
(6865i) and `expmodM keyN`, key types blf, blfxfer, speeddial, line, dnd, directory,
redial, voicemail (`services`), xfer, xml, pickup; `audio mode` 0 speaker, 1 headset,
2 speaker/headset, 3 headset/speaker). The 6800 context soft keys (`softkeyN`) cannot
do BLF (vendors.md), so BLF keys are only ever written to programmable / top soft keys.
Cross-checked with the public generator wazo-platform/wazo-provd-plugins
(plugins/wazo-aastra templates): `sip lineN proxy ip|proxy port|registrar ip|registrar
port|user name|auth name|password|display name|screen name|vmail`, `sip transport
protocol`, `tagging enabled`, `vlan id`, `vlan id port 1`, `time server disabled`,
`time server1`, `admin password`.

BLF transfer: `blfxfer` transfers the connected call *blind* to the watched extension
(6800i admin guide, "BLF/Xfer"); Mitel has no attended variant, so BLIND writes blfxfer and
ATTENDED / NEW_CALL a plain `blf` key.

Optional settings (catalogue `features.settings`): ringtone `ring tone` 0-4 = Tone 1-5
(5 is silent; sipfleet's ringtone N writes N-1, so five); queue and external ringtones
`alert group` / `alert external` (Aastra "Priority Alerting": 0 normal ringing, 1-4
Bellcore dr2-dr5, 5 silent; the phone applies them when the Alert-Info carries the
keyword, alert-group / alert-external; ringtone N writes N-1). Provisioning server (so
HTTPS is in force): `download protocol` HTTP|HTTPS with `http server` / `http path` /
`http port` (written by wazo-aastra's base.tpl) and their `https` counterparts.

Deployable as is: the web admin password `admin password` — numeric only (0-4294967295;
"if you enter a password with alpha characters, the phone uses the default password
instead", 6700i/6800i admin guide), which the generated password and the API respect; MWI
`sip explicit mwi subscription` (wazo-aastra base.tpl) with `sip lineN vmail`; the
re-provisioning timer `auto resync mode` 1 (configuration files), `auto resync time`,
`auto resync max delay` (minutes of random spread) and `auto resync days` (days between
checks, 0 = daily; release notes 2.4): Mitel checks at a time of day, so an interval under
a day is written as daily; daylight saving from the IANA zone (`time zone name: Custom`,
`dst config: 3`, relative dates, `dst start|end month|week|day|hour`, week -1 = last, day
1 = Sunday: admin guide "Custom time zone"). Firmware: the 6800i fetch their firmware from
the configuration server itself (auto resync mode 2/3), with no URL of its own to write,
so the catalogue takes no firmware URL for Mitel.

Unconfirmed: `language` is an index into the language packs the phone has loaded
(`language N: lang_xx.txt` in the wazo-aastra templates); sipfleet loads none, so a
non-English index only works where the packs were loaded by customConfig.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from provisioning.vendors.common import effective_codecs, key_rows, panel_rows, time_zone
from provisioning.vendors.context import PhoneContext
from provisioning.vendors.spec import VendorSpec

KEY_CODES: Mapping[str, str] = {
    "SPEEDDIAL": "speeddial",
    "BLF": "blf",
    "LINE": "line",
    "DND": "dnd",
    "ADDRESSBOOK": "directory",
    "REDIAL": "redial",
    "VOICEMAIL": "speeddial",
    "TRANSFER": "xfer",
    "URL": "xml",
    "PICKUP": "pickup",
    "PICKUPGROUP": "speeddial",
    "QUEUE": "speeddial",
    "SWITCH": "blf",
    "MENU": "services",
}
# Models whose keys are `prgkeyN`; others use `topsoftkeyN`.
_PRGKEY_MODELS = frozenset({"6863i", "6865i"})
# `language` index into the loaded language packs (unconfirmed, see the docstring).
_LANGUAGES = {"ENGLISH": "0", "FRENCH": "1", "GERMAN": "2", "ITALIAN": "3", "SPANISH": "4"}
# sip customized codec payload numbers (RTP/AVP static types, RFC 3551 §6; Opus dynamic 115).
_CODECS = {"g722": "9", "pcmu": "0", "pcma": "8", "g729": "18", "opus": "115"}
# sip transport protocol: 1 UDP, 2 TCP, 4 TLS.
_TRANSPORTS = {"udp": "1", "tcp": "2", "tls": "4"}
_AUDIO_MODE = {"speaker": "0", "headset": "1", "speaker-headset": "2", "headset-speaker": "3"}
# date format: 0 WWW MMM DD, 1 DD-MMM-YY, 2 YYYY-MM-DD, 3 DD/MM/YYYY, 4 DD/MM/YY,
# 5 DD-MM-YY, 6 MM/DD/YY
_DATE_FORMATS = {
    "YYYY-MM-DD": "2",
    "DD/MM/YYYY": "3",
    "DD.MM.YYYY": "3",
    "DD-MM-YYYY": "5",
    "MM/DD/YYYY": "6",
}


def _zero_based(tone: int | str | None) -> int | None:
    """sipfleet's 1-based tone as Mitel's 0-based index (Tone 1 = 0)."""
    if isinstance(tone, int):
        return tone - 1
    return int(tone) - 1 if tone and tone.isdigit() else None


def _download(url: str) -> tuple[str, str, str, int]:
    """(download protocol, server, path, port) of the provisioning URL."""
    parts = urlsplit(url)
    secure = parts.scheme == "https"
    port = parts.port or (443 if secure else 80)
    return ("HTTPS" if secure else "HTTP"), parts.hostname or "", parts.path.strip("/"), port


def _dst(ctx: PhoneContext) -> list[tuple[str, int]]:
    """`dst [start|end] month|week|day|hour`, relative dates: week -1 for the last, day
    1 = Sunday … 7 = Saturday."""
    rule = time_zone(ctx.device.timezone).rule
    if rule is None:
        return []
    found: list[tuple[str, int]] = [("dst minutes", min(rule.save_minutes, 60))]
    found.append(("dst [start|end] relative date", 1))
    for name, change in (("start", rule.start), ("end", rule.end)):
        found += [
            (f"dst {name} month", change.month),
            (f"dst {name} week", -1 if change.week == 5 else change.week),
            (f"dst {name} day", change.weekday + 1),
            (f"dst {name} hour", change.hour),
        ]
    return found


def _resync_days(minutes: int) -> int:
    """`auto resync days`: days between checks, 0 = every day (shorter intervals too)."""
    return 0 if minutes <= 1440 else minutes // 1440


def prepare(ctx: PhoneContext) -> Mapping[str, object]:
    prefix = "prgkey" if ctx.model in _PRGKEY_MODELS else "topsoftkey"
    # A `blfxfer` key transfers the connected call blind to the watched extension (6800i
    # admin guide, "BLF/Xfer"); there is no attended variant, so only BLIND uses it.
    blf = "blfxfer" if ctx.device.transfer_method == "BLIND" else "blf"
    codes = {**KEY_CODES, "BLF": blf, "SWITCH": "blf"}
    codecs = [_CODECS[c] for c in effective_codecs(ctx) if c in _CODECS]
    tz = time_zone(ctx.device.timezone)
    return {
        "key_prefix": prefix,
        "keys": key_rows(ctx.softkeys, codes),
        "panel_keys": panel_rows(ctx, codes),
        "codecs": ",".join(f"payload={p};ptime=20;silsupp=off" for p in codecs),
        "transport": _TRANSPORTS[ctx.accounts[0].transport],
        "language": _LANGUAGES.get(ctx.device.language, "0"),
        "date_format": _DATE_FORMATS.get(ctx.device.date_format, "2"),
        "tz_minutes": -tz.offset_minutes,
        "dst": tz.dst,
        "dst_rules": _dst(ctx),
        "resync_days": _resync_days(ctx.provisioning_interval),
        "audio_mode": _AUDIO_MODE.get(ctx.device.headset_button or "speaker", "0"),
        "ring_tone": _zero_based(ctx.ringer.tone),
        "alert_group": _zero_based(ctx.ringer.queue_tone),
        "alert_external": _zero_based(ctx.ringer.external_tone),
        "download": _download(ctx.provisioning_url),
    }


SPEC = VendorSpec(
    name="mitel",
    key_codes=KEY_CODES,
    xml=False,
    content_type="text/plain; charset=utf-8",
    device_template="mitel.cfg",
    common_template="mitel-common.cfg",
    templates=("mitel-base.cfg", "mitel.cfg", "mitel-common.cfg"),
    prepare=prepare,
)
