"""`GET /metrics` in Prometheus text format, and the REST API latency middleware.

`/metrics` is open by default (scrapers usually sit on a private network); when
`metrics_token` is set it needs `Authorization: Bearer <metrics_token>`, compared in
constant time. The database pool gauge is read at scrape time, as prometheus-client
recommends for values that are cheap to read but costly to track.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from provisioning import appkeys
from provisioning.auth import bearer_token
from provisioning.errors import ApiError, error_response
from sipcore import metrics

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Long-lived streams would only blur the latency histogram.
_UNTIMED_ROUTES = frozenset({"/api/events", "/metrics"})


def _route_label(request: web.Request) -> str:
    """The route template (`/api/tokens/{id}`), never the raw path: bounded label values."""
    route = request.match_info.route
    resource = route.resource
    if resource is None:
        return "unmatched"
    return resource.canonical


@web.middleware
async def latency_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Observe every request's handling time by route, method and status."""
    route = _route_label(request)
    if route in _UNTIMED_ROUTES:
        return await handler(request)
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except ApiError as error:
        status = error.code
        raise
    except web.HTTPException as error:
        status = error.status
        raise
    finally:
        metrics.API_REQUEST_LATENCY.labels(route, request.method, str(status)).observe(
            time.perf_counter() - started
        )


def _update_pool_gauge(app: web.Application) -> None:
    pool = app[appkeys.POOL]
    size, idle = pool.get_size(), pool.get_idle_size()
    metrics.DB_POOL_CONNECTIONS.labels("in_use").set(size - idle)
    metrics.DB_POOL_CONNECTIONS.labels("idle").set(idle)
    metrics.DB_POOL_CONNECTIONS.labels("max").set(pool.get_max_size())


async def metrics_handler(request: web.Request) -> web.Response:
    expected = request.app[appkeys.SETTINGS].metrics_token
    if expected:
        given = bearer_token(request.headers) or ""
        # surrogateescape: a header that is no UTF-8 is compared as the bytes it was
        if not hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode()):
            return error_response(
                ApiError(401, "unauthorized", "Missing or invalid metrics bearer token")
            )
    _update_pool_gauge(request.app)
    body = generate_latest(metrics.REGISTRY)
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/metrics", metrics_handler)
    app.middlewares.append(latency_middleware)
