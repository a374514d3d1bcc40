"""Poly/Polycom VVX phones (UC Software 5.x/6.x).

Files: the master file `{mac}.cfg` (or `000000000000.cfg`) names the config files
(`CONFIG_FILES`), here `{mac}-user.cfg` (Polycom UC Software Administrator Guide, "Master
configuration file"). Parameter names: the same guide's parameter reference (reg.N.*,
lineKey.N.category/index, attendant.resourceList.N.*, efk.efklist.N.*, voice.codecPref.*,
device.net.*, tcpIpApp.sntp.*, lcl.*, call.callWaiting.enable, call.DefaultTransferType).

Optional settings (catalogue `features.settings`): ringtone `reg.N.ringType` ringer2..
(ringer1 is the silent ring; the default is "the first non-silent ringer", ringer2, so
sipfleet's ringtone N is ringerN+1); queue and external ringtones map an Alert-Info text
to a custom ring class (`voIpProt.SIP.alertInfo.N.value` / `.class`, ring class
`se.rt.customN.ringer` / `.type`, UC Software "Distinctive ringing"); screensaver
`up.screenSaver.enabled` / `up.screenSaver.waitTime` (minutes); DHSG headset
`up.analogHeadsetOption`; HTTPS: `device.prov.serverType` follows the provisioning URL's
scheme. Deployable as is: the web admin password `device.auth.localAdminPassword`; MWI
`msg.mwi.N.subscribe` (the phone's own user, which sipfleet serves) with `callBackMode`
contact and `callBack` the voicemail number (wazo-provd-plugins wazo_polycom base.tpl);
the re-provisioning timer `prov.polling.enabled` / `.mode` rel / `.period` in seconds
(names in the same plugin's sip.cfg; "rel": every period from boot); the firmware as the
master file's `APP_FILE_PATH` (the admin guide: the application's path name or URL);
daylight saving from the IANA zone as `tcpIpApp.sntp.daylightSavings.*` (fixedDayEnable 0,
start/stop month, time, dayOfWeek 1 = Sunday, lastInMonth or date: wazo_polycom common.py).
A custom ringtone (`/api/ringtones`) is the URL of sampled audio file `saf.2`,
played by `reg.N.ringType="ringer15"` ("saf.x: … an RFC 1738-compliant URL to a HTTP …
wave file resource"; mono G.711 8 kHz or L16/16000). Which ringer plays saf.2 on UC
Software 6 is inferred from the SIP 3.x and UC 4 tables, not confirmed on a phone.
"""

from __future__ import annotations

from collections.abc import Mapping

from provisioning.vendors.common import KeyRow, effective_codecs, key_rows, panel_rows, time_zone
from provisioning.vendors.context import EXTERNAL_ALERT_INFO, QUEUE_ALERT_INFO, PhoneContext
from provisioning.vendors.spec import VendorSpec

# lineKey.N.category values; speed dials are Enhanced Feature Keys ("EFK") that dial.
KEY_CODES: Mapping[str, str] = {
    "SPEEDDIAL": "EFK",
    "BLF": "BLF",
    "LINE": "Line",
    "PICKUPGROUP": "EFK",
    "QUEUE": "EFK",
    "SWITCH": "BLF",
}

_LANGUAGES = {
    "ENGLISH": "English_United_States",
    "CHINESE": "Chinese_China",
    "DUTCH": "Dutch_Netherlands",
    "FRENCH": "French_France",
    "GERMAN": "German_Germany",
    "ITALIAN": "Italian_Italy",
    "JAPANESE": "Japanese_Japan",
    "POLISH": "Polish_Poland",
    "RUSSIAN": "Russian_Russia",
    "SPANISH": "Spanish_Spain",
    "SWEDISH": "Swedish_Sweden",
}
# voice.codecPref.<name> = rank (1 = first choice, 0 = disabled)
_CODECS = {"opus": "OPUS", "g722": "G722", "pcmu": "G711_Mu", "pcma": "G711_A", "g729": "G729_AB"}
_TRANSPORTS = {"udp": "UDPOnly", "tcp": "TCPOnly", "tls": "TLS"}
_DATE_FORMATS = {
    "YYYY-MM-DD": "Y,M,D",
    "DD/MM/YYYY": "D,M,Y",
    "MM/DD/YYYY": "M,D,Y",
    "DD.MM.YYYY": "D,M,Y",
}


# A custom ringtone is sampled audio file 2, which ringer15 plays (admin guides: "sampled
# audio file 2: Ringer 13 (se.pat.ringer.13)" in SIP 2.x/3.x numbering, two below UC
# Software's ringerN — Ringer 22 is UC's ringer24).
_CUSTOM_SAF = 2
_CUSTOM_RINGER = "ringer15"


