"""A stored SIP phone → the reference's JSON (002/003 examples).

Properties holding no value are omitted (002: "properties holding no value may be
omitted"); purchase info and the web admin password (`webPassword`) only for OWNER and
above; the device settings of `000_…txt` kept in `device` are added in camelCase after the
reference's own fields.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from db.phones import PhoneRecord
from provisioning.credentials import SecretBox, reveal_password
from provisioning.phones import webpassword
from provisioning.phones.record import to_document
from provisioning.redirect.render import redirect_json


def iso_time(value: datetime | None) -> str | None:
    """`2015-01-01T00:00:00Z`, as the reference writes its dates."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _compact(value: Any) -> Any:
    if isinstance(value, dict):
        items = ((k, _compact(v)) for k, v in value.items())
        return {k: v for k, v in items if v not in (None, "", [], {})}
    if isinstance(value, list):
        return [_compact(item) for item in value]
    return value


def _softkey(item: dict[str, Any]) -> dict[str, Any]:
    """jsonb does not keep key order: put a key back in the reference's order."""
    order = ("index", "function", "value", "label")
    return {name: item[name] for name in order if name in item}


def status_json(record: PhoneRecord) -> dict[str, Any]:
    """The live block: online while a registration is unexpired; `expires` -1 offline."""
    online = bool(record.online and record.expires_at and record.expires_at > record.now)
    expires = -1
    if online and record.expires_at is not None:
        expires = max(0, math.ceil((record.expires_at - record.now).total_seconds()))
    status: dict[str, Any] = {
        "configLoaded": iso_time(record.config_loaded),
        "configSaved": iso_time(record.config_saved),
        "online": online,
        "expires": expires,
        "localIpAddress": record.local_ip,
        "publicIpAddress": record.public_ip,
        "userAgent": record.user_agent,
    }
    return {k: v for k, v in status.items() if v is not None}


def phone_json(
    record: PhoneRecord, box: SecretBox, *, with_purchase_info: bool, with_secrets: bool = False
) -> dict[str, Any]:
    """`with_secrets` (OWNER and above) adds the phone's web admin password."""
    document = to_document(record.values)
    body: dict[str, Any] = {"_id": record.id}
    for key, value in document.items():
        if key == "ringer":  # 002 lists the credentials after the security settings
            body["username"] = record.username
            body["password"] = reveal_password(box, record.username, record.password_enc)
        if key == "softkeys" and isinstance(value, list):
            value = [_softkey(item) for item in sorted(value, key=lambda k: k.get("index", 0))]
        body[key] = value
        if key == "handsetAddress":
            body["handsetIndex"] = record.values.get("handset_index")
    if not with_purchase_info:
        body.pop("purchaseInfo", None)
    body = _compact(body)
    body["ip"] = {"mode": document["ip"]["mode"], **body.get("ip", {})}
    body["status"] = status_json(record)
    redirect = redirect_json(record.redirect)
    if redirect is not None:
        body["redirect"] = redirect
    for key, value in (record.device or {}).items():
        body.setdefault(key, value)
    if with_secrets:
        shown = webpassword.web_password(box, record.id, record.device_secrets_enc)
        if shown is not None:
            body[webpassword.KEY] = shown
    return body
