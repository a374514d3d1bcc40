"""The aiohttp application: REST API under /api, provisioning under /prov, dashboard at /.

Each route family lives in its own module with a `setup(app)` function; `ROUTE_MODULES`
lists them in the order they are registered.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from aiohttp import web

from db import errors as db_errors
from db import pool as db_pool
from provisioning import appkeys
from provisioning.api.common import MAX_BODY_SIZE
from provisioning.auth import Principal, bearer_token, principal_for_token
from provisioning.config import Settings
from provisioning.credentials import SecretBox
from provisioning.errors import ApiError, error_response, unauthorized
from provisioning.hub import ServiceHub

log = logging.getLogger(__name__)

# Route modules: each has `setup(app: web.Application) -> None`.
ROUTE_MODULES: list[str] = [
    "provisioning.api.tokens",
    "provisioning.api.live_routes",
    "provisioning.api.customers",
    "provisioning.api.extensions",
    "provisioning.api.groups",
    "provisioning.api.sipphone_models",
    "provisioning.api.sipphones",
    "provisioning.api.openapi",
    "provisioning.api.presence",
    "provisioning.api.seen_phones",
    "provisioning.api.prov_templates",
    "provisioning.api.phone_models",
    "provisioning.api.dect",
    "provisioning.api.user_phones",
    "provisioning.api.qrcode",
    "provisioning.api.ringtones",
]

DATABASE_UNAVAILABLE = ApiError(
    503, "service_unavailable", "The database is unavailable; try again in a few seconds"
)
_PRINCIPAL = web.RequestKey("sipfleet.principal", Principal)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


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


async def authenticate(request: web.Request, *, changes_state: bool = False) -> Principal:
    """The caller's principal from the bearer token (or the dashboard's session cookie).

    `changes_state`: the handler changes something although its method is safe (the
    reference's `GET …/resetcredentials`). A browser sends the session cookie with any
    navigation to this origin, and the cookie's resolver lets safe methods through, so
    such a request is authorized by a bearer token only: 401 when the cookie is all it has.
    """
    cached = request.get(_PRINCIPAL)
    if isinstance(cached, Principal) and not changes_state:
        return cached
    token = bearer_token(request.headers)
    if token is None:
        resolver = request.app.get(SESSION_RESOLVER)
        token = resolver(request) if resolver is not None else None
        if token is not None and changes_state:
            raise ApiError(
                401,
                "unauthorized",
                "This request changes state: it needs the bearer token "
                "(the dashboard's session cookie does not authorize it)",
            )
    if token is None:
        raise unauthorized()
    async with request.app[appkeys.POOL].acquire() as conn:
        principal = await principal_for_token(conn, token)
    request[_PRINCIPAL] = principal
    return principal


# The dashboard installs a function that turns its session cookie into a token.
SESSION_RESOLVER: web.AppKey[Callable[[web.Request], str | None]] = web.AppKey("session_resolver")


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
    route_modules: list[str] | None = None,
) -> web.Application:
    app = web.Application(middlewares=[error_middleware], client_max_size=MAX_BODY_SIZE)
    app[appkeys.SETTINGS] = settings
    app[appkeys.POOL] = pool
    app[appkeys.SECRET_BOX] = secret_box
    app[appkeys.HUB] = hub or ServiceHub()
    app.router.add_get("/healthz", healthz)
    for name in ROUTE_MODULES if route_modules is None else route_modules:
        importlib.import_module(name).setup(app)
    return app
