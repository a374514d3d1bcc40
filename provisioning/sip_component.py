"""The SIP service as a component: binds the listeners of `sip_listen`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from provisioning.components import ComponentError, ServiceContext
from sipcore.server.listeners import ListenError, ListenSpec, bind_listeners


@asynccontextmanager
async def run(ctx: ServiceContext) -> AsyncIterator[None]:
    specs = [
        ListenSpec(transport=item.transport, host=item.host, port=item.port)
        for item in ctx.settings.sip_listeners
    ]
    try:
        bound = await bind_listeners(specs, ctx.ssl_context)
    except ListenError as exc:
        raise ComponentError(str(exc)) from None
    ctx.hub.sip = bound
    try:
        yield
    finally:
        await bound.close()
