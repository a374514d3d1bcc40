"""`/api/pbx/sipphonemodel`: the model catalogue that `sipPhoneModel` refers to (VIEWER+).

`POST /api/pbx/sipphonemodel/{id}` sets the firmware a model should run, `firmwareUrl` and
`firmwareVersion` (null clears), written into every config of the model in the vendor's
key (`provisioning/vendors/`). ADMIN only: the catalogue is global, and a firmware URL
makes every customer's phones of the model load what it names. Refused with 422 naming
the field: a model whose vendor has no firmware URL to write (Mitel phones take their
firmware from the configuration server itself), an expansion module (its phone updates
it), a Gigaset URL without the version the base compares.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from db import phone_models as queries
from db.phone_models import PhoneModel
from provisioning import appkeys
from provisioning.api.access import authenticate
from provisioning.api.common import json_response, read_json_object
from provisioning.api.customers import page, page_params
from provisioning.auth import Level
from provisioning.errors import ApiError, not_found, raise_collected
from provisioning.phones.parse import is_http_url

MODEL_NOT_FOUND = "SIP phone model not found"
KINDS = ("desk", "dect", "sidepanel", "softphone")


def model_json(model: PhoneModel) -> dict[str, Any]:
    body: dict[str, Any] = {
        "_id": model.id,
        "name": model.name,
        "vendor": model.vendor,
        "model": model.model,
        "kind": model.kind,
        "lineKeys": model.line_keys,
        "accounts": model.accounts,
        "softkeyFunctions": list(model.softkey_functions),
        "maxSidePanels": model.max_side_panels,
        "sidePanelKeys": model.side_panel_keys,
        "dectMaxHandsets": model.dect_max_handsets,
        "handsetAddressRequired": model.handset_address_required,
        "serialRequired": model.serial_required,
        "features": model.features,
        "firmwareUrl": model.firmware_url,
        "firmwareVersion": model.firmware_version,
    }
    if model.side_panel_model:
        body["sidePanelModel"] = model.side_panel_model
    return body


async def list_models(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    principal.require(Level.VIEWER)
    limit, cursor = page_params(request)
    vendor = request.query.get("vendor")
    if vendor is not None and (not vendor.isalnum() or len(vendor) > 32):
        raise ApiError(422, "vendor", "Vendor is invalid")
    kind = request.query.get("kind")
    if kind is not None and kind not in KINDS:
        raise ApiError(422, "kind", "Kind must be one of " + ", ".join(KINDS))
    async with request.app[appkeys.POOL].acquire() as conn:
        found = await queries.list_models(conn, vendor=vendor, kind=kind, after=cursor, limit=limit)
    return json_response(page([model_json(m) for m in found], limit))


async def get_model(request: web.Request) -> web.Response:
    """By id, or by catalogue name (`yealink-t54w`)."""
    principal = await authenticate(request)
    principal.require(Level.VIEWER)
    key = request.match_info["id"]
    if len(key) > 64:
        raise not_found(MODEL_NOT_FOUND)
    async with request.app[appkeys.POOL].acquire() as conn:
        model = await queries.model_by_id_or_name(conn, key)
    if model is None:
        raise not_found(MODEL_NOT_FOUND)
    return json_response(model_json(model))


_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")
_NO_FIRMWARE_URL = frozenset({"mitel"})
_NEEDS_VERSION = frozenset({"gigaset"})
FIRMWARE_FIELDS = ("firmwareUrl", "firmwareVersion")


def _firmware_values(body: dict[str, Any]) -> dict[str, str | None]:
    errors = [ApiError(422, key, "Unknown field") for key in body if key not in FIRMWARE_FIELDS]
    values: dict[str, str | None] = {}
    url = body.get("firmwareUrl")
    if "firmwareUrl" in body:
        if url is not None and not is_http_url(url):
            invalid = "URL is invalid, must begin with http: or https:"
            errors.append(ApiError(422, "firmwareUrl", invalid))
        values["firmwareUrl"] = url
    version = body.get("firmwareVersion")
    if "firmwareVersion" in body:
        if version is not None and not (isinstance(version, str) and _VERSION.match(version)):
            errors.append(
                ApiError(422, "firmwareVersion", "Version must be 1-64 of A-Z a-z 0-9 . _ + -")
            )
        values["firmwareVersion"] = version
    raise_collected(errors)
    return values


def _firmware_errors(model: PhoneModel, url: str | None, version: str | None) -> list[ApiError]:
    if url is None:
        return []
    if model.kind == "sidepanel" or model.vendor in _NO_FIRMWARE_URL:
        return [ApiError(422, "firmwareUrl", f"Firmware URLs are not supported by {model.name}")]
    if model.vendor in _NEEDS_VERSION and version is None:
        return [
            ApiError(
                422, "firmwareVersion", f"{model.name} needs the firmware's version with its URL"
            )
        ]
    return []


async def update_model(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    principal.require(Level.ADMIN)
    key = request.match_info["id"]
    body = await read_json_object(request)
    values = _firmware_values(body)
    async with request.app[appkeys.POOL].acquire() as conn, conn.transaction():
        model = await queries.model_by_id_or_name(conn, key) if len(key) <= 64 else None
        if model is None:
            raise not_found(MODEL_NOT_FOUND)
        url = values.get("firmwareUrl", model.firmware_url)
        version = values.get("firmwareVersion", model.firmware_version)
        raise_collected(_firmware_errors(model, url, version))
        changed = await queries.set_firmware(conn, model.id, url, version)
    assert changed is not None
    return json_response(model_json(changed))


def setup(app: web.Application) -> None:
    app.router.add_get("/api/pbx/sipphonemodel", list_models)
    app.router.add_get("/api/pbx/sipphonemodel/{id}", get_model)
    app.router.add_post("/api/pbx/sipphonemodel/{id}", update_model)
