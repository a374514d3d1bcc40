"""Which optional settings a catalogue model takes, and the API's refusal of the others.

Most settings (account, keys, codecs, network, language, time zone, …) are written for
every model. The optional ones below are written only where the vendor has a setting for
them; the catalogue row lists those a model takes in `features.settings`, and for
ringtones how many built-in tones it has (`features.ringtones`) and for DECT radio
regions the values it accepts (`features.regions`). A request setting one the model does
not take is refused with 422 naming the field ("… is not supported by yealink-w60b"),
never stored for nothing; `null` (clearing a value) is always accepted.

Pure: the callers pass the model's name and `features` (from `db.phone_models` /
`db.dect`) and the request's parsed values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from provisioning.errors import ApiError
from provisioning.ringtones.wav import LABELS
from provisioning.vendors.context import EXTERNAL_ALERT_INFO, QUEUE_ALERT_INFO

__all__ = ["EXTERNAL_ALERT_INFO", "QUEUE_ALERT_INFO"]

#: every optional setting, by its catalogue name
OPTIONAL_SETTINGS = (
    "ringtone",  # 000 ringtone, 002 ringer.tone
    "queueRingtone",  # 000 queue_ringtone: calls with Alert-Info QUEUE_ALERT_INFO
    "externalRingtone",  # 000 external_ringtone: calls with Alert-Info EXTERNAL_ALERT_INFO
    "powerLed",  # 000 power_led
    "screensaver",  # 000 screensaver
    "https",  # 000/001 https (also needs the server's tls_cert)
    "doorPassword",  # 000 door_password1/2
    "callWaiting",  # 002 callWaiting
    "softkeyConfigurationOnDevice",  # 002
    "dhsg",  # 002 dhsg
    "region",  # 001 region (DECT radio region)
    "userPassword",  # 001 user_password
    "engineerPassword",  # 001 engineer_password
)

#: 000 `/users/{id}/phones` field → setting
USER_PHONE_SETTINGS = {
    "ringtone": "ringtone",
    "queue_ringtone": "queueRingtone",
    "external_ringtone": "externalRingtone",
    "power_led": "powerLed",
    "screensaver": "screensaver",
    "https": "https",
    "door_password1": "doorPassword",
    "door_password2": "doorPassword",
}
#: 000 ringtone fields
USER_PHONE_RINGTONES = ("ringtone", "queue_ringtone", "external_ringtone")
#: 001 `/dect_phones` field → setting
DECT_SETTINGS = {
    "https": "https",
    "region": "region",
    "user_password": "userPassword",
    "engineer_password": "engineerPassword",
}
#: 002 `/pbx/sipphone` field → setting (`ringer.tone` is checked as a ringtone)
SIP_PHONE_SETTINGS = {
    "callWaiting": "callWaiting",
    "softkeyConfigurationOnDevice": "softkeyConfigurationOnDevice",
    "dhsg": "dhsg",
}

_LABELS = {
    "ringtone": "Ringtone",
    "queue_ringtone": "Queue ringtone",
    "external_ringtone": "External ringtone",
    "ringer.tone": "Ringtone",
    "power_led": "Power LED",
    "screensaver": "Screensaver",
    "https": "HTTPS",
    "door_password1": "Door password",
    "door_password2": "Door password",
    "callWaiting": "Call waiting",
    "softkeyConfigurationOnDevice": "Soft key configuration on the device",
    "dhsg": "DHSG headset",
    "region": "Region",
    "user_password": "User password",
    "engineer_password": "Engineer password",
}


def supported(features: Mapping[str, Any]) -> frozenset[str] | None:
    """The optional settings a model takes; None for a row without the list (every one)."""
    listed = features.get("settings")
    if not isinstance(listed, list):
        return None
    return frozenset(str(item) for item in listed)


def takes(features: Mapping[str, Any], setting: str) -> bool:
    found = supported(features)
    return found is None or setting in found


def unsupported_errors(
    model_name: str,
    features: Mapping[str, Any],
    values: Mapping[str, Any],
    settings: Mapping[str, str],
) -> list[ApiError]:
    """422 for every field given a value whose setting the model does not take."""
    errors = []
    for field, setting in settings.items():
        if values.get(field) is None or takes(features, setting):
            continue
        label = _LABELS.get(field, field)
        errors.append(ApiError(422, field, f"{label} is not supported by {model_name}"))
    return errors


def ringtone_count(features: Mapping[str, Any]) -> int | None:
    count = features.get("ringtones")
    return count if isinstance(count, int) and not isinstance(count, bool) else None


def ringtone_errors(
    model_name: str, features: Mapping[str, Any], values: Mapping[str, Any], fields: tuple[str, ...]
) -> list[ApiError]:
    """A built-in ringtone must be one of the model's tones 1..`features.ringtones`. A
    custom ringtone (an uploaded ringtone's id) is the phone's own ringtone only
    (`ringtone` / `ringer.tone`, checked by `custom_ringtone_errors` against the upload);
    the queue and external ringtones are built-in tones the phone maps Alert-Info texts to."""
    count = ringtone_count(features)
    errors = []
    for field in fields:
        value = values.get(field)
        if value is None:
            continue
        setting = "ringtone" if field in ("ringtone", "ringer.tone") else None
        if setting is not None and not takes(features, setting):
            continue  # refused as not supported
        if setting is not None and isinstance(value, str):
            continue  # a custom ringtone
        number = value if isinstance(value, int) else None
        if number is not None and (count is None or 1 <= number <= count):
            continue
        label = _LABELS.get(field, field)
        limit = f"1-{count}" if count else "none"
        errors.append(
            ApiError(
                422,
                field,
                f"{label} is outside the valid range: '{value}' is not one of the built-in "
                f"ringtones of {model_name} ({limit})",
            )
        )
    return errors


def custom_ringtone_errors(
    model_name: str,
    features: Mapping[str, Any],
    field: str,
    ringtone_id: str,
    ringtone_format: str | None,
) -> list[ApiError]:
    """A custom ringtone: an upload of the phone's customer (`ringtone_format` None when
    there is none: 404), in a format the model plays from a URL (`features.customRingtones`,
    `provisioning.ringtones.wav`)."""
    if not takes(features, "ringtone"):
        return []  # refused as not supported
    if ringtone_format is None:
        return [ApiError(404, field, f"Ringtone '{ringtone_id}' not found")]
    formats = features.get("customRingtones")
    if not isinstance(formats, list) or not formats:
        return [ApiError(422, field, f"Custom ringtones are not supported by {model_name}")]
    if ringtone_format in formats:
        return []
    plays = " or ".join(LABELS.get(str(f), str(f)) for f in formats)
    have = LABELS.get(ringtone_format, ringtone_format)
    return [
        ApiError(422, field, f"Ringtone '{ringtone_id}' is {have}; {model_name} plays {plays} only")
    ]


def choice_errors(
    model_name: str, features: Mapping[str, Any], values: Mapping[str, Any]
) -> list[ApiError]:
    """A DECT region must be one the model lists in `features.regions`."""
    value = values.get("region")
    choices = features.get("regions")
    if value is None or not isinstance(choices, list) or value in choices:
        return []
    if not takes(features, "region"):
        return []  # refused as not supported
    listed = ", ".join(str(c) for c in choices)
    return [
        ApiError(
            422, "region", f"Region '{value}' is not supported by {model_name} (one of {listed})"
        )
    ]
