"""The provisioning file server as a component: adds `GET /prov/{tail}` to the app.

Stateful parts live here for the service's lifetime: the custom-template store (loaded,
then kept current by `sipfleet_templates` notifications), the batched fetch recorder
(flushed on stop) and the scanner throttle. They are also put on `ctx.hub.extras["prov"]`
so the template API can reload the store at once after a write on this node.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from provisioning.components import ServiceContext
from provisioning.config import Settings
from provisioning.prov.loader import server_info
from provisioning.prov.recorder import FetchRecorder
from provisioning.prov.server import ProvServer
from provisioning.prov.store import TemplateStore
from provisioning.prov.throttle import UnknownMacThrottle

HUB_KEY = "prov"


def add_routes(app: web.Application, server: ProvServer) -> None:
    app.router.add_get("/prov/{tail:.+}", server.handle)


def build_server(ctx: ServiceContext, *, http_port: int | None = None) -> ProvServer:
    settings: Settings = ctx.settings
    return ProvServer(
        settings=settings,
        pool=ctx.pool,
        box=ctx.secret_box,
        hub=ctx.hub,
        server=server_info(settings, http_port=http_port),
        templates=TemplateStore(ctx.pool),
        recorder=FetchRecorder(ctx.pool),
        throttle=UnknownMacThrottle(per_minute=settings.unknown_mac_limit),
    )


@asynccontextmanager
async def run(ctx: ServiceContext) -> AsyncIterator[ProvServer]:
    server = build_server(ctx)
    await server.templates.start()
    server.recorder.start()
    ctx.hub.extras[HUB_KEY] = server
    add_routes(ctx.app, server)
    try:
        yield server
    finally:
        ctx.hub.extras.pop(HUB_KEY, None)
        await server.recorder.stop()
        await server.templates.stop()
