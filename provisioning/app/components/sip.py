"""The SIP service as a component: registrar, transports (UDP/TCP/TLS, WebSocket at /ws),
location service, keep-alives, check-sync and the request API other components use.

Runs after the IP gate's component (which sets `ctx.hub.gate`); sets `ctx.hub.sip` to the
`sipcore.server.service.SipService` and `ctx.hub.node_link` to its
`sipcore.server.nodes.node_link.NodeLink` (bindings moving between nodes, check-sync across
nodes) and `ctx.hub.bans` to its `sipcore.server.registrar.bans.BanBook` (bans shared
with the other nodes). With several worker processes each is a node of its own
(`node_id`); worker 0 also takes over the bindings of worker node ids no longer started
(fewer workers).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from provisioning.app.context import ComponentError, ServiceContext, node_id
from provisioning.config import Settings
from sipcore.gateport import AllowAll
from sipcore.server.config import ListenerSpec, SipConfig
from sipcore.server.nodes.node_link import NodeLink
from sipcore.server.registrar.bans import BanBook
from sipcore.server.service import SipService
from sipcore.server.transport.listeners import ListenError
from sipcore.server.transport.websocket import websocket_handler

DIGEST_ALGORITHMS = ("SHA-256", "MD5")


def _algorithms(text: str) -> tuple[str, ...]:
    """`digest_algorithms` ("SHA-256,MD5") into the digest module's names."""
    names = tuple(item.strip().upper() for item in text.split(",") if item.strip())
    if not names or any(name not in DIGEST_ALGORITHMS for name in names):
        raise ComponentError(f"digest_algorithms: {text!r} is not a list of SHA-256, MD5")
    return names


def sip_config(settings: Settings, *, secret_key: bytes, node_id: str) -> SipConfig:
    """The SIP service's view of the settings (sipcore does not import provisioning)."""
    listeners = tuple(
        ListenerSpec(transport=item.transport, host=item.host, port=item.port)
        for item in settings.sip_listeners
    )
    return SipConfig(
        realm=settings.realm,
        listeners=listeners,
        # every node derives the same nonce key, so a nonce from one node verifies on another
        nonce_key=hashlib.sha256(b"sipfleet sip nonce\x00" + secret_key).digest(),
        node_id=node_id,
        advertised_host=settings.sip_advertised_host or settings.sip_domain,
        min_expires=settings.min_expires,
        max_expires=settings.max_expires,
        default_expires=settings.default_expires,
        expires_spread_percent=settings.expires_spread_percent,
        max_contacts=settings.contacts_per_phone,
        nonce_lifetime=settings.nonce_lifetime,
        digest_algorithms=_algorithms(settings.digest_algorithms),
        auth_failure_limit=settings.auth_failure_limit,
        auth_failure_window=settings.auth_failure_window,
        auth_ban_seconds=settings.auth_ban_seconds,
        keepalive_interval=settings.keepalive_interval,
        keepalive_max_missed=settings.keepalive_max_missed,
        tcp_idle_timeout=settings.tcp_idle_timeout,
        connections_per_address=settings.sip_connections_per_address,
        unauthenticated_timeout=settings.sip_unauthenticated_timeout,
        write_queue_limit=settings.write_queue_limit,
        write_gather=settings.write_gather_ms / 1000,
        overload_lag=settings.sip_overload_lag_ms / 1000,
        trusted_proxies=settings.trusted_proxy_networks,
    )


@asynccontextmanager
async def run(ctx: ServiceContext) -> AsyncIterator[None]:
    node = ctx.node_id()
    config = sip_config(ctx.settings, secret_key=ctx.secret_box.key, node_id=node)
    service = SipService(config, ctx.pool, ctx.hub.gate or AllowAll())
    ctx.app.router.add_get(
        "/ws",
        websocket_handler(
            service, service.connections, idle_timeout=float(config.tcp_idle_timeout)
        ),
    )
    try:
        await service.start(ssl_context=ctx.ssl_context)
    except ListenError as exc:
        await service.stop()
        raise ComponentError(str(exc)) from None
    link = NodeLink(service.bindings, service.check_sync, ctx.pool, node)
    bans = BanBook(service.authenticator, ctx.pool, node)
    try:
        await link.start()
        await bans.start()
        if ctx.worker_index == 0:
            running = [node_id(ctx.settings, index) for index in range(1, ctx.worker_count)]
            await link.adopt(node_id(ctx.settings) + "|w", running)
    except BaseException:
        await bans.stop()
        await link.stop()
        await service.stop()
        raise
    ctx.hub.sip = service
    ctx.hub.node_link = link
    ctx.hub.bans = bans
    try:
        yield
    finally:
        ctx.hub.node_link = None
        ctx.hub.bans = None
        await bans.stop()
        await link.stop()
        await service.stop()
