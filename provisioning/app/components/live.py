"""The live view as a component: the node's event fan-out (one LISTEN connection).

Sets `ctx.hub.events` to the running `EventFanout`, which every `/api/events` stream of
this node subscribes to; it receives the events of every node through PostgreSQL
LISTEN/NOTIFY.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from provisioning.app.context import ServiceContext
from provisioning.live.fanout import EventFanout


@asynccontextmanager
async def run(ctx: ServiceContext) -> AsyncIterator[EventFanout]:
    fanout = EventFanout(ctx.pool)
    await fanout.start()
    ctx.hub.events = fanout
    try:
        yield fanout
    finally:
        await fanout.stop()
        if ctx.hub.events is fanout:
            ctx.hub.events = None
