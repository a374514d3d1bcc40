"""The provisioning file server as a component: adds `GET /prov/{tail}` to the app.

At start, every phone record that has no web admin password yet gets one
(`provisioning.phones.webpassword.backfill`). Stateful parts live here for the service's
lifetime: the custom-template store (loaded, then kept current by `sipfleet_templates`
notifications), the batched fetch recorder (flushed on stop) and the scanner throttle.
The server is also put on `ctx.hub.fileserver` so the template API can reload the store at
once after a write on this node.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from provisioning.app.context import ServiceContext
from provisioning.config import Settings
from provisioning.fileserver.cache import RenderCache
from provisioning.fileserver.lease import ConnectionLease
from provisioning.fileserver.loader import server_info
from provisioning.fileserver.recorder import FetchRecorder
from provisioning.fileserver.server import FileServer
from provisioning.fileserver.store import TemplateStore
from provisioning.fileserver.throttle import UnknownMacThrottle
from provisioning.phones import webpassword

# Connections the file server keeps for its one read per fetch (of database_pool_size).
LEASED_CONNECTIONS = 2


def add_routes(app: web.Application, server: FileServer) -> None:
    # no HEAD: only a GET is a fetch (recorded, and what phones send)
    app.router.add_get("/prov/{tail:.+}", server.handle, allow_head=False)


def build_server(ctx: ServiceContext, *, http_port: int | None = None) -> FileServer:
    settings: Settings = ctx.settings
    return FileServer(
        settings=settings,
        pool=ctx.pool,
        box=ctx.secret_box,
        gate=ctx.hub.gate,
        server=server_info(settings, http_port=http_port),
        templates=TemplateStore(ctx.pool),
        recorder=FetchRecorder(ctx.pool),
        throttle=UnknownMacThrottle(per_minute=settings.unknown_mac_limit),
        cache=RenderCache(),
        lease=ConnectionLease(ctx.pool, size=LEASED_CONNECTIONS),
        # the node's failed-auth limiter, shared by every worker and with SIP: an address
        # guessing HTTP Basic passwords and SIP digests has one budget, and one ban
        auth_limiter=ctx.hub.sip.authenticator.limiter if ctx.hub.sip is not None else None,
    )


@asynccontextmanager
async def run(ctx: ServiceContext) -> AsyncIterator[FileServer]:
    server = build_server(ctx)
    # records from before web passwords were generated get theirs before any is served
    await webpassword.backfill(ctx.pool, ctx.secret_box)
    await server.templates.start()
    await server.lease.start()
    server.recorder.start()
    ctx.hub.fileserver = server
    add_routes(ctx.app, server)
    try:
        yield server
    finally:
        ctx.hub.fileserver = None
        await server.recorder.stop()
        await server.lease.stop()
        await server.templates.stop()
