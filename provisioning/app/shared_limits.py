"""The shared memory of a node's worker processes (`sipcore.server.sharedmem`): the failed-auth
counts and bans (`sipcore.server.registrar.limiter`) and the unknown-MAC throttle
(`provisioning.fileserver.throttle`). The supervisor creates the regions once, before it starts
the workers, and hands each worker their descriptors with its sockets; a restarted worker
gets the same regions back, with what they hold."""

from __future__ import annotations

from provisioning.config import Settings
from provisioning.fileserver import throttle
from sipcore.server.registrar import limiter
from sipcore.server.sharedmem import Region


def create_regions(settings: Settings) -> dict[str, Region]:
    """One region per shared limit, sized for these settings."""
    return {
        limiter.REGION_NAME: Region.create(
            limiter.REGION_NAME,
            limiter.SharedFailureLimiter.region_size(settings.auth_failure_limit),
        ),
        throttle.REGION_NAME: Region.create(
            throttle.REGION_NAME, throttle.UnknownMacThrottle.region_size()
        ),
    }
