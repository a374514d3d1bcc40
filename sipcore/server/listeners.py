"""Binding the SIP listeners (UDP, TCP, TLS).

The foundation binds the sockets so that a port in use is reported at start; the
registrar replaces the protocol work behind them.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
from dataclasses import dataclass, field
from typing import Any


class ListenError(Exception):
    """A listener could not be bound; the message names the listener."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ListenSpec:
    transport: str  # udp | tcp | tls
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.transport}:{self.host}:{self.port}"


class _DiscardDatagrams(asyncio.DatagramProtocol):
    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        pass


async def _discard_stream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()


@dataclass(slots=True)
class BoundListeners:
    """The bound sockets; `close()` stops accepting."""

    servers: list[asyncio.Server] = field(default_factory=list)
    datagram_transports: list[asyncio.DatagramTransport] = field(default_factory=list)

    def addresses(self) -> list[tuple[str, str, int]]:
        out = []
        for transport in self.datagram_transports:
            host, port = transport.get_extra_info("sockname")[:2]
            out.append(("udp", host, port))
        for server in self.servers:
            for sock in server.sockets:
                host, port = sock.getsockname()[:2]
                out.append(("tcp", host, port))
        return out

    async def close(self) -> None:
        for transport in self.datagram_transports:
            transport.close()
        for server in self.servers:
            server.close()
        for server in self.servers:
            await server.wait_closed()


def bind_udp_socket(host: str, port: int) -> socket.socket:
    """A bound UDP socket (bound here so a port in use fails with its errno)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


async def bind_listeners(
    specs: list[ListenSpec], ssl_context: ssl.SSLContext | None
) -> BoundListeners:
    loop = asyncio.get_running_loop()
    bound = BoundListeners()
    try:
        for spec in specs:
            try:
                if spec.transport == "udp":
                    transport, _ = await loop.create_datagram_endpoint(
                        _DiscardDatagrams, sock=bind_udp_socket(spec.host, spec.port)
                    )
                    bound.datagram_transports.append(transport)
                else:
                    server = await asyncio.start_server(
                        _discard_stream,
                        spec.host,
                        spec.port,
                        ssl=ssl_context if spec.transport == "tls" else None,
                        reuse_address=True,
                    )
                    bound.servers.append(server)
            except OSError as exc:
                reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
                raise ListenError(f"sip_listen: cannot listen on {spec}: {reason}") from None
    except ListenError:
        await bound.close()
        raise
    return bound
