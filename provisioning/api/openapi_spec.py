"""The OpenAPI 3.1 document of sipfleet's REST API: its paths and operations.

Every `/api` route the running app registers appears in the document: the inventory
routes and `/api/tokens` with full schemas (`provisioning.api.openapi_schemas`), routes of
other modules that this file does not describe with a generic operation (so a route is
never missing from the document).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from provisioning.api.openapi_schemas import ID_SCHEMA, NUMBER_SCHEMA, SCHEMAS

_ERROR_DESCRIPTIONS = {
    400: "Request body unreadable, or nested deeper than 32 levels",
    401: "Missing or invalid bearer token",
    403: "Insufficient access level",
    404: "Not found (also another tenant's object)",
    409: "Conflict with stored data",
    413: "Request body larger than 1 MiB",
    422: "Invalid request (one error, or `multiple` with all of them)",
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
    ("cursor", ID_SCHEMA),
)
_ID_PARAM = {"name": "id", "in": "path", "required": True, "schema": ID_SCHEMA}
_PHONE_FILTERS = (
    ("customer", ID_SCHEMA),
    ("extension", ID_SCHEMA),
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
        query=(
            ("name", {"type": "string", "minLength": 1, "maxLength": 64}),
            ("customer", ID_SCHEMA),
        ),
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
                query=(("customer", ID_SCHEMA), *_PAGING),
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
    by_customer = (("customer", ID_SCHEMA), *_PAGING)
    paths.update(
        _collection(
            "/api/extensions",
            "extension",
            "Extension",
            create="ExtensionCreate",
            list_query=(*by_customer, ("number", NUMBER_SCHEMA)),
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
            "description": "Phone inventory, provisioning and live status. Errors: "
            "{code, message, description}; several validation errors: 422 `multiple` "
            "with `errors`.",
        },
        "servers": [{"url": "/"}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
