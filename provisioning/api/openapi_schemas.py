"""The schemas of sipfleet's OpenAPI document (`components.schemas`).

The SIP phone schemas are derived from the field table (`provisioning.phones.fields`)
that validation and rendering use, so the document cannot drift from the code. The paths
that use these schemas are `provisioning.api.openapi_spec`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from provisioning.phones.fields import PHONE_FIELDS, ListOf, Scalar, Spec

ID_SCHEMA = {"type": "string", "pattern": "^[0-9a-fA-F]{24}$"}
_MASKS = [
    ".".join(str((((0xFFFFFFFF << (32 - n)) & 0xFFFFFFFF) >> s) & 0xFF) for s in (24, 16, 8, 0))
    for n in range(33)
]


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _scalar_schema(spec: Scalar, *, output: bool) -> dict[str, Any]:
    kind = spec.kind
    schema: dict[str, Any]
    if output and kind in ("ip", "mask", "url", "date", "countries", "str"):
        # Stored values were checked on the way in (or written by the gate / file server);
        # the response schema only promises a string.
        schema = {"type": "string"}
    elif kind == "bool":
        schema = {"type": "boolean"}
    elif kind == "int":
        schema = {"type": "integer", "minimum": spec.minimum, "maximum": spec.maximum}
    elif kind in ("str", "countries"):
        schema = {"type": "string", "maxLength": spec.max_length}
    elif kind == "enum":
        schema = {"enum": list(spec.choices)}
    elif kind == "id":
        schema = dict(ID_SCHEMA)
    elif kind == "model":
        schema = {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"}
    elif kind == "mac":
        schema = {"type": "string", "pattern": "^[0-9A-F]{12}$" if output else "^[0-9A-Fa-f]{12}$"}
    elif kind == "ip":
        schema = {"type": "string", "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]}
    elif kind == "mask":
        schema = {"enum": _MASKS}
    elif kind == "url":
        schema = {"type": "string", "pattern": "^https?://[a-z0-9]+(\\.[a-z0-9]+)*(/[a-z0-9]*)*$"}
    elif kind == "date":
        schema = {"type": "string", "pattern": "^[0-9]{4}-[01][0-9]-[0-3][0-9]"}
        if not output:
            schema = {"type": "string", "format": "date"}
    elif kind == "tone":
        number = {"type": "integer", "minimum": spec.minimum, "maximum": spec.maximum}
        schema = {"anyOf": [number, dict(ID_SCHEMA) if not output else {"type": "string"}]}
    elif kind == "vlan":
        number = {"type": "integer", "minimum": spec.minimum, "maximum": spec.maximum}
        schema = number if output else {"anyOf": [number, {"type": "string", "enum": ["0", "10"]}]}
    else:  # pragma: no cover - every kind of fields.py is listed above
        raise ValueError(kind)
    schema = {k: v for k, v in schema.items() if v is not None}
    schema["description"] = spec.doc
    return _nullable(schema) if spec.nullable or output else schema


def spec_schema(spec: Spec, *, output: bool) -> dict[str, Any]:
    """JSON Schema of one field; `output` describes responses (lenient) instead of input."""
    if isinstance(spec, Scalar):
        return _scalar_schema(spec, output=output)
    if isinstance(spec, ListOf):
        item = spec_schema(spec.item, output=output)
        if not output:
            item["required"] = list(spec.required)
        return {"type": "array", "items": item, "maxItems": spec.max_items, "description": spec.doc}
    schema: dict[str, Any] = {
        "type": "object",
        "description": spec.doc,
        "properties": {name: spec_schema(sub, output=output) for name, sub in spec.fields.items()},
        "additionalProperties": output,
    }
    return _nullable(schema) if spec.nullable and not output else schema


def _phone_input(*, creating: bool) -> dict[str, Any]:
    fields = dict(PHONE_FIELDS)
    fields.pop("purchaseInfo")  # OWNER and above only: documented, not generated
    properties = {name: spec_schema(spec, output=False) for name, spec in fields.items()}
    properties["purchaseInfo"] = {
        "description": "OWNER and above only (403 below).",
        **spec_schema(PHONE_FIELDS["purchaseInfo"], output=False),
    }
    if not creating:
        properties["_id"] = {**ID_SCHEMA, "description": "The phone (POST /api/pbx/sipphone)."}
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if creating:
        schema["required"] = ["sipPhoneModel"]
    return schema


def _phone_output() -> dict[str, Any]:
    properties: dict[str, Any] = {"_id": ID_SCHEMA}
    for name, spec in PHONE_FIELDS.items():
        properties[name] = spec_schema(spec, output=True)
    properties["username"] = {"type": "string", "pattern": "^[a-zA-Z0-9]{32}$"}
    properties["password"] = {"type": "string", "pattern": "^[a-zA-Z0-9]{32}$"}
    properties["handsetIndex"] = {"type": ["integer", "null"]}
    properties["webPassword"] = {
        "type": "string",
        "description": "OWNER and above: the phone's web admin password (generated per "
        "phone; set through /api/users/{id}/phones `web_password`)",
    }
    properties["redirect"] = {"$ref": "#/components/schemas/Redirect"}
    properties["status"] = {
        "type": "object",
        "required": ["online", "expires"],
        "properties": {
            "configLoaded": {"type": "string"},
            "configSaved": {"type": "string"},
            "online": {"type": "boolean"},
            "expires": {"type": "integer", "minimum": -1},
            "localIpAddress": {"type": "string"},
            "publicIpAddress": {"type": "string"},
            "userAgent": {"type": "string"},
        },
    }
    return {
        "type": "object",
        "required": ["_id", "sipPhoneModel", "customer", "username", "password", "ip", "status"],
        "properties": properties,
        "additionalProperties": True,  # device settings of 000 (camelCase)
    }


def _redirect(next_attempt: str) -> dict[str, Any]:
    """The record's registration with its vendor's redirect service (zero-touch
    provisioning); absent when none is wanted."""
    return {
        "type": "object",
        "description": "Registration of the MAC with the vendor's redirect service. `state`: "
        "pending (queued or waiting for a retry; `reason` then holds the last failure), "
        "registered, failed (the service's `reason`; POST …/redirect retries), "
        "not_configured (no account for the service: `reason` names the settings), manual "
        "(the service has no API: `reason` says what to enter in its portal), unsupported.",
        "required": ["state", "vendor", "url", "attempts", "time"],
        "properties": {
            "state": {
                "enum": [
                    "pending",
                    "registered",
                    "failed",
                    "not_configured",
                    "manual",
                    "unsupported",
                ]
            },
            "vendor": _STR,
            "service": _STR,
            "url": _STR,
            "attempts": {"type": "integer", "minimum": 0},
            "reason": _STR,
            "time": _STR,
            next_attempt: _STR,
        },
    }


def _obj(properties: dict[str, Any], required: Iterable[str] = ()) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required)}


def _list_of(ref: str) -> dict[str, Any]:
    return _obj(
        {"items": {"type": "array", "items": {"$ref": ref}}, "next": {"type": ["string", "null"]}},
        ["items", "next"],
    )


_STR = {"type": "string"}
NUMBER_SCHEMA = {"type": "string", "pattern": "^[0-9]{3,64}$"}
SCHEMAS: dict[str, Any] = {
    "Error": _obj(
        {
            "code": {"type": "integer"},
            "message": _STR,
            "description": _STR,
            "errors": {"type": "array", "items": {"$ref": "#/components/schemas/Error"}},
        },
        ["code", "message", "description"],
    ),
    "Deleted": _obj({"_id": ID_SCHEMA, "deleted": {"type": "boolean"}}, ["_id", "deleted"]),
    "SipPhone": _phone_output(),
    "SipPhoneCreate": _phone_input(creating=True),
    "SipPhoneUpdate": _phone_input(creating=False),
    "SipPhoneList": _list_of("#/components/schemas/SipPhone"),
    "Redirect": _redirect("nextAttempt"),
    "DectPhone": {
        "type": "object",
        "required": ["_id", "customer", "name", "mac", "model"],
        "properties": {
            "_id": ID_SCHEMA,
            "customer": ID_SCHEMA,
            "name": _STR,
            "mac": {"type": "string", "pattern": "^[0-9A-F]{12}$"},
            "model": _STR,
            "rps": {"type": "boolean"},
            "https": {"type": "boolean"},
            "redirect": _redirect("next_attempt"),
        },
        "additionalProperties": True,
    },
    "SipPhoneModel": _obj(
        {
            "_id": ID_SCHEMA,
            "name": _STR,
            "vendor": _STR,
            "model": _STR,
            "kind": _STR,
            "softkeyFunctions": {"type": "array", "items": _STR},
            "firmwareUrl": {"type": ["string", "null"]},
            "firmwareVersion": {"type": ["string", "null"]},
        },
        ["_id", "name", "vendor", "model", "kind"],
    ),
    "SipPhoneModelUpdate": {
        **_obj(
            {
                "firmwareUrl": _nullable(
                    {
                        "type": "string",
                        "pattern": "^https?://[a-z0-9]+(\\.[a-z0-9]+)*(/[a-z0-9._-]*)*$",
                        "maxLength": 2048,
                    }
                ),
                "firmwareVersion": _nullable(
                    {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$"}
                ),
            }
        ),
        "additionalProperties": False,
    },
    "SipPhoneModelList": _list_of("#/components/schemas/SipPhoneModel"),
    "Ringtone": _obj(
        {
            "_id": ID_SCHEMA,
            "customer": ID_SCHEMA,
            "name": _STR,
            "format": {"enum": ["pcm16-8000", "pcm16-16000", "ulaw-8000", "alaw-8000"]},
            "durationMs": {"type": "integer", "minimum": 0},
            "size": {"type": "integer", "minimum": 1},
            "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            "created": _STR,
        },
        ["_id", "customer", "name", "format", "durationMs", "size", "sha256", "created"],
    ),
    "RingtoneList": _list_of("#/components/schemas/Ringtone"),
    "Customer": _obj(
        {
            "_id": ID_SCHEMA,
            "name": _STR,
            "active": {"type": "boolean"},
            "reseller": ID_SCHEMA,
            "created": _STR,
        },
        ["_id", "name", "active"],
    ),
    "CustomerCreate": {
        **_obj(
            {
                "name": {"type": "string", "minLength": 1, "maxLength": 200},
                "active": {"type": "boolean"},
                "reseller": ID_SCHEMA,
            },
            ["name"],
        ),
        "additionalProperties": False,
    },
    "CustomerUpdate": {
        **_obj(
            {
                "name": {"type": "string", "minLength": 1, "maxLength": 200},
                "active": {"type": "boolean"},
            }
        ),
        "additionalProperties": False,
    },
    "CustomerList": _list_of("#/components/schemas/Customer"),
    "Extension": _obj(
        {
            "_id": ID_SCHEMA,
            "customer": ID_SCHEMA,
            "number": NUMBER_SCHEMA,
            "name": _STR,
            "created": _STR,
        },
        ["_id", "customer", "number", "name"],
    ),
    "ExtensionCreate": {
        **_obj(
            {
                "customer": ID_SCHEMA,
                "number": NUMBER_SCHEMA,
                "name": {"type": "string", "maxLength": 200},
            },
            ["number"],
        ),
        "additionalProperties": False,
    },
    "ExtensionUpdate": {
        **_obj({"number": NUMBER_SCHEMA, "name": {"type": "string", "maxLength": 200}}),
        "additionalProperties": False,
    },
    "ExtensionList": _list_of("#/components/schemas/Extension"),
    "PickupGroup": _obj(
        {
            "_id": ID_SCHEMA,
            "customer": ID_SCHEMA,
            "name": _STR,
            "number": _STR,
            "members": {
                "type": "array",
                "items": _obj(
                    {"extension": ID_SCHEMA, "controller": {"type": "boolean"}},
                    ["extension", "controller"],
                ),
            },
        },
        ["_id", "customer", "name", "number", "members"],
    ),
    "PickupGroupCreate": {
        **_obj(
            {
                "customer": ID_SCHEMA,
                "name": {"type": "string", "minLength": 1, "maxLength": 200},
                "number": {"type": "string", "pattern": "^[0-9*#]{0,64}$"},
                "members": {
                    "type": "array",
                    "maxItems": 500,
                    "items": {
                        **_obj(
                            {"extension": ID_SCHEMA, "controller": {"type": "boolean"}},
                            ["extension"],
                        ),
                        "additionalProperties": False,
                    },
                },
            },
            ["name"],
        ),
        "additionalProperties": False,
    },
    "PickupGroupList": _list_of("#/components/schemas/PickupGroup"),
    "Queue": _obj(
        {"_id": ID_SCHEMA, "customer": ID_SCHEMA, "name": _STR, "number": _STR},
        ["_id", "customer", "name", "number"],
    ),
    "QueueCreate": {
        **_obj(
            {
                "customer": ID_SCHEMA,
                "name": {"type": "string", "minLength": 1, "maxLength": 200},
                "number": {"type": "string", "pattern": "^[0-9*#]{0,64}$"},
            },
            ["name"],
        ),
        "additionalProperties": False,
    },
    "QueueList": _list_of("#/components/schemas/Queue"),
    "Token": _obj(
        {
            "_id": ID_SCHEMA,
            "level": {"enum": ["VIEWER", "MANAGER", "OWNER", "RESELLER", "ADMIN"]},
            "name": _STR,
            "created": _STR,
            "customer": ID_SCHEMA,
            "reseller": ID_SCHEMA,
            "lastUsed": _STR,
            "token": _STR,
        },
        ["_id", "level", "name", "created"],
    ),
    "TokenCreated": _obj(
        {
            "_id": ID_SCHEMA,
            "level": {"enum": ["VIEWER", "MANAGER", "OWNER", "RESELLER", "ADMIN"]},
            "name": _STR,
            "created": _STR,
            "customer": ID_SCHEMA,
            "reseller": ID_SCHEMA,
            "token": {
                "type": "string",
                "description": "The bearer token itself: in this response only, never again",
            },
        },
        ["_id", "level", "name", "created", "token"],
    ),
    "TokenCreate": {
        **_obj(
            {
                "level": {"enum": ["VIEWER", "MANAGER", "OWNER", "RESELLER", "ADMIN"]},
                "customer": ID_SCHEMA,
                "reseller": ID_SCHEMA,
                "name": {"type": "string", "maxLength": 200},
            },
            ["level"],
        ),
        "additionalProperties": False,
    },
    "TokenList": _list_of("#/components/schemas/Token"),
}
