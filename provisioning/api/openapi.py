"""`/api/openapi.json`: the OpenAPI 3.1 document of the REST API (no token needed).

Built once per app from the field table and the routes the app really registered, so
every `/api` route is in it.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from provisioning.api.openapi_spec import build_document

_DOCUMENT: web.AppKey[dict[str, Any]] = web.AppKey("openapi_document")


def app_routes(app: web.Application) -> list[tuple[str, str]]:
    """(method, path template) of every route registered on the app."""
    found = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        if isinstance(path, str):
            found.append((route.method, path))
    return found


async def _build(app: web.Application) -> None:
    """At startup every route module has registered its routes."""
    app[_DOCUMENT] = build_document(app_routes(app))


async def openapi_document(request: web.Request) -> web.Response:
    return web.json_response(request.app[_DOCUMENT])


def setup(app: web.Application) -> None:
    app.router.add_get("/api/openapi.json", openapi_document)
    app.on_startup.append(_build)
