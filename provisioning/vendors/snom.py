"""snom desk phones (D7xx/D8xx) and M-series DECT bases.

Key names: snom "XML provisioning" and "Configuration parameters" pages of the snom
service wiki (phone-settings: user_*, codec_priority_list, dhcp, ip_adr, vlan_*, …;
functionKeys: `<fkey idx context label perm>TYPE VALUE</fkey>` with types blf, speed,
line, url, keyevent F_DND / F_ADR_BOOK / F_REDIAL / F_RETRIEVE / F_TRANSFER / F_HOLD /
F_REC / F_SETTINGS). Confirmed against the public snom generator
wazo-platform/wazo-provd-plugins plugins/wazo-snom/common/templates/base.tpl and
common/common.py: setting_server, http_user, http_pass, admin_mode_password, ntp_server,
utc_offset (seconds), vlan_id, vlan_qos, user_active, user_idle_text, user_host,
user_outbound (`host:port;transport=udp|tcp|tls`), user_name, user_pname, user_pass,
user_realname, user_mailbox, codec_priority_list, language, web_language, tone_scheme,
call_waiting, and `<fkey idx="N-1" label context perm="R">blf …</fkey>` / `speed …`.
The rest (user_realm, user_expiry, user_ringer, video_enable, time_24_format,
date_us_format, headset_device, vol_*, backlight*, custom_bg_image_url, dhcp, ip_adr,
netmask, gateway, dns_server1/2, vlan_pc_id, vlan_pc_priority, lldp_enable, hs_language)
are the snom wiki's names, not cross-checked against a second source here.

Optional settings (catalogue `features.settings`): ringtone `user_ringer` Ringer1-10;
queue and external ringtones `alert_group_ring_text` / `alert_group_ring_sound` and
`alert_external_ring_text` / `alert_external_ring_sound` (Alert-Info text → Ringer1-10,
texts alert-group / alert-external as the snom defaults; names as public snom
provisioning scripts write them, e.g. "Alert-Info-Klingeltöne"); soft keys configured on
the device: `perm="RW"` on each `<fkey>` (the user may change it), `perm="R"` otherwise.
A custom ringtone (`/api/ringtones`): `user_ringer` Custom with `user_custom` the URL of
"PCM 8 kHz 16 bit/sample (linear) mono WAV" (snom wiki, `user_custom`: downloaded on the
first call); the value "Custom" is the web UI's "Custom Melody URL" choice, unconfirmed
as a provisioning value.

Deployable as is: the web admin password (`http_user` admin, `http_pass`,
`admin_mode_password`, wazo-snom base.tpl); the voicemail number `user_mailbox` (the phone
subscribes for message waiting on an identity with a mailbox; no separate switch is
written); the re-provisioning timer `settings_refresh_timer` in seconds (public snom
generators write it), 0 off; firmware: `firmware_status` is the URL of a snom firmware
settings file (`<firmware-settings><firmware>…`, as wazo-snom's snom<model>-firmware.xml),
so a catalogue firmware URL for snom names such a file, and `update_policy` becomes
`auto_update` to let the phone apply it. Time zone: `utc_offset` and `dst` ("offset
mm.ww.dd hh:mm:ss mm.ww.dd hh:mm:ss", week 05 = last, day 07 = Sunday: snom wiki, `dst`),
from the IANA zone; snom's own zone codes (`timezone`, e.g. GER+1) are not written.

BLF transfer: snom has no setting that chooses what a BLF key does during a call (the snom
wiki "Call Transfer" page lists the transfer settings — transfer_on_hangup,
release_xferred_call_on for safe transfer — none of them per key), so 000
`transferMethod` is not written for snom; the firmware's own behaviour applies.
"""

from __future__ import annotations

from collections.abc import Mapping

from provisioning.vendors.common import KeyRow, effective_codecs, key_rows, panel_rows, time_zone
from provisioning.vendors.context import EXTERNAL_ALERT_INFO, QUEUE_ALERT_INFO, PhoneContext
from provisioning.vendors.spec import VendorSpec
from provisioning.vendors.tzrules import DstChange

