"""Check a request body against the field table, collecting every error.

Pure: no database. Each bad value becomes one `ApiError` named by its path
(`ringer.volume`, `softkeys[2].index`) with the reference's description; a body with
several problems yields all of them, so the caller can answer `multiple`. Valid values
come back normalised (MAC upper case without separators, country codes upper case,
VLAN id as a number, ids lower case).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from provisioning.errors import ApiError
from provisioning.gate.countries import COUNTRY_CODES
from provisioning.phones.fields import MISSING, Group, ListOf, Scalar, Spec

_HEX_ID = re.compile(r"^[0-9a-fA-F]{24}$")
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_MAC_SEPARATORS = re.compile(r"[:.\- ]")
_MAC = re.compile(r"^[0-9A-F]{12}$")
# ISO 8601 dates, with or without a time; the reference's own examples write
# '2015-01-01-T00:00:00Z', so a '-' before the 'T' is tolerated.
_DATE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(-?T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?)?$"
)


class _Invalid(Exception):
    """A value failed its check; carries the description to report."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


@dataclass(frozen=True, slots=True, kw_only=True)
class Parsed:
    """The valid part of a body (normalised) and every error found."""

    values: dict[str, Any]
    errors: list[ApiError]


def parse_object(body: Mapping[str, Any], fields: Mapping[str, Spec], prefix: str = "") -> Parsed:
    """Check every key of `body` against `fields`; unknown keys are errors too."""
    values: dict[str, Any] = {}
    errors: list[ApiError] = []
    for key, value in body.items():
        path = f"{prefix}{key}"
        spec = fields.get(key)
        if spec is None:
            errors.append(ApiError(422, path, "Unknown field"))
            continue
        parsed = parse_value(value, spec, path)
        errors.extend(parsed.errors)
        if "" in parsed.values:  # valid, or an object/array with some valid parts
            values[key] = parsed.values[""]
    return Parsed(values=values, errors=errors)


def parse_value(value: Any, spec: Spec, path: str) -> Parsed:
    """One value; the normalised result is under the key ''."""
    if isinstance(spec, Scalar):
        try:
            return Parsed(values={"": check_scalar(value, spec)}, errors=[])
        except _Invalid as bad:
            return Parsed(values={}, errors=[ApiError(spec.code, path, bad.description)])
    if value is None:
        if isinstance(spec, ListOf):
            return Parsed(values={"": []}, errors=[])
        if spec.nullable:
            return Parsed(values={"": None}, errors=[])
    if isinstance(spec, Group):
        if not isinstance(value, dict):
            return Parsed(values={}, errors=[ApiError(422, path, "Must be an object")])
        inner = parse_object(value, spec.fields, path + ".")
        return Parsed(values={"": inner.values}, errors=inner.errors)
    return _parse_list(value, spec, path)


def _parse_list(value: Any, spec: ListOf, path: str) -> Parsed:
    if not isinstance(value, list):
        return Parsed(values={}, errors=[ApiError(422, path, "Must be an array")])
    if len(value) > spec.max_items:
        return Parsed(values={}, errors=[ApiError(422, path, f"At most {spec.max_items} items")])
    items: list[dict[str, Any]] = []
    errors: list[ApiError] = []
    for position, item in enumerate(value):
        item_path = f"{path}[{position}]"
        if not isinstance(item, dict):
            errors.append(ApiError(422, item_path, "Must be an object"))
            continue
        inner = parse_object(item, spec.item.fields, item_path + ".")
        errors.extend(inner.errors)
        for name in spec.required:
            if item.get(name) is None:
                errors.append(ApiError(422, f"{item_path}.{name}", MISSING[name]))
        items.append(inner.values)
    return Parsed(values={"": items}, errors=errors)


def check_scalar(value: Any, spec: Scalar) -> Any:
    """The normalised value, or raise _Invalid with the field's description."""
    if value is None:
        if spec.nullable:
            return None
        raise _Invalid(spec.invalid)
    checker = _CHECKERS[spec.kind]
    return checker(value, spec)


def _bool(value: Any, spec: Scalar) -> bool:
    if not isinstance(value, bool):
        raise _Invalid(spec.invalid)
    return value


def _int(value: Any, spec: Scalar) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise _Invalid(spec.invalid)
    _in_range(value, spec)
    return value


