"""`/api/phone_models` (the catalogue, by template) and `/api/phone_models/{filename}` (the
profile of a template: the settings it uses), 001. VIEWER+; the catalogue is global.

The profile is what an operator needs to know before writing a phone record for a template:
which `phone.*` settings it reads (e.g. `phone.device.timezone`, `phone.softkeys`), which
models use it, and whether a custom template overrides the built-in.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from db import provisioning as prov_db
from db.provisioning import CatalogueModel
from provisioning import appkeys
from provisioning.api.access import authenticate
from provisioning.api.common import json_response
from provisioning.auth import Level
from provisioning.errors import ApiError
from provisioning.vendors import render

_FILENAME = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


def model_json(model: CatalogueModel) -> dict[str, Any]:
    body: dict[str, Any] = {
        "_id": model.id,
        "name": model.name,
        "vendor": model.vendor,
        "model": model.model,
        "kind": model.kind,
        "template": model.template,
        "line_keys": model.line_keys,
        "accounts": model.accounts,
        "softkey_functions": list(model.softkey_functions),
        "side_panel_model": model.side_panel_model,
        "max_side_panels": model.max_side_panels,
        "side_panel_keys": model.side_panel_keys,
        "dect_max_handsets": model.dect_max_handsets,
        "config_files": list(model.config_files),
        "features": model.features,
        "firmware_url": model.firmware_url,
        "firmware_version": model.firmware_version,
    }
    return {k: v for k, v in body.items() if v is not None}


async def list_models(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    principal.require(Level.VIEWER)
    async with request.app[appkeys.POOL].acquire() as conn:
        models = await prov_db.catalogue(conn)
    return json_response({"items": [model_json(m) for m in models], "next": None})


def _overrides(request: web.Request) -> Any:
    server = request.app[appkeys.HUB].fileserver
    return server.templates.overrides if server is not None else {}


async def get_profile(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    principal.require(Level.VIEWER)
    filename = request.match_info["filename"]
    overrides = _overrides(request)
    builtin = filename in render.builtin_templates()
    if not _FILENAME.match(filename) or not (builtin or filename in overrides):
        raise ApiError(404, "filename", "Template not found")
    try:
        profile = render.template_profile(filename, overrides=overrides)
    except render.TemplateError as error:
        raise ApiError(422, "filename", f"Template does not parse: {error}") from None
    async with request.app[appkeys.POOL].acquire() as conn:
        models = [m.name for m in await prov_db.catalogue(conn) if m.template == filename]
    return json_response(
        {
            "filename": filename,
            "vendor": profile.vendor,
            "custom": filename in overrides,
            "builtin": builtin,
            "models": models,
            "settings": list(profile.settings),
        }
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/api/phone_models", list_models)
    app.router.add_get("/api/phone_models/{filename}", get_profile)
