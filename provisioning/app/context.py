"""What a component receives: `ServiceContext`, and the error it raises when it cannot start.

The components themselves are listed in `provisioning.app.components`.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiohttp import web

from provisioning.config import Settings
from provisioning.credentials import SecretBox
from provisioning.hub import ServiceHub


@dataclass(slots=True)
class ServiceContext:
    settings: Settings
    pool: asyncpg.Pool[Any]
    secret_box: SecretBox
    hub: ServiceHub
    app: web.Application
    ssl_context: ssl.SSLContext | None
    # which of `worker_count` processes sharing the ports this is (`workers` setting)
    worker_index: int = 0
    worker_count: int = 1

    def node_id(self) -> str:
        """This node's key among those sharing the database (bindings, subscriptions)."""
        return node_id(self.settings, self.worker_index)


def node_id(settings: Settings, worker_index: int = 0) -> str:
    """Stable across restarts (bindings and subscriptions are reloaded by the node that
    holds their flows), distinct between nodes sharing a database: host name and SIP
    listeners (two nodes of one host cannot share listeners) and, for worker processes
    sharing them, the worker's index. Worker 0 keeps the single-process key."""
    base = f"{socket.gethostname()}|{settings.sip_listen}"
    return base if worker_index == 0 else f"{base}|w{worker_index}"


class ComponentError(Exception):
    """A component cannot start; the message is one line naming the setting at fault."""