KEY_CODES: Mapping[str, str] = {
    "SPEEDDIAL": "speed",
    "BLF": "blf",
    "LINE": "line",
    "DND": "keyevent F_DND",
    "ADDRESSBOOK": "keyevent F_ADR_BOOK",
    "REDIAL": "keyevent F_REDIAL",
    "VOICEMAIL": "keyevent F_RETRIEVE",
    "TRANSFER": "keyevent F_TRANSFER",
    "URL": "url",
    "HOLD": "keyevent F_HOLD",
    "RECORD": "keyevent F_REC",
    "MENU": "keyevent F_SETTINGS",
    # Group pickup is the PBX's feature code: a speed dial to it.
    "PICKUP": "speed",
    "PICKUPGROUP": "speed",
    "QUEUE": "speed",
    "SWITCH": "blf",
}

_LANGUAGES = {
    "ENGLISH": "English",
    "GERMAN": "Deutsch",
    "FRENCH": "Francais",
    "ITALIAN": "Italiano",
    "SPANISH": "Espanol",
    "DUTCH": "Nederlands",
    "SWEDISH": "Svenska",
    "POLISH": "Polski",
    "RUSSIAN": "Russian",
    "GREEK": "Greek",
    "CHINESE": "Chinese",
    "JAPANESE": "Japanese",
    "UKRAINIAN": "Ukrainian",
    "BULGARIAN": "Bulgarian",
}
_CODECS = {"opus": "opus", "g722": "g722", "pcma": "pcma", "pcmu": "pcmu", "g729": "g729"}
# The transport is a URI parameter of user_outbound (`host:port;transport=tls`,
# wazo-snom base.tpl).
_TRANSPORT_SUFFIX = {"udp": ";transport=udp", "tcp": ";transport=tcp", "tls": ";transport=tls"}


def _fkey_text(row: KeyRow, ctx: PhoneContext) -> str:
    """The content of `<fkey>`: type then value (snom wiki, "Function keys")."""
    account = ctx.accounts[min(row.account, len(ctx.accounts)) - 1]
    if row.code == "blf":
        # `blf <uri>|<prefix>` would dial prefix+extension to pick up a ringing colleague:
        # that needs the PBX's *directed* pickup prefix, which is not the group pickup code
        # of PICKUP keys, so the key watches and calls only.
        return f"blf <sip:{row.value}@{account.realm}>"
    if row.function == "PICKUP":
        return f"speed {account.pickup_code}"
    if row.code in ("speed", "url"):
        return f"{row.code} {row.value}"
    return row.code


def _dst_change(change: DstChange) -> str:
    """`mm.ww.dd hh:mm:ss`: week 05 is the last, days 01 = Monday … 07 = Sunday."""
    return (
        f"{change.month:02d}.{change.week:02d}.{change.weekday or 7:02d} "
        f"{change.hour:02d}:{change.minute:02d}:00"
    )


def _dst(ctx: PhoneContext) -> str:
    """snom's `dst`: the saving in seconds, then start and end (empty: none)."""
    rule = time_zone(ctx.device.timezone).rule
    if rule is None:
        return ""
    return f"{rule.save_minutes * 60} {_dst_change(rule.start)} {_dst_change(rule.end)}"


def prepare(ctx: PhoneContext) -> Mapping[str, object]:
    own = key_rows(ctx.softkeys, KEY_CODES)
    first_panel_idx = ctx.line_keys or (max((k.position for k in own), default=0))
    panel = panel_rows(ctx, KEY_CODES)
    return {
        "fkeys": [(row.position - 1, row, _fkey_text(row, ctx)) for row in own]
        + [(first_panel_idx + row.position - 1, row, _fkey_text(row, ctx)) for row in panel],
        "language": _LANGUAGES.get(ctx.device.language, "English"),
        "utc_offset": time_zone(ctx.device.timezone).offset_minutes * 60,
        "dst": _dst(ctx),
        "codecs": ",".join(_CODECS[c] for c in effective_codecs(ctx) if c in _CODECS),
        "transport_suffix": _TRANSPORT_SUFFIX,
        "handset_language": _LANGUAGES.get(
            ctx.dect.handset_language or "" if ctx.dect else "", "English"
        ),
        "headset": "on" if (ctx.device.headset_button or "").startswith("headset") else "off",
        "queue_alert": QUEUE_ALERT_INFO,
        "external_alert": EXTERNAL_ALERT_INFO,
        "key_perm": "RW" if ctx.device.softkey_config_on_device else "R",
    }


SPEC = VendorSpec(
    name="snom",
    key_codes=KEY_CODES,
    xml=True,
    content_type="application/xml; charset=utf-8",
    device_template="snom.xml",
    common_template="snom-common.xml",
    templates=("snom-base.xml", "snom.xml", "snom-common.xml", "snom-dect.xml"),
    prepare=prepare,
)
