"""`/api/pbx/sipphonemodel`: the model catalogue that `sipPhoneModel` refers to (VIEWER+)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from db import phone_models as queries
from db.phone_models import PhoneModel
from provisioning import appkeys
from provisioning.api.common import json_response
from provisioning.api.customers import page, page_params
from provisioning.app import authenticate
from provisioning.auth import Level
from provisioning.errors import ApiError, not_found

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


def setup(app: web.Application) -> None:
    app.router.add_get("/api/pbx/sipphonemodel", list_models)
    app.router.add_get("/api/pbx/sipphonemodel/{id}", get_model)
