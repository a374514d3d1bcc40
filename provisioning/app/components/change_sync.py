"""Read-your-writes for the REST API, as a component.

A call that changes state answers only once every in-memory copy of phone state — the
SIP directory and the file server's records of every worker of every node on this
database — has applied the change (`sipcore.server.nodes.change_sync`). So when the API says
"done", a new phone registers at once, reset credentials and deletions are in force, a
LOCKED policy refuses other addresses, and the next fetch serves the new configuration.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from aiohttp import web

from provisioning.app.context import ServiceContext
from sipcore.server.nodes.change_sync import ChangeBarrier

_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def changes_state(request: web.Request) -> bool:
    """API calls that may change state: every write method, and the GET of
    resetcredentials that the API allows."""
    path = request.path
    if not path.startswith("/api/"):
        return False
    return request.method in _CHANGING or path.endswith("/resetcredentials")


def barrier_middleware(barrier: ChangeBarrier) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def wait_applied(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        if response.status < 400 and changes_state(request):
            await barrier.wait()
        return response

    return wait_applied


@asynccontextmanager
async def run(ctx: ServiceContext) -> AsyncIterator[ChangeBarrier]:
    barrier = ChangeBarrier(ctx.pool)
    await barrier.start()
    ctx.app.middlewares.append(barrier_middleware(barrier))
    try:
        yield barrier
    finally:
        await barrier.stop()
