"""The IP policy gate as a component: builds `IpGate` from the settings and the pool and
puts it on `ctx.hub.gate`, where the SIP service and the file server find it.

Listed in `COMPONENTS` before the SIP service, so the gate exists when SIP starts. The
GeoIP database (`geoip_database`, or a bundled one) is opened lazily by the first ROAMING
lookup and closed on exit.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from provisioning.app.context import ServiceContext
from provisioning.gate.service import IpGate

log = logging.getLogger(__name__)


@asynccontextmanager
async def run(ctx: ServiceContext) -> AsyncIterator[IpGate]:
    gate = IpGate.from_settings(ctx.settings, ctx.pool)
    if gate.geo.path is None:
        log.info("IP gate: no GeoIP database; ROAMING phones will be denied")
    else:
        log.info("IP gate: GeoIP database %s", gate.geo.path)
    ctx.hub.gate = gate
    try:
        yield gate
    finally:
        if ctx.hub.gate is gate:
            ctx.hub.gate = None
        gate.close()
