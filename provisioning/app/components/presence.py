"""The presence notifier as a component: builds `PresenceService` on the SIP service.

Needs `ctx.hub.sip` (the SIP service of `provisioning.app.components.sip`, listed before this
one in COMPONENTS). Sets `ctx.hub.presence`, which the REST route
`POST /api/presence/{number}` uses to fan a pushed state out on this node at once.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from provisioning.app.context import ComponentError, ServiceContext
from sipcore.server.presence.service import PresenceConfig, PresenceService

log = logging.getLogger(__name__)


def node_key(ctx: ServiceContext) -> str:
    """Stable across restarts of this node, distinct between nodes sharing a database and
    between worker processes sharing the ports: a worker resumes only the subscriptions
    whose answers the kernel sends to it (the registrar's node id)."""
    return ctx.node_id()


@asynccontextmanager
async def run(ctx: ServiceContext) -> AsyncIterator[None]:
    sip = ctx.hub.sip
    if sip is None:
        raise ComponentError("presence: the SIP service is not running (sip_component first)")
    if not hasattr(sip, "register_method"):  # SIP listeners without a request dispatcher
        log.warning("presence: the SIP service takes no SUBSCRIBE/PUBLISH; presence is off")
        yield
        return
    settings = ctx.settings
    config = PresenceConfig(
        realm=settings.realm,
        node=node_key(ctx),
        min_expires=settings.min_expires,
        max_expires=settings.subscription_max_expires,
        default_expires=min(3600, settings.subscription_max_expires),
        notify_min_interval=settings.notify_min_interval_ms / 1000.0,
        max_per_phone=settings.subscriptions_per_phone,
        max_per_resource=settings.subscriptions_per_resource,
    )
    service = PresenceService(sip=sip, pool=ctx.pool, config=config)
    await service.start()
    ctx.hub.presence = service
    try:
        yield
    finally:
        ctx.hub.presence = None
        await service.stop()
