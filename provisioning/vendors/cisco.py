"""Cisco SPA / Linksys SPA desk phones (SPA30x, SPA50x) and the SPA500S side car.

Parameter names: Cisco Small Business SPA300/SPA500 Provisioning Guide, "Configuration
parameters" (XML flat profile: Line_Enable_N_, User_ID_N_, Proxy_N_, SIP_Transport_N_,
Extended_Function_N_, Unit_M_Key_K, Profile_Rule, Time_Zone, Connection_Type, VLAN_ID,
Enable_LLDP-MED, Admin_Passwd, CW_Setting). Extended functions (same guide, "Line Key
LED Patterns / Extended Function"): `fnc=sd;ext=…` speed dial, `fnc=blf+sd+cp;sub=…`
BLF with speed dial and call pickup, `fnc=dnd`, `fnc=xml;url=…`. The speed-dial and BLF
forms (`fnc=sd;ext=N@$PROXY;nme=L`, `fnc=sd+blf+cp;sub=N@$PROXY;nme=L` with
`<Extension_K_>Disabled`) are also what the public generator wazo-platform/wazo-provd-plugins
writes (plugins/wazo-cisco-spa/common/common.py); sipfleet lists the same three functions
as `blf+sd+cp`.

Optional settings (catalogue `features.settings`): ringtone `Default_Ring_N_` (Ring1-10);
screensaver `Screen_Saver_Enable` / `Screen_Saver_Wait` (seconds; the names the public
generator writes for the Cisco 3PCC successors of the SPA500, wazo-platform/
wazo-provd-plugins plugins/wazo_cisco_sip templates); soft keys configured on the device:
`ua="rw"` on the key parameters (the user may change them), `ua="na"` otherwise. Queue and
external ringtones: the SPA maps Alert-Info only to ring tones the PBX names itself, not a
text to a chosen tone, so the catalogue does not offer them.

Deployable as is: the web admin password `Admin_Passwd`; the voicemail number
`Voice_Mail_Number` and `Mailbox_ID_N_` (the SPA desk phones' key for subscribing to
message waiting is not confirmed — the SPA ATAs' is `Mailbox_Subscribe_URL_N` — so none
is written, and without a subscription sipfleet sends the phone no MWI); the
re-provisioning timer `Resync_Periodic` in seconds with `Resync_On_Reset` (names in
wazo-provd-plugins' Cisco templates), 0 off; firmware `Upgrade_Enable` / `Upgrade_Rule`
(the URL; same plugins' SPA files); daylight saving from the IANA zone as
`Daylight_Saving_Time_Rule` "start=m/d/w/h:m:s;end=…;save=h:m:s" (weekday 1 = Monday,
day -1 = the last: SPA administration guide, as wazo-cisco-spa writes it).

BLF transfer: the SPA Extended_Function has no transfer function and the provisioning guide
no setting for what a BLF key does during a call, so 000 `transferMethod` is not written
for Cisco SPA; pressing the key dials the watched extension (sd) or picks up its ringing
call (cp).
"""

from __future__ import annotations

from collections.abc import Mapping

from provisioning.vendors.common import KeyRow, effective_codecs, key_rows, panel_rows, time_zone
from provisioning.vendors.context import PhoneContext
from provisioning.vendors.spec import VendorSpec
from provisioning.vendors.tzrules import DstChange

KEY_CODES: Mapping[str, str] = {
    "SPEEDDIAL": "sd",
    "BLF": "blf+sd+cp",
    "LINE": "line",
    "DND": "dnd",
    "URL": "xml",
    "PICKUP": "sd",
    "PICKUPGROUP": "sd",
    "QUEUE": "sd",
    "SWITCH": "blf",
}
_CODECS = {"g722": "G722", "pcmu": "G711u", "pcma": "G711a", "g729": "G729a"}
_LANGUAGES = {
    "ENGLISH": "English",
    "GERMAN": "German",
    "FRENCH": "French",
    "ITALIAN": "Italian",
    "SPANISH": "Spanish",
    "DUTCH": "Dutch",
    "SWEDISH": "Swedish",
    "POLISH": "Polish",
    "RUSSIAN": "Russian",
}


def _function(row: KeyRow, ctx: PhoneContext) -> str:
    """The Extended_Function value (`;` separates fields, so a label may not hold one)."""
    account = ctx.accounts[min(row.account, len(ctx.accounts)) - 1]
    label = row.label.replace(";", ",")
    if row.code == "dnd":
        return f"fnc=dnd;nme={label}"
    if row.code == "xml":
        return f"fnc=xml;url={row.value.replace(';', '%3B')};nme={label}"
    if row.code.startswith("blf"):
        return f"fnc={row.code};sub={row.value}@$PROXY;nme={label}"
    target = account.pickup_code if row.function == "PICKUP" else row.value
    return f"fnc=sd;ext={target}@$PROXY;nme={label}"


def _dst_change(change: DstChange) -> str:
    """month/day/weekday/HH:mm:ss: weekday 1 = Monday … 7 = Sunday on or after `day`, or
    on or before the month's end with day -1 (the last one)."""
    day = -1 if change.week == 5 else (change.week - 1) * 7 + 1
    return f"{change.month}/{day}/{change.weekday or 7}/{change.hour}:{change.minute}:0"


def _dst(ctx: PhoneContext) -> str | None:
    rule = time_zone(ctx.device.timezone).rule
    if rule is None:
        return None
    hours, minutes = divmod(rule.save_minutes, 60)
    return f"start={_dst_change(rule.start)};end={_dst_change(rule.end)};save={hours}:{minutes}:0"


def prepare(ctx: PhoneContext) -> Mapping[str, object]:
    own = key_rows(ctx.softkeys, KEY_CODES)
    codecs = [_CODECS[c] for c in effective_codecs(ctx) if c in _CODECS]
    return {
        "keys": [(r, _function(r, ctx)) for r in own],
        "panel_keys": [(r, _function(r, ctx)) for r in panel_rows(ctx, KEY_CODES)],
        "preferred_codec": codecs[0] if codecs else "G711u",
        "second_codec": codecs[1] if len(codecs) > 1 else "Unspecified",
        "g722": "Yes" if "G722" in codecs else "No",
        "timezone": time_zone(ctx.device.timezone),
        "dst_rule": _dst(ctx),
        "language": _LANGUAGES.get(ctx.device.language, "English"),
        "date_format": "month/day" if ctx.device.date_format == "MM/DD/YYYY" else "day/month",
        "key_ua": "rw" if ctx.device.softkey_config_on_device else "na",
    }


SPEC = VendorSpec(
    name="cisco",
    key_codes=KEY_CODES,
    xml=True,
    content_type="application/xml; charset=utf-8",
    device_template="cisco-spa.xml",
    common_template="cisco-spa-common.cfg",
    templates=("cisco-spa-base.xml", "cisco-spa.xml", "cisco-spa-common.cfg"),
    prepare=prepare,
)