def _in_range(value: int, spec: Scalar) -> None:
    low = spec.minimum if spec.minimum is not None else value
    high = spec.maximum if spec.maximum is not None else value
    if not low <= value <= high:
        raise _Invalid(spec.range_error or spec.invalid)


def _str(value: Any, spec: Scalar) -> str:
    if not isinstance(value, str) or len(value) > spec.max_length or "\x00" in value:
        raise _Invalid(spec.invalid)
    return value


def _enum(value: Any, spec: Scalar) -> Any:
    if isinstance(value, bool) or value not in spec.choices:
        raise _Invalid(spec.invalid)
    return value


def _object_id(value: Any, spec: Scalar) -> str:
    if not isinstance(value, str) or not _HEX_ID.match(value):
        raise _Invalid(spec.invalid)
    return value.lower()


def _model(value: Any, spec: Scalar) -> str:
    if not isinstance(value, str) or not (_HEX_ID.match(value) or _MODEL_NAME.match(value)):
        raise _Invalid(spec.invalid)
    return value.lower() if _HEX_ID.match(value) else value


def normalise_mac(value: Any) -> str | None:
    """`4e:e8:a3:4b:56:f3` → `4EE8A34B56F3`; None when it is not a MAC address."""
    if not isinstance(value, str) or len(value) > 17:
        return None
    mac = _MAC_SEPARATORS.sub("", value).upper()
    return mac if _MAC.match(mac) else None


def _mac(value: Any, spec: Scalar) -> str:
    mac = normalise_mac(value)
    if mac is None:
        raise _Invalid(spec.invalid)
    return mac


def _ip(value: Any, spec: Scalar) -> str:
    if not isinstance(value, str) or len(value) > 64:
        raise _Invalid(spec.invalid)
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise _Invalid(spec.invalid) from None


def _mask(value: Any, spec: Scalar) -> str:
    """A dotted IPv4 netmask with contiguous ones (255.255.255.0)."""
    if not isinstance(value, str) or len(value) > 15:
        raise _Invalid(spec.invalid)
    try:
        bits = int(ipaddress.IPv4Address(value))
    except ValueError:
        raise _Invalid(spec.invalid) from None
    inverted = ~bits & 0xFFFFFFFF
    if inverted & (inverted + 1):
        raise _Invalid(spec.invalid)
    return value


def is_http_url(value: Any) -> bool:
    if not isinstance(value, str) or len(value) > 2048:
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def _url(value: Any, spec: Scalar) -> str:
    if not is_http_url(value):
        raise _Invalid(spec.invalid)
    return str(value)


def _date(value: Any, spec: Scalar) -> str:
    match = _DATE.match(value) if isinstance(value, str) else None
    if match is None:
        raise _Invalid(spec.invalid)
    year, month, day = (int(part) for part in match.group(1, 2, 3))
    if not (1 <= month <= 12 and 1 <= day <= 31 and year >= 1900):
        raise _Invalid(spec.invalid)
    return str(value)


def _countries(value: Any, spec: Scalar) -> str:
    """`dk, se` → `DK,SE`; the first unknown code is named in the error."""
    if not isinstance(value, str) or len(value) > 1024:
        raise _Invalid(spec.invalid.format(value if isinstance(value, str) else ""))
    codes = [part.strip() for part in value.split(",") if part.strip()]
    for code in codes:
        if code.upper() not in COUNTRY_CODES:
            raise _Invalid(spec.invalid.format(code))
    return ",".join(dict.fromkeys(code.upper() for code in codes))


def _tone(value: Any, spec: Scalar) -> int | str:
    """A built-in tone number (1..10, as a number or digits) or a custom ringtone id."""
    if isinstance(value, str) and _HEX_ID.match(value):
        return value.lower()
    if isinstance(value, str) and value.isdigit() and len(value) < 6:
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise _Invalid(spec.invalid)
    _in_range(value, spec)
    return value


def _vlan(value: Any, spec: Scalar) -> int:
    """003 types the VLAN id as a String but its examples send a number: take both."""
    if isinstance(value, str) and value.isdigit() and len(value) < 6:
        value = int(value)
    return _int(value, spec)


_CHECKERS = {
    "bool": _bool,
    "int": _int,
    "str": _str,
    "enum": _enum,
    "id": _object_id,
    "model": _model,
    "mac": _mac,
    "ip": _ip,
    "mask": _mask,
    "url": _url,
    "date": _date,
    "countries": _countries,
    "tone": _tone,
    "vlan": _vlan,
}
