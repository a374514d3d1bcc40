"""Route module of the live view: event stream, session, fleet reads, dashboard, metrics.

Registered in `provisioning.app.http.ROUTES`. The event fan-out normally comes from
`provisioning.app.components.live` (on `app[HUB].events`); an app made without the service
(tests, tools) starts its own at the first stream request, so `/api/events` works
wherever the app runs.
Open streams are closed on shutdown, before aiohttp waits for in-flight handlers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from provisioning import appkeys
from provisioning.live import dashboard, fleet, metrics_route, session, stream
from provisioning.live.fanout import EventFanout


async def _stop_own_fanout(app: web.Application) -> AsyncIterator[None]:
    yield
    hub = app[appkeys.HUB]
    owned, hub.owned_events = hub.owned_events, None
    if isinstance(owned, EventFanout):
        await owned.stop()
        if hub.events is owned:
            hub.events = None


async def _close_streams(app: web.Application) -> None:
    fanout = app[appkeys.HUB].events
    if isinstance(fanout, EventFanout):
        fanout.close_streams()


def setup(app: web.Application) -> None:
    stream.setup_routes(app)
    session.setup_routes(app)
    fleet.setup_routes(app)
    dashboard.setup_routes(app)
    metrics_route.setup_routes(app)
    app.cleanup_ctx.append(_stop_own_fanout)
    app.on_shutdown.append(_close_streams)
