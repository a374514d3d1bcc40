"""Field tables of the `000_…txt` and `001_…txt` routes (snake_case).

Scalars reuse the SIP phone API's `Scalar` and checker (`provisioning.phones.parse`), so a
MAC, a VLAN or a boolean is judged the same way on every route; the few kinds those
documents add (a codec list, an IANA time zone, digits-only door passwords, a 1–64 name)
are checked here. Every enum names its field and lists the accepted values when refused.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Mapping
from functools import cache
from typing import Any

from provisioning.errors import ApiError
from provisioning.phones.fields import RINGTONE_MAX, Scalar
from provisioning.phones.parse import parse_object
from provisioning.vendors.context import AUDIO_CODECS, DATE_FORMATS, LANGUAGES, VIDEO_CODECS

TRANSFER_METHODS = ("BLIND", "ATTENDED", "NEW_CALL")
INTERFACES = (
    "WEB_DOMAIN",
    "PUBLIC_IPV4",
    "PUBLIC_IPV6",
    "PRIVATE_IPV4",
    "PRIVATE_IPV6",
    "SBC_DOMAIN",
)
TRANSPORTS = ("UDP", "TCP", "TLS")
TIME_FORMATS = (12, 24)
CODECS = AUDIO_CODECS + VIDEO_CODECS
_CODEC_ALIASES = {"g711a": "pcma", "g711u": "pcmu", "alaw": "pcma", "ulaw": "pcmu"}
_TEMPLATE_NAME = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
_DIGITS = re.compile(r"^[0-9]{1,32}$")


def _enum(doc: str, label: str, choices: tuple[Any, ...]) -> Scalar:
    listed = ", ".join(str(c) for c in choices)
    return Scalar(kind="enum", doc=doc, invalid=f"{label} must be one of {listed}", choices=choices)


def _str(doc: str, invalid: str, max_length: int = 64) -> Scalar:
    return Scalar(kind="str", doc=doc, invalid=invalid, max_length=max_length)


def _bool(doc: str, label: str) -> Scalar:
    return Scalar(kind="bool", doc=doc, invalid=f"{label} must be true or false")


LANGUAGE = _enum("Display language.", "Language", LANGUAGES)
TRANSPORT = _enum("SIP transport.", "Preferred transport", TRANSPORTS)
INTERFACE = _enum("Which address configs and QR codes carry.", "Interface", INTERFACES)
# Kinds checked by `parse_body` after the table (str here: type and length first).
TIMEZONE = _str("IANA time zone, e.g. Europe/Copenhagen.", "Timezone is invalid")
CODEC_LIST = _str("Codecs in order of preference.", "Codecs must be a list of codec names")
DOOR_PASSWORD = _str("Door password, digits only.", "Door password must be digits only", 32)

# 001 `POST /dect_phones` (and the updatable subset).
DECT_FIELDS: dict[str, Scalar] = {
    "customer": Scalar(
        kind="id", doc="Customer id.", invalid="Customer not found or not active", code=404
    ),
    "name": _str("Name of the base, 1-64 characters.", "Name must be 1 to 64 characters"),
    "mac": Scalar(kind="mac", doc="MAC address of the base.", invalid="MAC address is invalid"),
    "template": _str("Template file name.", "Template file name is invalid", 128),
    "vendor": _str("Vendor of the base (yealink, snom, gigaset).", "Vendor is invalid"),
    "model": _str("DECT model (catalogue name or the vendor's model).", "Model is invalid"),
    "password": _str("Web admin password.", "Password is invalid"),
    "user_password": _str("Web user password.", "User password is invalid"),
    "engineer_password": _str("Engineer password.", "Engineer password is invalid"),
    "timezone": TIMEZONE,
    "region": _str("Country or region name.", "Region is invalid"),
    "language": LANGUAGE,
    "handset_language": _enum("Handset display language.", "Handset language", LANGUAGES),
    "tone": _str("Tone set, one of the model's tones.", "Tone is invalid"),
    "rps": _bool("Send to the vendor's redirect service.", "Rps"),
    "https": _bool("Provision over HTTPS.", "Https"),
    "codecs": CODEC_LIST,
    "interface": INTERFACE,
    "preferred_transport": TRANSPORT,
}
DECT_REQUIRED = (
    "name",
    "mac",
    "template",
    "vendor",
    "model",
    "password",
    "timezone",
    "language",
    "tone",
    "codecs",
    "interface",
    "preferred_transport",
)
DECT_UPDATABLE = frozenset(DECT_FIELDS) - {"customer", "mac", "template", "vendor", "model"}
DECT_SECRETS = ("password", "user_password", "engineer_password")


def _vlan_id(label: str) -> Scalar:
    return Scalar(
        kind="vlan",
        doc=f"{label} VLAN id 1-4094.",
        invalid=f"{label} VLAN id is invalid",
        minimum=1,
        maximum=4094,
    )


def _vlan_priority(label: str) -> Scalar:
    return Scalar(
        kind="int",
        doc=f"{label} VLAN priority 0-7.",
        invalid=f"{label} VLAN priority is invalid",
        minimum=0,
        maximum=7,
    )


def _ringtone(doc: str, label: str) -> Scalar:
    return Scalar(
        kind="tone",
        doc=doc,
        invalid=f"{label} is outside the valid range",
        minimum=1,
        maximum=RINGTONE_MAX,
    )


def _seconds(doc: str, label: str) -> Scalar:
    return Scalar(
        kind="int",
        doc=doc,
        invalid=f"{label} must be seconds from 0 to 86400",
        minimum=0,
        maximum=86400,
    )


# 000 `POST /users/{id}/phones/{phone_id}` (the update); the assign adds USER_CREATE_ONLY.
USER_PHONE_FIELDS: dict[str, Scalar] = {
    "web_password": _str("Web interface password.", "Web password is invalid"),
    "timezone": TIMEZONE,
    "ringtone": _ringtone(
        "Built-in ringtone 1..the model's features.ringtones, or the id of one of the "
        "customer's /api/ringtones where the model plays it (the record's ringer.tone).",
        "Ringtone",
    ),
    "queue_ringtone": _ringtone(
        "Ringtone of queue / ring group calls (Alert-Info alert-group).", "Queue ringtone"
    ),
    "external_ringtone": _ringtone(
        "Ringtone of external calls (Alert-Info alert-external).", "External ringtone"
    ),
    "date_format": _enum("Date format.", "Date format", DATE_FORMATS),
    "time_format": _enum("Time format, 12 or 24 hours.", "Time format", TIME_FORMATS),
    "power_led": _bool("Power LED on.", "Power led"),
    "backlight": _seconds("Backlight timeout in seconds (0: always on).", "Backlight"),
    "screensaver": _seconds("Screensaver timeout in seconds (0: off).", "Screensaver"),
    "rps": _bool("Send to the vendor's redirect service.", "Rps"),
    "https": _bool("Provision over HTTPS.", "Https"),
    "lldp": _bool("LLDP.", "Lldp"),
    "wan_vlan": _bool("VLAN on the WAN port.", "Wan vlan"),
    "wan_vlan_id": _vlan_id("WAN"),
    "wan_vlan_priority": _vlan_priority("WAN"),
    "pc_vlan": _bool("VLAN on the PC port.", "Pc vlan"),
    "pc_vlan_id": _vlan_id("PC"),
    "pc_vlan_priority": _vlan_priority("PC"),
    "serial": _str("Serial number (Grandstream).", "Serial number is invalid"),
    "door_password1": DOOR_PASSWORD,
    "door_password2": DOOR_PASSWORD,
    "language": LANGUAGE,
    "transfer_method": _enum("BLF key transfer.", "Transfer method", TRANSFER_METHODS),
    "interface": INTERFACE,
    "preferred_transport": TRANSPORT,
    "codecs": CODEC_LIST,
}
USER_CREATE_ONLY: dict[str, Scalar] = {
    "template": _str("Template file name.", "Template file name is invalid", 128),
    "vendor": _str("Phone vendor.", "Vendor is invalid"),
    "model": _str("Phone model (catalogue name or the vendor's model).", "Model is invalid"),
    "mac": Scalar(kind="mac", doc="MAC address.", invalid="MAC address is invalid"),
}
USER_REQUIRED = ("vendor", "model")
USER_SECRETS = ("web_password", "door_password1", "door_password2")

# snake_case field → camelCase key in `sip_phones.device` (the
# provisioning loader reads these names).
DEVICE_KEYS: dict[str, str] = {
    "template": "template",
    "vendor": "vendor",
    "model": "model",
    "timezone": "timezone",
    "queue_ringtone": "queueRingtone",
    "external_ringtone": "externalRingtone",
    "date_format": "dateFormat",
    "time_format": "timeFormat",
    "power_led": "powerLed",
    "backlight": "backlight",
    "screensaver": "screensaver",
    "rps": "rps",
    "https": "https",
    "lldp": "lldp",
    "wan_vlan": "wanVlanEnabled",
    "wan_vlan_id": "wanVlanId",
    "wan_vlan_priority": "wanVlanPriority",
    "pc_vlan": "pcVlanEnabled",
    "pc_vlan_id": "pcVlanId",
    "pc_vlan_priority": "pcVlanPriority",
    "language": "language",
    "transfer_method": "transferMethod",
    "interface": "interface",
    "preferred_transport": "preferredTransport",
    "codecs": "codecs",
    "region": "region",
    "tone": "tone",
    "handset_language": "handsetLanguage",
    "name": "dectName",
}
SECRET_KEYS: dict[str, str] = {
    "web_password": "webPassword",
    "password": "webPassword",
    "door_password1": "doorPassword1",
    "door_password2": "doorPassword2",
    "user_password": "userPassword",
    "engineer_password": "engineerPassword",
}
# Names the SIP phone rules use (camelCase) → the snake_case of these routes.
SNAKE_NAMES = {
    "macAddress": "mac",
    "sipPhoneModel": "model",
    "handsetAddress": "handset_address",
    "handsetIndex": "handset_index",
    "extension": "extension",
    "customer": "customer",
    "serial": "serial",
}


@cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _codecs(value: Any) -> list[str]:
    if not isinstance(value, list) or not value or len(value) > len(CODECS):
        raise ApiError(422, "codecs", "Codecs must be a non-empty list of codec names")
    names: list[str] = []
    for item in value:
        name = _CODEC_ALIASES.get(str(item).lower(), str(item).lower())
        if not isinstance(item, str) or name not in CODECS:
            raise ApiError(
                422, "codecs", f"Codec '{item}' is not valid (one of {', '.join(CODECS)})"
            )
        if name in names:
            raise ApiError(422, "codecs", f"Codec '{item}' is listed twice")
        names.append(name)
    return names


def _extra_check(name: str, value: Any) -> Any:
    """The kinds the SIP phone table has no checker for; raises ApiError naming `name`."""
    if value is None:
        return None
    if name == "codecs":
        return _codecs(value)
    if name == "timezone" and value not in _zones():
        raise ApiError(422, name, f"Timezone '{value}' is not valid")
    if name.startswith("door_password") and not _DIGITS.match(value):
        raise ApiError(422, name, "Door password must be digits only")
    if name == "name" and not 1 <= len(value) <= 64:
        raise ApiError(422, name, "Name must be 1 to 64 characters")
    if name == "template" and not _TEMPLATE_NAME.match(value):
        raise ApiError(422, name, "Template file name is invalid")
    return value


def parse_body(
    body: Mapping[str, Any], fields: Mapping[str, Scalar], required: tuple[str, ...] = ()
) -> tuple[dict[str, Any], list[ApiError]]:
    """Every field checked; returns the normalised values and all errors found."""
    lists = {k: v for k, v in body.items() if k == "codecs"}
    scalars = {k: v for k, v in body.items() if k != "codecs"}
    parsed = parse_object(scalars, fields)
    values, errors = dict(parsed.values), list(parsed.errors)
    if lists and "codecs" not in fields:
        errors.append(ApiError(422, "codecs", "Unknown field"))
        lists = {}
    for name, value in list(values.items()) + list(lists.items()):
        try:
            values[name] = _extra_check(name, value)
        except ApiError as error:
            values.pop(name, None)
            errors.append(error)
    for name in required:
        if body.get(name) is None:
            errors.append(ApiError(422, name, f"{name.capitalize()} is required"))
    return values, errors


def template_errors(template: Any, vendor: str) -> list[ApiError]:
    """A template must be one of the vendor's: every built-in is named after its vendor
    (`yealink-dect.cfg`, `gigaset.xml`) and so is a custom one (`yealink-lobby.cfg`, the
    rule of `provisioning.vendors.registry.vendor_of_template`); another vendor's file
    would configure nothing."""
    if not isinstance(template, str):
        return []
    if not template.lower().startswith(vendor.lower()):
        return [ApiError(422, "template", f"Template '{template}' is not a {vendor} template")]
    return []


def snake_error(error: ApiError) -> ApiError:
    """An error of the SIP phone rules renamed to these routes' snake_case."""
    name = error.message
    if name == "ringer.tone":  # 000 `ringtone` is the record's ringer.tone
        return ApiError(error.code, "ringtone", error.description)
    head, dot, rest = name.partition(".")
    renamed = SNAKE_NAMES.get(head, head) + dot + rest
    return ApiError(error.code, renamed, error.description)
