"""The redirect-service runner as a component (`provisioning.redirect.runner`).

Every worker process runs one; they share the work through the database. The first
worker of each node also brings the fleet in line with the configured services at start
(an account added or removed since the records were last changed). The running runner is
put on `ctx.hub.redirects` so that the API can wake it after queuing work.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from provisioning.app.context import ServiceContext
from provisioning.redirect.runner import RedirectRunner


@asynccontextmanager
async def run(ctx: ServiceContext) -> AsyncIterator[RedirectRunner]:
    runner = RedirectRunner(ctx.pool, ctx.settings, ctx.secret_box, reconcile=ctx.worker_index == 0)
    await runner.start()
    ctx.hub.redirects = runner
    try:
        yield runner
    finally:
        ctx.hub.redirects = None
        await runner.stop()