def _split(rows: tuple[KeyRow, ...]) -> tuple[list[KeyRow], list[KeyRow]]:
    return [r for r in rows if r.code == "BLF"], [r for r in rows if r.code == "EFK"]


def _ringer(tone: int | str | None, default: int = 1) -> str:
    """ringerN+1 for sipfleet's ringtone N (ringer1 is silent)."""
    number = default
    if isinstance(tone, int):
        number = tone
    elif tone and tone.isdigit():
        number = int(tone)
    return f"ringer{number + 1}"


def _alert_classes(ctx: PhoneContext) -> list[tuple[int, str, str, str]]:
    """(index, Alert-Info text, ring class, ringer) for the queue and external ringtones."""
    found: list[tuple[int, str, str, str]] = []
    for text, tone in (
        (QUEUE_ALERT_INFO, ctx.ringer.queue_tone),
        (EXTERNAL_ALERT_INFO, ctx.ringer.external_tone),
    ):
        if tone:
            index = len(found) + 1
            found.append((index, text, f"custom{index}", _ringer(tone)))
    return found


def _screensaver_minutes(seconds: int | None) -> int | None:
    return None if seconds is None else max((seconds + 59) // 60, 1)


def _dst(ctx: PhoneContext) -> list[tuple[str, str]]:
    """tcpIpApp.sntp.daylightSavings.{start,stop}.* by week: month, hour, dayOfWeek (1 =
    Sunday … 7), lastInMonth for the last week, else date = the first day the week can
    start on."""
    rule = time_zone(ctx.device.timezone).rule
    if rule is None:
        return []
    found = [("fixedDayEnable", "0")]
    for name, change in (("start", rule.start), ("stop", rule.end)):
        found += [
            (f"{name}.month", str(change.month)),
            (f"{name}.time", str(change.hour)),
            (f"{name}.dayOfWeek", str(change.weekday + 1)),
            (f"{name}.dayOfWeek.lastInMonth", "1" if change.week == 5 else "0"),
        ]
        if change.week != 5:
            found.append((f"{name}.date", str((change.week - 1) * 7 + 1)))
    return found


def prepare(ctx: PhoneContext) -> Mapping[str, object]:
    own = key_rows(ctx.softkeys, KEY_CODES)
    panel = panel_rows(ctx, KEY_CODES)
    blf, efk = _split(own + panel)
    first_panel = ctx.line_keys or max((r.position for r in own), default=0)
    # lineKey.N numbering continues onto the expansion modules (EM50 keys follow the phone's).
    line_keys = [(r.position, r) for r in own] + [(first_panel + r.position, r) for r in panel]
    index = {id(r): n for n, r in enumerate(blf, 1)} | {id(r): n for n, r in enumerate(efk, 1)}
    ranks = {_CODECS[c]: n for n, c in enumerate(effective_codecs(ctx), 1) if c in _CODECS}
    return {
        "line_keys": [(pos, r, index.get(id(r), r.account)) for pos, r in line_keys],
        "blf": blf,
        "efk": efk,
        "codec_ranks": [(name, ranks.get(name, 0)) for name in _CODECS.values()],
        "language": _LANGUAGES.get(ctx.device.language, "English_United_States"),
        "gmt_offset": time_zone(ctx.device.timezone).offset_minutes * 60,
        "dst": time_zone(ctx.device.timezone).dst,
        "dst_rules": _dst(ctx),
        "date_format": _DATE_FORMATS.get(ctx.device.date_format, "Y,M,D"),
        "transports": _TRANSPORTS,
        "transfer": "Blind" if ctx.device.transfer_method == "BLIND" else "Consultative",
        "ring_type": _CUSTOM_RINGER if ctx.ringer.custom else _ringer(ctx.ringer.tone),
        "custom_saf": _CUSTOM_SAF,
        "alert_classes": _alert_classes(ctx),
        "screensaver_minutes": _screensaver_minutes(ctx.display.screensaver_timeout),
        "server_type": "HTTPS" if ctx.provisioning_url.startswith("https://") else "HTTP",
    }


SPEC = VendorSpec(
    name="polycom",
    key_codes=KEY_CODES,
    xml=True,
    content_type="application/xml; charset=utf-8",
    device_template="polycom.cfg",
    master_template="polycom-master.cfg",
    common_template="polycom-common.cfg",
    templates=("polycom-base.cfg", "polycom.cfg", "polycom-master.cfg", "polycom-common.cfg"),
    prepare=prepare,
)
