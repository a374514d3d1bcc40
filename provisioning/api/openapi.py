"""`/api/openapi.json`: the OpenAPI 3 document of the REST API (no token needed)."""

from __future__ import annotations

from aiohttp import web

from provisioning.api.openapi_spec import build_document


async def openapi_document(request: web.Request) -> web.Response:
    return web.json_response(build_document())


def setup(app: web.Application) -> None:
    app.router.add_get("/api/openapi.json", openapi_document)
