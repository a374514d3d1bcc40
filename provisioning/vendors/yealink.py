"""Yealink desk phones (T3x/T4xU/T5xW) and W-series DECT bases.

Key names and codes: Yealink SIP-T5X / T4XU Administrator Guide, "Appendix: DSS key
types" (linekey.X.type: 3 Transfer, 4 Hold, 5 DND, 12 Voice Mail, 13 Speed Dial, 15 Line,
16 BLF, 23 Group Pickup, 25 Record, 27 XML Browser, 29 Directory, 30 Menu) and the
parameter reference (transfer.dsskey_deal_type, local_time.*, static.network.*).

Optional settings (catalogue `features.settings`): ringtone `phone_setting.ring_type =
RingN.wav` (Ring1-8), queue / external ringtones as Alert-Info texts mapped to ringers
(`distinctive_ring_tones.alert_info.N.text` / `.ringer`, as the public generator
wazo-platform/wazo-provd-plugins writes them, plugins/wazo_yealink/v87/templates/base.tpl),
power LED `phone_setting.common_power_led_enable` (same template), screensaver
`screensaver.wait_time` (seconds; Yealink has no "off", so 0 writes its longest wait,
43200), soft keys configured on the device `static.auto_provision.custom.protect` (the
user's own changes survive provisioning). W-series bases: `static.security.user_password`
for the user login (001 `user_password`).

Deployable as is: the web admin password `static.security.user_password = admin:…`; MWI
`account.N.subscribe_mwi` (to the phone's own account, which sipfleet serves) with
`voice_mail.number.N` (both in wazo-provd-plugins v87 base.tpl); the re-provisioning timer
`static.auto_provision.repeat.enable` / `.repeat.minutes` (key names in the same template;
minutes per the administrator guide); the firmware `static.firmware.url` (same template).
Time zone: `local_time.time_zone` is an offset only, and Yealink's zone names
(`local_time.time_zone_name`) are a list of its own, so daylight saving is written as rules
from the IANA zone: `local_time.summer_time = 1`, `dst_time_type = 1` (by week),
`start_time` / `end_time` as Month/Week/Day/Hour (week 5 = last, day 1 = Monday … 7 =
Sunday: CP920/T5x administrator guide) and `offset_time` in minutes.

A custom ringtone (`/api/ringtones`):
`ringtone.url` (the phone downloads it; "mono, 8K sample rate", T5x administrator guide)
and `phone_setting.ring_type` set to the downloaded file's name, as public generators
write it (newer firmware may also list it as "Custom:<name>": unconfirmed).
"""

from __future__ import annotations

from collections.abc import Mapping

from provisioning.vendors.common import effective_codecs, key_rows, panel_rows, time_zone
from provisioning.vendors.context import EXTERNAL_ALERT_INFO, QUEUE_ALERT_INFO, PhoneContext
from provisioning.vendors.spec import VendorSpec
from provisioning.vendors.tzrules import DstChange

KEY_CODES: Mapping[str, str] = {
    "SPEEDDIAL": "13",
    "BLF": "16",
    "LINE": "15",
    "DND": "5",
    "ADDRESSBOOK": "29",
    "VOICEMAIL": "12",
    "TRANSFER": "3",
    "URL": "27",
    "HOLD": "4",
    "RECORD": "25",
    "MENU": "30",
    "PICKUP": "23",
    # A pickup group or queue is a number on the PBX: a speed dial to it.
    "PICKUPGROUP": "13",
    "QUEUE": "13",
    # A switch is watched like an extension (dialog state of the switch's name).
    "SWITCH": "16",
}

# lang.gui values (Administrator Guide, "Language").
_LANGUAGES = {
    "ENGLISH": "English",
    "CHINESE": "Chinese_S",
    "DUTCH": "Dutch",
    "FRENCH": "French",
    "GERMAN": "German",
    "GREEK": "Greek",
    "ITALIAN": "Italian",
    "JAPANESE": "Japanese",
    "POLISH": "Polish",
    "RUSSIAN": "Russian",
    "SPANISH": "Spanish",
    "SWEDISH": "Swedish",
    "UKRAINIAN": "Ukrainian",
    "BULGARIAN": "Bulgarian",
}
# local_time.date_format: 2 YYYY-MM-DD, 3 DD/MM/YYYY, 4 MM/DD/YY.
_DATE_FORMATS = {"YYYY-MM-DD": "2", "DD/MM/YYYY": "3", "MM/DD/YYYY": "4", "DD.MM.YYYY": "3"}
# transfer.dsskey_deal_type: 0 new call, 1 attended transfer, 2 blind transfer.
_TRANSFER = {"NEW_CALL": "0", "ATTENDED": "1", "BLIND": "2"}
# account.X.sip_server.Y.transport_type: 0 UDP, 1 TCP, 2 TLS.
TRANSPORTS = {"udp": "0", "tcp": "1", "tls": "2"}
# account.X.codec.<name>.* names.
_CODECS = {"opus": "opus", "g722": "g722", "pcma": "pcma", "pcmu": "pcmu", "g729": "g729"}


def _dst_change(change: DstChange) -> str:
    """`Month/Week of Month/Day of Week/Hour` (DST by week): week 5 is the last, days run
    1 = Monday … 7 = Sunday."""
    return f"{change.month}/{change.week}/{change.weekday or 7}/{change.hour}"


def _dst(ctx: PhoneContext) -> tuple[str, str, int] | None:
    rule = time_zone(ctx.device.timezone).rule
    if rule is None:
        return None
    return _dst_change(rule.start), _dst_change(rule.end), rule.save_minutes


def prepare(ctx: PhoneContext) -> Mapping[str, object]:
    codecs = [_CODECS[c] for c in effective_codecs(ctx) if c in _CODECS]
    return {
        "keys": key_rows(ctx.softkeys, KEY_CODES),
        "panel_keys": panel_rows(ctx, KEY_CODES),
        "transports": TRANSPORTS,
        "language": _LANGUAGES.get(ctx.device.language, "English"),
        "date_format": _DATE_FORMATS.get(ctx.device.date_format, "2"),
        "time_format": "1" if ctx.device.time_format == 24 else "0",
        "transfer": _TRANSFER[ctx.device.transfer_method],
        "timezone": time_zone(ctx.device.timezone),
        "dst": _dst(ctx),
        "codecs": codecs,
        "all_codecs": list(_CODECS.values()),
        "handset_language": _LANGUAGES.get(
            ctx.dect.handset_language or "" if ctx.dect else "", "English"
        ),
        "headset_prior": "1" if (ctx.device.headset_button or "").startswith("headset") else "0",
        "queue_alert": QUEUE_ALERT_INFO,
        "external_alert": EXTERNAL_ALERT_INFO,
    }


SPEC = VendorSpec(
    name="yealink",
    key_codes=KEY_CODES,
    xml=False,
    content_type="text/plain; charset=utf-8",
    device_template="yealink.cfg",
    common_template="yealink-common.cfg",
    templates=("yealink-base.cfg", "yealink.cfg", "yealink-common.cfg", "yealink-dect.cfg"),
    prepare=prepare,
)
