"""What the SIP service needs to know, without importing the provisioning package.

`provisioning.app.components.sip` builds it from the service `Settings` (imports run
provisioning → sipcore → db).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True, kw_only=True)
class ListenerSpec:
    transport: str  # udp | tcp | tls
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.transport}:{self.host}:{self.port}"


@dataclass(frozen=True, slots=True, kw_only=True)
class SipConfig:
    realm: str
    listeners: tuple[ListenerSpec, ...]
    nonce_key: bytes = field(repr=False)
    node_id: str = ""
    advertised_host: str = ""
    min_expires: int = 60
    max_expires: int = 3600
    default_expires: int = 3600
    expires_spread_percent: int = 10
    max_contacts: int = 10  # per phone (`sipcore.registrar.decision.RegistrarPolicy`)
    nonce_lifetime: int = 300
    digest_algorithms: tuple[str, ...] = ("SHA-256", "MD5")
    auth_failure_limit: int = 10
    auth_failure_window: int = 60
    auth_ban_seconds: int = 300
    keepalive_interval: int = 30
    keepalive_max_missed: int = 2
    tcp_idle_timeout: int = 600
    # stream connections (`sipcore.server.transport.connections.ConnectionTable`): open at
    # once from one
    # address (0: no limit), and seconds idle before a request on one authenticates
    connections_per_address: int = 64
    unauthenticated_timeout: int = 30
    write_queue_limit: int = 5000
    write_gather: float = 0.01  # seconds a batch waits for more jobs (group commit)
    # overload control (`sipcore.overload`): queueing delay in seconds that starts shedding
    # new requests; 0 turns it off
    overload_lag: float = 0.4
    # client transactions (RFC 3261 §17.1.2.2): T1, T2 in seconds
    timer_t1: float = 0.5
    timer_t2: float = 4.0
    sweep_interval: float = 1.0
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
