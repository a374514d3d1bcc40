"""Binding the SIP listeners (UDP, TCP, TLS) to the SIP service's transports.

A port in use is reported at start as a `ListenError` naming the listener, so
`sipfleet serve` prints one line and exits.

With several worker processes (`workers` > 1) each listener is a group of SO_REUSEPORT
sockets, one per worker, and the kernel spreads flows across them by their 4-tuple: one
UDP source address:port, or one TCP/TLS connection, always reaches the same worker. The
supervisor binds the group once (`bind_udp_socket`/`bind_stream_socket` with
`reuse_port`) and keeps it for its whole life, handing socket i to worker i, which finds
it here (`use_sockets`, process-wide) instead of binding: a worker that dies and is
restarted gets its own socket back, so the group never changes and no flow is rehashed
to another worker (the answers to a worker's NOTIFYs and probes keep reaching it), and
datagrams and connections that arrive meanwhile wait in the socket's queue.
With `sip_udp_partition = phone` the supervisor also attaches `sipcore.udp_partition`'s
program to each UDP group (`partition_by_phone`): datagrams then go by phone, not by flow.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import socket
import ssl
import struct
from dataclasses import dataclass, field

from sipcore.server.config import ListenerSpec
from sipcore.server.transport import ConnectionTable, MessageSink, StreamConnection, UdpSocket
from sipcore.udp_partition import build_program

# Kept for callers that spelled it this way in the foundation.
ListenSpec = ListenerSpec
UDP_BUFFER_BYTES = 4 * 1024 * 1024  # absorb bursts (a building rebooting) without drops
_shared = [False]
_inherited: dict[tuple[str, str, int], socket.socket] = {}
SO_ATTACH_REUSEPORT_CBPF = getattr(socket, "SO_ATTACH_REUSEPORT_CBPF", 51)


def share_ports(enabled: bool) -> None:
    """Bind listeners not given by `use_sockets` with SO_REUSEPORT (a worker of a group)."""
    _shared[0] = enabled


def use_sockets(sockets: dict[tuple[str, str, int], socket.socket]) -> None:
    """Bound sockets (transport, host, port) the listeners of this process take instead
    of binding their own (a worker's share of the supervisor's socket groups)."""
    _inherited.update(sockets)


class ListenError(Exception):
    """A listener could not be bound; the message names the listener."""


@dataclass(slots=True)
class BoundListeners:
    """The bound sockets; `close()` stops accepting."""

    servers: list[tuple[str, asyncio.Server]] = field(default_factory=list)
    udp: list[UdpSocket] = field(default_factory=list)

    def addresses(self) -> list[tuple[str, str, int]]:
        """(transport, host, port) of every listener, with the ports actually bound."""
        out = [("udp", *item.local) for item in self.udp]
        for transport, server in self.servers:
            for sock in server.sockets:
                host, port = sock.getsockname()[:2]
                out.append((transport, host, port))
        return out

    def udp_socket(self, target_host: str = "") -> UdpSocket | None:
        """A UDP listener of the target's address family (the first one otherwise)."""
        v6 = ":" in target_host
        for item in self.udp:
            if (":" in item.local[0]) == v6:
                return item
        return self.udp[0] if self.udp else None

    async def close(self) -> None:
        for item in self.udp:
            if item.transport is not None:
                item.transport.close()
        for _, server in self.servers:
            server.close()
        for _, server in self.servers:
            await server.wait_closed()


def bind_udp_socket(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A bound UDP socket (bound here so a port in use fails with its errno)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if reuse_port or _shared[0]:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, option, UDP_BUFFER_BYTES)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def partition_by_phone(sock: socket.socket, workers: int) -> None:
    """Attach `sipcore.udp_partition`'s program to the SO_REUSEPORT group of `sock`
    (`sip_udp_partition = phone`): the group's socket i (the i-th bound) gets the
    requests of the phones that hash to i and the responses marked for worker i.
    Raises OSError when the kernel refuses it."""
    program = build_program(workers)
    code = b"".join(struct.pack("HBBI", *insn) for insn in program)
    buffer = ctypes.create_string_buffer(code, len(code))  # alive until setsockopt returns
    fprog = struct.pack("HL", len(program), ctypes.addressof(buffer))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, fprog)


def bind_stream_socket(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A bound, listening TCP socket (for TCP, TLS or HTTP)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host, port))
        sock.listen(1024)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


async def _bind_one(
    spec: ListenerSpec,
    ssl_context: ssl.SSLContext | None,
    sink: MessageSink,
    table: ConnectionTable,
    idle_timeout: float,
    bound: BoundListeners,
) -> None:
    loop = asyncio.get_running_loop()
    given = _inherited.pop((spec.transport, spec.host, spec.port), None)
    if given is not None:
        given.setblocking(False)
    if spec.transport == "udp":
        protocol = UdpSocket(sink)
        await loop.create_datagram_endpoint(
            lambda: protocol, sock=given or bind_udp_socket(spec.host, spec.port)
        )
        bound.udp.append(protocol)
        return
    if spec.transport == "tls" and ssl_context is None:
        raise ListenError(f"sip_listen: {spec} needs tls_cert and tls_key")
    transport = spec.transport
    ssl = ssl_context if transport == "tls" else None

    def factory() -> StreamConnection:
        return StreamConnection(sink, transport, table, idle_timeout)

    if given is not None:
        server = await loop.create_server(factory, sock=given, ssl=ssl)
    else:
        server = await loop.create_server(
            factory,
            spec.host,
            spec.port,
            ssl=ssl,
            reuse_address=True,
            reuse_port=_shared[0] or None,
        )
    bound.servers.append((transport, server))


async def bind_listeners(
    specs: list[ListenerSpec],
    ssl_context: ssl.SSLContext | None,
    sink: MessageSink,
    table: ConnectionTable,
    idle_timeout: float,
) -> BoundListeners:
    bound = BoundListeners()
    try:
        for spec in specs:
            try:
                await _bind_one(spec, ssl_context, sink, table, idle_timeout, bound)
            except OSError as exc:
                reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
                raise ListenError(f"sip_listen: cannot listen on {spec}: {reason}") from None
    except ListenError:
        await bound.close()
        raise
    return bound
