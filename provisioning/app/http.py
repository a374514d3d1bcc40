"""The aiohttp application: REST API under /api, provisioning under /prov, dashboard at /.

Each route family lives in its own module with a `setup(app)` function; `ROUTES` lists
them in the order they are registered.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg
from aiohttp import web

from db import errors as db_errors
from db import pool as db_pool
from provisioning import appkeys
from provisioning.api import (
    customers,
    dect,
    extensions,
    groups,
    live_routes,
    openapi,
    phone_models,
    presence,
    prov_templates,
    qrcode,
    ringtones,
    seen_phones,
    sipphone_models,
    sipphones,
    tokens,
    user_phones,
)
from provisioning.api.common import MAX_BODY_SIZE
from provisioning.config import Settings
from provisioning.credentials import SecretBox
from provisioning.errors import ApiError, error_response
from provisioning.hub import ServiceHub

log = logging.getLogger(__name__)

# Every route family's `setup`, in the order they are registered.
ROUTES: tuple[RouteSetup, ...] = (
    tokens.setup,
    live_routes.setup,
    customers.setup,
    extensions.setup,
    groups.setup,
    sipphone_models.setup,
    sipphones.setup,
    openapi.setup,
    presence.setup,
    seen_phones.setup,
    prov_templates.setup,
    phone_models.setup,
    dect.setup,
    user_phones.setup,
    qrcode.setup,
    ringtones.setup,
)

DATABASE_UNAVAILABLE = ApiError(
    503, "service_unavailable", "The database is unavailable; try again in a few seconds"
)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
RouteSetup = Callable[[web.Application], None]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Domain errors become the reference's JSON errors; nothing else leaks."""
    try:
        return await handler(request)
    except ApiError as error:
        return error_response(error)
    except web.HTTPException:
        raise
    except Exception as exc:
        if db_errors.unavailable(exc):  # one line: /healthz and the writer say the rest
            log.warning("%s %s: database unavailable (%s)", request.method, request.path,
                        type(exc).__name__)  # fmt: skip
            response = error_response(DATABASE_UNAVAILABLE)
            response.headers["Retry-After"] = "5"
            return response
        log.exception("internal error on %s %s", request.method, request.path)
        return error_response(ApiError(500, "internal_error", "Internal error"))


async def healthz(request: web.Request) -> web.Response:
    """200 only when the database answers."""
    if await db_pool.ping(request.app[appkeys.POOL]):
        return web.json_response({"status": "ok"})
    return web.json_response({"status": "database unavailable"}, status=503)


def create_app(
    *,
    settings: Settings,
    pool: asyncpg.Pool[Any],
    secret_box: SecretBox,
    hub: ServiceHub | None = None,
    routes: Sequence[RouteSetup] = ROUTES,
) -> web.Application:
    app = web.Application(middlewares=[error_middleware], client_max_size=MAX_BODY_SIZE)
    app[appkeys.SETTINGS] = settings
    app[appkeys.POOL] = pool
    app[appkeys.SECRET_BOX] = secret_box
    app[appkeys.HUB] = hub or ServiceHub()
    app.router.add_get("/healthz", healthz)
    for setup in routes:
        setup(app)
    return app
