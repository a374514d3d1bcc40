"""A SIP phone as the API document of writable fields, its columns, and partial merge.

003: "When updating as little as a single property can be updated." Nested objects
(`ip`, `ringer`, `volume`, `codec`, `network`, `purchaseInfo`) merge field by field; an
array (`softkeys`, `purchaseInfo.sidePanels`) is replaced whole; `null` clears a value
or a whole nested object.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from provisioning.phones.fields import IP, PHONE_FIELDS, Group, ListOf, Scalar, Spec


def merge(
    current: Mapping[str, Any], patch: Mapping[str, Any], fields: Mapping[str, Spec]
) -> dict[str, Any]:
    """`current` with `patch` applied: objects merged per field, everything else replaced."""
    merged = dict(current)
    for key, value in patch.items():
        spec = fields.get(key)
        old = merged.get(key)
        if isinstance(spec, Group) and isinstance(value, dict) and isinstance(old, dict):
            merged[key] = merge(old, value, spec.fields)
        else:
            merged[key] = value
    return merged


def _pruned(value: Any) -> Any:
    """jsonb documents keep no null members (null means 'not set')."""
    if isinstance(value, dict):
        pruned = {k: _pruned(v) for k, v in value.items() if v is not None}
        return pruned or None
    if isinstance(value, list):
        return [_pruned(item) for item in value]
    return value


def to_columns(document: Mapping[str, Any]) -> dict[str, Any]:
    """Column values for `db.phones.WRITABLE_COLUMNS` from an API document."""
    columns: dict[str, Any] = {}
    for key, spec in PHONE_FIELDS.items():
        value = document.get(key)
        if key == "ip":
            ip = value or {}
            for name, sub in IP.fields.items():
                assert isinstance(sub, Scalar) and sub.column is not None
                columns[sub.column] = ip.get(name)
            columns["ip_mode"] = columns["ip_mode"] or "OPEN"
            columns["ip_countries"] = columns["ip_countries"] or ""
        elif isinstance(spec, ListOf):
            assert spec.column is not None
            columns[spec.column] = _pruned(value or [])
        else:
            assert spec.column is not None
            columns[spec.column] = _pruned(value) if isinstance(spec, Group) else value
    return columns


def to_document(columns: Mapping[str, Any]) -> dict[str, Any]:
    """The API document of writable fields from column values (inverse of to_columns)."""
    document: dict[str, Any] = {}
    for key, spec in PHONE_FIELDS.items():
        if key == "ip":
            document["ip"] = {
                "mode": columns.get("ip_mode") or "OPEN",
                "countries": columns.get("ip_countries") or "",
                "address": columns.get("ip_address"),
            }
        else:
            assert spec.column is not None
            document[key] = columns.get(spec.column)
    return document


def defaults() -> dict[str, Any]:
    """A new phone before the create body is applied."""
    document: dict[str, Any] = {key: None for key in PHONE_FIELDS}
    document.update(
        pbxCluster=1, ip={"mode": "OPEN", "countries": "", "address": None}, softkeys=[]
    )
    return document
