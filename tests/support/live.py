"""The live dashboard tests' routes, their two tenants and the event fan-out they start."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

import provisioning.api.live_routes
from provisioning.live.fanout import EventFanout
from tests.support import factories

LIVE_ROUTES = [provisioning.api.live_routes.setup]


@dataclass
class Tenants:
    """Two customers, each with a phone and a VIEWER token, plus an ADMIN token."""

    a: str
    b: str
    phone_a: factories.TestPhone
    phone_b: factories.TestPhone
    token_a: str
    token_b: str
    admin: str


async def start_fanout(pool: asyncpg.Pool[Any], **options: Any) -> EventFanout:
    fanout = EventFanout(pool, **{"heartbeat_seconds": 0.4, "revalidate_seconds": 0.5, **options})
    await fanout.start()
    return fanout


def live_app(settings: Any, pool: asyncpg.Pool[Any], secret_box: Any, *routes: Any,
             hub: Any = None) -> Any:  # fmt: skip
    """The app with the live routes and `routes` (route setups) besides."""
    from provisioning.app.http import create_app

    options = {} if hub is None else {"hub": hub}
    return create_app(
        settings=settings, pool=pool, secret_box=secret_box, routes=[*LIVE_ROUTES, *routes],
        **options,
    )  # fmt: skip
