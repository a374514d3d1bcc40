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

TCP and TLS listeners accept in a loop of their own (`StreamListener`) rather than
through `loop.create_server`, so that a connection is weighed before it costs anything:
the connection table admits it or it is closed at once (`ConnectionTable.admit`: per
address, per process), before a TLS handshake or a protocol object; and an `accept()`
that fails for lack of file descriptors is counted, logged once per interval and the
waiting connection closed on a spare descriptor (`sipcore.server.transport.descriptors`) — the
event loop's own server would close the connection silently or, for some errors, stop
listening for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import logging
import os
import socket
import ssl
import struct
from dataclasses import dataclass, field
from typing import Any

from sipcore.server.config import ListenerSpec
from sipcore.server.transport.connections import (
    Admission,
    ConnectionTable,
    MessageSink,
    StreamConnection,
    UdpSocket,
)
from sipcore.server.transport.descriptors import NO_DESCRIPTORS
from sipcore.udp_partition import build_program

log = logging.getLogger(__name__)

# Kept for callers that spelled it this way in the foundation.
ListenSpec = ListenerSpec
UDP_BUFFER_BYTES = 4 * 1024 * 1024  # absorb bursts (a building rebooting) without drops
_shared = [False]
_inherited: dict[tuple[str, str, int], socket.socket] = {}
SO_ATTACH_REUSEPORT_CBPF = getattr(socket, "SO_ATTACH_REUSEPORT_CBPF", 51)
ACCEPT_BATCH = 64  # connections accepted per wake-up before other work gets a turn
PAUSE_WITHOUT_SPARE = 0.5  # seconds a listener stops reading when it cannot even shed
TLS_HANDSHAKE_TIMEOUT = 10.0  # seconds, at most (and at most the unauthenticated timeout)


def share_ports(enabled: bool) -> None:
    """Bind listeners not given by `use_sockets` with SO_REUSEPORT (a worker of a group)."""
    _shared[0] = enabled


def use_sockets(sockets: dict[tuple[str, str, int], socket.socket]) -> None:
    """Bound sockets (transport, host, port) the listeners of this process take instead
    of binding their own (a worker's share of the supervisor's socket groups)."""
    _inherited.update(sockets)


class ListenError(Exception):
    """A listener could not be bound; the message names the listener."""


class StreamListener:
    """A listening TCP socket (SIP over TCP or TLS) and its accept loop."""

    def __init__(
        self,
        sock: socket.socket,
        transport: str,
        ssl_context: ssl.SSLContext | None,
        sink: MessageSink,
        table: ConnectionTable,
        idle_timeout: float,
    ) -> None:
        self.sock = sock
        self.transport = transport
        self.ssl = ssl_context
        self.sink = sink
        self.table = table
        self.idle_timeout = idle_timeout
        self.address = sock.getsockname()[:2]
        self._loop = asyncio.get_running_loop()
        self._reading = False
        self._closed = False
        self._pending: set[asyncio.Task[Any]] = set()

    def start(self) -> None:
        if not self._reading and not self._closed:
            self._loop.add_reader(self.sock.fileno(), self._accept)
            self._reading = True

    def _pause(self, seconds: float) -> None:
        if self._reading:
            self._loop.remove_reader(self.sock.fileno())
            self._reading = False
        self._loop.call_later(seconds, self.start)

    def _accept(self) -> None:
        table = self.table
        for _ in range(ACCEPT_BATCH):
            try:
                conn, peer = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in NO_DESCRIPTORS:
                    table.descriptors.out_of_descriptors(self.transport, exc)
                    if not table.descriptors.shed(self.sock):
                        self._pause(PAUSE_WITHOUT_SPARE)
                        return
                    continue
                if exc.errno in (errno.ECONNABORTED, errno.EPROTO, errno.EPERM):
                    continue  # gone before we took it; the next one may be fine
                log.warning("%s listener %s:%d: accept failed: %s", self.transport,
                            *self.address, exc)  # fmt: skip
                self._pause(PAUSE_WITHOUT_SPARE)
                return
            admission = table.admit(self.transport, peer[0])
            if admission is None:
                _close_at_once(conn)
                continue
            self._open(conn, admission)

    def _open(self, conn: socket.socket, admission: Admission) -> None:
        conn.setblocking(False)
        with contextlib.suppress(OSError):
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        protocol = StreamConnection(
            self.sink, self.transport, self.table, self.idle_timeout, admission=admission
        )
        if self.ssl is None:
            opening = self._loop.connect_accepted_socket(lambda: protocol, conn)
        else:
            timeout = min(TLS_HANDSHAKE_TIMEOUT, float(self.table.unauthenticated_timeout))
            opening = self._loop.connect_accepted_socket(
                lambda: protocol, conn, ssl=self.ssl, ssl_handshake_timeout=timeout
            )
        task = self._loop.create_task(opening)
        self._pending.add(task)
        task.add_done_callback(lambda done: self._opened(done, conn, admission))

    def _opened(self, task: asyncio.Task[Any], conn: socket.socket, admission: Admission) -> None:
        self._pending.discard(task)
        if task.cancelled() or task.exception() is not None:
            # never opened (a TLS handshake that failed or timed out): nothing else will
            # release it
            admission.closed()
            with contextlib.suppress(OSError):
                conn.close()
            if not task.cancelled():
                log.debug("%s connection not opened: %s", self.transport, task.exception())

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._reading:
            self._loop.remove_reader(self.sock.fileno())
            self._reading = False
        for task in list(self._pending):
            task.cancel()
        self.sock.close()


def _close_at_once(conn: socket.socket) -> None:
    """Close a refused connection with a reset (no FIN handshake, no TIME_WAIT here)."""
    with contextlib.suppress(OSError):
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


@dataclass(slots=True)
class BoundListeners:
    """The bound sockets; `close()` stops accepting."""

    streams: list[StreamListener] = field(default_factory=list)
    udp: list[UdpSocket] = field(default_factory=list)

    def addresses(self) -> list[tuple[str, str, int]]:
        """(transport, host, port) of every listener, with the ports actually bound."""
        out = [("udp", *item.local) for item in self.udp]
        for listener in self.streams:
            out.append((listener.transport, *listener.address))
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
        for listener in self.streams:
            listener.close()
        await asyncio.sleep(0)  # let cancelled openings run their callbacks


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
    sock = given or bind_stream_socket(spec.host, spec.port, reuse_port=_shared[0])
    listener = StreamListener(
        sock, spec.transport, ssl_context if spec.transport == "tls" else None, sink, table,
        idle_timeout,
    )  # fmt: skip
    bound.streams.append(listener)
    listener.start()


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
