"""The SIP service run in-process on the test's database: its config for tests (loopback
UDP and TCP on free ports, fast timers, no spread, no keep-alive) and a handle on it."""

from __future__ import annotations

import dataclasses
from typing import Any

from provisioning.app.components.sip import sip_config
from provisioning.config import Settings
from sipcore.server.config import ListenerSpec
from sipcore.server.service import SipService

SECRET = bytes(range(32))


def sip_test_config(*, node_id: str = "test-node", **overrides: Any) -> Any:
    """The SIP service's config for tests; `overrides` replace its fields."""
    settings = Settings(
        data_dir="/tmp/unused", sip_domain="sipfleet.test", sip_listen="udp:127.0.0.1:0"
    )
    config = sip_config(settings, secret_key=SECRET, node_id=node_id)
    values: dict[str, Any] = {
        "listeners": (
            ListenerSpec(transport="udp", host="127.0.0.1", port=0),
            ListenerSpec(transport="tcp", host="127.0.0.1", port=0),
        ),
        "expires_spread_percent": 0,
        "keepalive_interval": 0,
        "sweep_interval": 0.2,
        "timer_t1": 0.1,
        "timer_t2": 0.4,
    }
    values.update(overrides)
    return dataclasses.replace(config, **values)


def presence_sip_config(**overrides: Any) -> Any:
    """The presence tests' SIP config: node "presence-test", registrations from 1 s."""
    return sip_test_config(**{"node_id": "presence-test", "min_expires": 1, **overrides})


class Running:
    """A started SipService and the addresses it listens on."""

    def __init__(self, service: SipService) -> None:
        self.service = service

    def address(self, transport: str = "udp") -> tuple[str, int]:
        for kind, host, port in self.service.addresses():
            if kind == transport:
                return host, port
        raise LookupError(transport)
