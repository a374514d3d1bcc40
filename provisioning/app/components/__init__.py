"""The service's components, started in the order of `COMPONENTS`, stopped in reverse.

A component is a function `run(ctx: ServiceContext)` returning an async context manager:
it starts on enter (and may add HTTP routes to `ctx.app`, which is not frozen yet, and put
its live object on `ctx.hub`) and stops on exit. Adding a component is one line here.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from provisioning.app.components import (
    change_sync,
    fileserver,
    gate,
    live,
    presence,
    redirect,
    sip,
)
from provisioning.app.context import ServiceContext

Component = Callable[[ServiceContext], AbstractAsyncContextManager[Any]]

COMPONENTS: tuple[Component, ...] = (
    gate.run,  # first: the SIP service and the file server admit through it
    sip.run,
    presence.run,  # on the SIP service
    live.run,
    fileserver.run,  # reads the SIP service's failed-auth limiter
    change_sync.run,  # barriers over the SIP directory and the file server's records
    redirect.run,
)
