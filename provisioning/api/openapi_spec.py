"""The OpenAPI 3.1 document of sipfleet's REST API.

The SIP phone schemas are derived from the field table (`provisioning.phones.fields`) that
validation and rendering use, so the document cannot drift from the code. Every `/api`
route the running app registers appears in the document: the inventory routes and
`/api/tokens` with full schemas, routes of other modules that this file does not describe
with a generic operation (so a route is never missing from the document).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from provisioning.phones.fields import PHONE_FIELDS, ListOf, Scalar, Spec

_ID = {"type": "string", "pattern": "^[0-9a-fA-F]{24}$"}
_MASKS = [
    ".".join(str((((0xFFFFFFFF << (32 - n)) & 0xFFFFFFFF) >> s) & 0xFF) for s in (24, 16, 8, 0))
    for n in range(33)
]
_ERROR_DESCRIPTIONS = {
    400: "Request body unreadable, or nested deeper than 32 levels",
    401: "Missing or invalid bearer token",
    403: "Insufficient access level",
    404: "Not found (also another tenant's object)",
    409: "Conflict with stored data",
    413: "Request body larger than 1 MiB",
    422: "Invalid request (one error, or `multiple` with all of them)",
}


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
        schema = dict(_ID)
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
        schema = {"anyOf": [number, dict(_ID) if not output else {"type": "string"}]}
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
        properties["_id"] = {**_ID, "description": "The phone (POST /api/pbx/sipphone)."}
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if creating:
        schema["required"] = ["sipPhoneModel"]
    return schema


def _phone_output() -> dict[str, Any]:
    properties: dict[str, Any] = {"_id": _ID}
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
_NUMBER = {"type": "string", "pattern": "^[0-9]{3,64}$"}
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
    "Deleted": _obj({"_id": _ID, "deleted": {"type": "boolean"}}, ["_id", "deleted"]),
    "SipPhone": _phone_output(),
    "SipPhoneCreate": _phone_input(creating=True),
    "SipPhoneUpdate": _phone_input(creating=False),
    "SipPhoneList": _list_of("#/components/schemas/SipPhone"),
    "Redirect": _redirect("nextAttempt"),
    "DectPhone": {
        "type": "object",
        "required": ["_id", "customer", "name", "mac", "model"],
        "properties": {
            "_id": _ID,
            "customer": _ID,
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
            "_id": _ID,
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
            "_id": _ID,
            "customer": _ID,
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
        {"_id": _ID, "name": _STR, "active": {"type": "boolean"}, "reseller": _ID, "created": _STR},
        ["_id", "name", "active"],
    ),
    "CustomerCreate": {
        **_obj(
            {
                "name": {"type": "string", "minLength": 1, "maxLength": 200},
                "active": {"type": "boolean"},
                "reseller": _ID,
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
        {"_id": _ID, "customer": _ID, "number": _NUMBER, "name": _STR, "created": _STR},
        ["_id", "customer", "number", "name"],
    ),
    "ExtensionCreate": {
        **_obj(
            {"customer": _ID, "number": _NUMBER, "name": {"type": "string", "maxLength": 200}},
            ["number"],
        ),
        "additionalProperties": False,
    },
    "ExtensionUpdate": {
        **_obj({"number": _NUMBER, "name": {"type": "string", "maxLength": 200}}),
        "additionalProperties": False,
    },
    "ExtensionList": _list_of("#/components/schemas/Extension"),
    "PickupGroup": _obj(
        {
            "_id": _ID,
            "customer": _ID,
            "name": _STR,
            "number": _STR,
            "members": {
                "type": "array",
                "items": _obj(
                    {"extension": _ID, "controller": {"type": "boolean"}},
                    ["extension", "controller"],
                ),
            },
        },
        ["_id", "customer", "name", "number", "members"],
    ),
    "PickupGroupCreate": {
        **_obj(
            {
                "customer": _ID,
                "name": {"type": "string", "minLength": 1, "maxLength": 200},
                "number": {"type": "string", "pattern": "^[0-9*#]{0,64}$"},
                "members": {
                    "type": "array",
                    "maxItems": 500,
                    "items": {
                        **_obj(
                            {"extension": _ID, "controller": {"type": "boolean"}}, ["extension"]
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
        {"_id": _ID, "customer": _ID, "name": _STR, "number": _STR},
        ["_id", "customer", "name", "number"],
    ),
    "QueueCreate": {
        **_obj(
            {
                "customer": _ID,
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
            "_id": _ID,
            "level": {"enum": ["VIEWER", "MANAGER", "OWNER", "RESELLER", "ADMIN"]},
            "name": _STR,
            "created": _STR,
            "customer": _ID,
            "reseller": _ID,
            "lastUsed": _STR,
            "token": _STR,
        },
        ["_id", "level", "name", "created"],
    ),
    "TokenCreated": _obj(
        {
            "_id": _ID,
            "level": {"enum": ["VIEWER", "MANAGER", "OWNER", "RESELLER", "ADMIN"]},
            "name": _STR,
            "created": _STR,
            "customer": _ID,
            "reseller": _ID,
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
                "customer": _ID,
                "reseller": _ID,
                "name": {"type": "string", "maxLength": 200},
            },
            ["level"],
        ),
        "additionalProperties": False,
    },
    "TokenList": _list_of("#/components/schemas/Token"),
}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _responses(ok: int, schema: str, errors: Iterable[int]) -> dict[str, Any]:
    responses: dict[str, Any] = {
        str(ok): {
            "description": "Success",
            "content": {"application/json": {"schema": _ref(schema)}},
        }
    }
    for code in (401, *errors):
        responses[str(code)] = {
            "description": _ERROR_DESCRIPTIONS[code],
            "content": {"application/json": {"schema": _ref("Error")}},
        }
    return responses


def _op(
    summary: str,
    ok: int,
    schema: str,
    errors: Iterable[int],
    *,
    body: str | None = None,
    query: Iterable[tuple[str, dict[str, Any]]] = (),
) -> dict[str, Any]:
    if body is not None:  # any body may be refused as unreadable, too deep or too large
        errors = (400, *errors, 413)
    operation: dict[str, Any] = {
        "summary": summary,
        "responses": _responses(ok, schema, errors),
        "security": [{"bearer": []}],
    }
    if body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(body)}},
        }
    parameters = [
        {"name": name, "in": "query", "required": False, "schema": value} for name, value in query
    ]
    if parameters:
        operation["parameters"] = parameters
    return operation


_PAGING = (
    ("limit", {"type": "integer", "minimum": 1, "maximum": 1000}),
    ("cursor", _ID),
)
_ID_PARAM = {"name": "id", "in": "path", "required": True, "schema": _ID}
_PHONE_FILTERS = (
    ("customer", _ID),
    ("extension", _ID),
    ("online", {"enum": ["true", "false"]}),
    ("macAddress", {"type": "string", "pattern": "^[0-9A-Fa-f]{12}$"}),
    *_PAGING,
)
_PHONE_WRITE_ERRORS = (403, 404, 409, 422)


def _collection(
    path: str, noun: str, schema: str, *, create: str | None, list_query: Any = _PAGING
) -> dict[str, Any]:
    operations: dict[str, Any] = {
        "get": _op(f"List {noun}s", 200, f"{schema}List", (403, 422), query=list_query)
    }
    if create is not None:
        operations["post"] = _op(f"Create a {noun}", 201, schema, (403, 404, 409, 422), body=create)
    return {path: operations}


def _item(path: str, noun: str, schema: str, *, update: str | None) -> dict[str, Any]:
    operations: dict[str, Any] = {
        "parameters": [_ID_PARAM],
        "get": _op(f"Read a {noun}", 200, schema, (403, 404)),
        "delete": _op(f"Delete a {noun}", 200, "Deleted", (403, 404)),
    }
    if update is not None:
        operations["post"] = _op(f"Update a {noun}", 200, schema, (403, 404, 409, 422), body=update)
    return {path: operations}


def _phone_paths() -> dict[str, Any]:
    return {
        "/api/pbx/sipphone": {
            "put": _op(
                "Create a SIP phone (003)",
                201,
                "SipPhone",
                _PHONE_WRITE_ERRORS,
                body="SipPhoneCreate",
            ),
            "get": _op("List SIP phones", 200, "SipPhoneList", (403, 422), query=_PHONE_FILTERS),
            "post": _op(
                "Update the SIP phone named by `_id` (003)",
                200,
                "SipPhone",
                _PHONE_WRITE_ERRORS,
                body="SipPhoneUpdate",
            ),
        },
        "/api/pbx/sipphone/{id}": {
            "parameters": [_ID_PARAM],
            "get": _op("Read a SIP phone (002)", 200, "SipPhone", (403, 404)),
            "post": _op(
                "Partially update a SIP phone (003)",
                200,
                "SipPhone",
                _PHONE_WRITE_ERRORS,
                body="SipPhoneUpdate",
            ),
            "delete": _op("Delete a SIP phone", 200, "Deleted", (403, 404)),
        },
        "/api/pbx/sipphone/{id}/redirect": {
            "parameters": [_ID_PARAM],
            "post": {
                **_op(
                    "Retry the registration with the vendor's redirect service",
                    202,
                    "SipPhone",
                    (403, 404, 409),
                ),
                "description": "MANAGER and above. What failed or waits is due again at once "
                "with fresh attempts; the answer shows `redirect` as queued. 409 when nothing "
                "can be retried: no registration is wanted (`rps` off), or its service has "
                "no account configured or no API (the description says which).",
            },
        },
        "/api/pbx/sipphone/{id}/resetcredentials": {
            "parameters": [_ID_PARAM],
            "get": _op(
                "New SIP credentials; registrations dropped (004)", 200, "SipPhone", (403, 404)
            ),
            "post": _op("Same as GET", 200, "SipPhone", (403, 404)),
        },
    }


def _model_paths() -> dict[str, Any]:
    return {
        "/api/pbx/sipphonemodel": {
            "get": _op(
                "List the model catalogue",
                200,
                "SipPhoneModelList",
                (403, 422),
                query=(
                    ("vendor", {"type": "string", "pattern": "^[a-z]{1,32}$"}),
                    ("kind", {"enum": ["desk", "dect", "sidepanel", "softphone"]}),
                    *_PAGING,
                ),
            ),
        },
        "/api/pbx/sipphonemodel/{id}": {
            "parameters": [
                {
                    "name": "id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "pattern": "^[a-z0-9-]{1,64}$"},
                }
            ],
            "get": _op("Read a model by id or name", 200, "SipPhoneModel", (403, 404)),
            "post": {
                **_op(
                    "Set the model's firmware (ADMIN)",
                    200,
                    "SipPhoneModel",
                    (403, 404, 422),
                    body="SipPhoneModelUpdate",
                ),
                "description": "`firmwareUrl` / `firmwareVersion` (null clears), written into "
                "every config of the model in its vendor's key. 422 naming the field for a "
                "vendor without a firmware URL to write (Mitel), an expansion module, or a "
                "Gigaset URL without its version.",
            },
        },
    }


def _ringtone_paths() -> dict[str, Any]:
    upload = _op(
        "Upload a ringtone (MANAGER and above)",
        201,
        "Ringtone",
        (400, 403, 404, 413, 422),
        query=(("name", {"type": "string", "minLength": 1, "maxLength": 64}), ("customer", _ID)),
    )
    upload["description"] = (
        "The body is the WAV file itself. Taken: RIFF/WAVE, mono, 16-bit PCM at 8000 or "
        "16000 Hz or G.711 µ-law / A-law at 8000 Hz, at most 1 MiB; anything else is 422 "
        "`file` naming what is wrong (413 `file` when larger). `customer` is needed when "
        "the token sees several customers. Use the answer's `_id` as a phone's "
        "`ringer.tone` where its model plays that format (catalogue "
        "`features.customRingtones`)."
    )
    upload["requestBody"] = {
        "required": True,
        "content": {
            kind: {"schema": {"type": "string", "format": "binary"}}
            for kind in ("audio/wav", "audio/x-wav", "application/octet-stream")
        },
    }
    read_file = _op("Download the ringtone's WAV file", 200, "Ringtone", (403, 404))
    read_file["responses"]["200"] = {
        "description": "The WAV file",
        "content": {"audio/wav": {"schema": {"type": "string", "format": "binary"}}},
    }
    return {
        "/api/ringtones": {
            "post": upload,
            "get": _op(
                "List ringtones",
                200,
                "RingtoneList",
                (403, 422),
                query=(("customer", _ID), *_PAGING),
            ),
        },
        "/api/ringtones/{id}": {
            "parameters": [_ID_PARAM],
            "get": _op("Read a ringtone", 200, "Ringtone", (403, 404)),
            "delete": {
                **_op("Delete a ringtone", 200, "Deleted", (403, 404, 409)),
                "description": "409 `id` while a phone's `ringer.tone` names it.",
            },
        },
        "/api/ringtones/{id}/file": {"parameters": [_ID_PARAM], "get": read_file},
    }


def _described_paths() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    paths.update(_phone_paths())
    paths.update(_model_paths())
    paths.update(_ringtone_paths())
    paths["/api/dect_phones/{id}/redirect"] = {
        "parameters": [_ID_PARAM],
        "post": _op(
            "Retry the DECT base's registration with its vendor's redirect service",
            202,
            "DectPhone",
            (403, 404, 409),
        ),
    }
    paths.update(_collection("/api/customers", "customer", "Customer", create="CustomerCreate"))
    paths.update(_item("/api/customers/{id}", "customer", "Customer", update="CustomerUpdate"))
    by_customer = (("customer", _ID), *_PAGING)
    paths.update(
        _collection(
            "/api/extensions",
            "extension",
            "Extension",
            create="ExtensionCreate",
            list_query=(*by_customer, ("number", _NUMBER)),
        )
    )
    paths.update(_item("/api/extensions/{id}", "extension", "Extension", update="ExtensionUpdate"))
    paths.update(
        _collection(
            "/api/pickupgroups",
            "pickup group",
            "PickupGroup",
            create="PickupGroupCreate",
            list_query=by_customer,
        )
    )
    paths.update(_item("/api/pickupgroups/{id}", "pickup group", "PickupGroup", update=None))
    paths.update(
        _collection("/api/queues", "queue", "Queue", create="QueueCreate", list_query=by_customer)
    )
    paths.update(_item("/api/queues/{id}", "queue", "Queue", update=None))
    paths.update(_collection("/api/tokens", "token", "Token", create=None, list_query=()))
    paths["/api/tokens"]["post"] = {
        **_op(
            "Create an API token (OWNER and above)",
            201,
            "TokenCreated",
            (403, 404, 422),
            body="TokenCreate",
        ),
        "description": "Up to the caller's own level, for what it sees: an OWNER for its own "
        "customer (implied when `customer` is left out), a RESELLER for its customers and "
        "itself, an ADMIN for anything. Another tenant's customer answers 404. The secret "
        "`token` is returned in this response only. Besides the bearer token, the "
        "dashboard's session cookie authorizes this write when the request carries the "
        "session's `csrf` value (from `/api/session`) in `X-Sipfleet-Csrf`.",
    }
    tokens = _item("/api/tokens/{id}", "token", "Token", update=None)
    paths.update(tokens)
    paths["/api/tokens/{id}/destroy"] = {
        "parameters": [_ID_PARAM],
        "post": _op("Revoke a token", 200, "Deleted", (403, 404)),
    }
    paths["/api/openapi.json"] = {
        "get": {
            "summary": "This document",
            "security": [],
            "responses": {
                "200": {
                    "description": "OpenAPI 3.1 document",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
        }
    }
    return paths


def _generic(method: str, path: str) -> dict[str, Any]:
    """Routes of other modules that this file does not describe in detail."""
    operation: dict[str, Any] = {
        "summary": f"{method} {path}",
        "responses": {"default": {"description": "See the module's documentation"}},
    }
    names = re.findall(r"{(\w+)}", path)
    if names:
        operation["parameters"] = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in names
        ]
    return operation


def build_document(routes: Iterable[tuple[str, str]] = ()) -> dict[str, Any]:
    """The document; `routes` (method, path) of the app adds what is not described here."""
    paths = _described_paths()
    for method, path in routes:
        if not path.startswith("/api/") or method in ("HEAD", "OPTIONS", "*"):
            continue
        operations = paths.setdefault(path, {})
        operations.setdefault(method.lower(), _generic(method, path))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "sipfleet REST API",
            "version": "0.1.0",
            "description": "Phone inventory, provisioning and live status (shared/reference "
            "002/003/004 for /api/pbx). Errors: {code, message, description}; several "
            "validation errors: 422 `multiple` with `errors`.",
        },
        "servers": [{"url": "/"}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
