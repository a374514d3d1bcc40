"""Thin asyncio adapters for SIP over UDP, TCP, TLS and WebSocket (RFC 3261 §18, RFC 7118).

Each transport turns bytes into whole messages and hands them to a `MessageSink` (the
SIP server) together with the `Connection` they came on; the sink answers through the
same object. Nothing here understands SIP beyond framing:

- UDP: one datagram is one message (§18.3); a datagram over 64 KiB is dropped. A STUN
  Binding request on the port (an outbound flow's keep-alive, RFC 5626 §4.4.2) is
  answered here (`sipcore.stun`).
- TCP/TLS: `StreamFramer` cuts messages by Content-Length (§18.3) and reports CRLF
  keep-alive pings, answered with a CRLF pong (RFC 5626 §4.4.1). A framing error closes
  the connection (the stream cannot be resynchronised). The listeners' accept loop is in
  `sipcore.server.transport.listeners`.
- WebSocket (RFC 7118): one text or binary frame is one message; the aiohttp handler lives
  in `sipcore.server.transport.websocket`.

Open stream connections are kept in a table by (transport, remote ip, remote port) so
that requests to a registered phone reuse the connection its binding came on (§18.1.1
connection reuse; RFC 5626 flows in spirit). The table also rations them, since each
holds a file descriptor (`sipcore.server.transport.descriptors`):

- an accepted connection (TCP, TLS, WebSocket) is unauthenticated until a request on it
  passes digest authentication and the IP gate (`Connection.trust`). An address may have
  `per_address` unauthenticated connections open at once (per process; trusted proxies
  exempt); one more is closed as soon as it is accepted, before any TLS or WebSocket
  work. Authenticated connections do not count, so phones behind one NAT address are not
  limited by it;
- the process holds at most `total` stream connections (`connection_budget`: its open
  files limit less a reserve for HTTP and the database);
- an unauthenticated connection is closed after `unauthenticated_timeout` seconds (or
  `idle_timeout`, if shorter) without a SIP message: keep-alive CRLFs (answered all the
  same) and partial messages do not count. An authenticated one is closed after
  `idle_timeout` seconds idle unless a binding uses it. Connections sipfleet opens
  itself are authenticated from the start.
Each refusal and idle close is counted in a metric (`sipfleet_sip_connections_refused`,
`sipfleet_sip_connections_idle_closed`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import socket
import time
from collections.abc import Callable
from typing import Any, Protocol

from sipcore import metrics
from sipcore.edge import is_trusted_peer
from sipcore.framing import PONG, FramedMessage, KeepAlivePing, StreamFramer
from sipcore.parser import MAX_MESSAGE_SIZE
from sipcore.server.transport.descriptors import DescriptorGuard, connection_budget
from sipcore.stun import binding_response, is_stun

log = logging.getLogger(__name__)

Address = tuple[str, int]


class Connection:
    """Where a message came from and how to send back: one UDP socket + peer, or one stream."""

    __slots__ = ("local", "remote", "transport")

    transport: str  # udp | tcp | tls | ws | wss
    remote: Address
    local: Address

    @property
    def reliable(self) -> bool:
        return self.transport != "udp"

    @property
    def closed(self) -> bool:
        return False

    def send(self, data: bytes, address: Address | None = None) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Close a stream; a UDP socket is shared and stays open."""

    def touch(self) -> None:
        """A binding uses this connection: keep it open past the idle timeout."""

    def trust(self) -> None:
        """A request on this connection authenticated: it no longer counts against its
        address's unauthenticated connections, and the long idle timeout applies."""

    def idle(self, now: float) -> bool:
        """Idle past its timeout (streams only)."""
        return False


class MessageSink(Protocol):
    def on_message(self, connection: Connection, data: bytes, source: Address) -> None: ...

    def on_bad_input(self, transport: str) -> None: ...

    def on_connection_closed(self, connection: Connection) -> None: ...


# A lag probe sent to a listener's own socket: this prefix, then a per-socket random token
# (never leaves the host, so nobody else can fake a probe and force overload).
_PROBE_PREFIX = b"\x00sipfleet lag probe "
# A probe not back after this long is presumed dropped (a full receive buffer) and resent.
_PROBE_LOST_AFTER = 1.0


class UdpSocket(asyncio.DatagramProtocol):
    """A bound UDP listener; each datagram goes to the sink with a per-peer `UdpPeer`.

    It also measures its own queueing delay (`probe_lag`): a datagram sent to itself
    waits behind everything already in the kernel's receive buffer and the event loop,
    exactly like a phone's request, so its age on arrival is the age of the work the
    server is looking at (`sipcore.overload`). One probe is in flight at a time."""

    def __init__(self, sink: MessageSink) -> None:
        self.sink = sink
        self.transport: asyncio.DatagramTransport | None = None
        self.local: Address = ("0.0.0.0", 0)
        self._probe = _PROBE_PREFIX + os.urandom(16).hex().encode()
        self._probe_sent: float | None = None
        self._probe_delay = 0.0
        self._probing = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.local = transport.get_extra_info("sockname")[:2]
        sock = transport.get_extra_info("socket")
        # In an SO_REUSEPORT group (worker processes) a datagram to our own address is
        # handed to whichever socket the kernel's hash picks — every worker's probe would
        # reach the same one. There, the timer's drift alone measures the wait.
        self._probing = not (
            sock is not None and sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)
        )

    def datagram_received(self, data: bytes, addr: Any) -> None:
        source = (addr[0], addr[1])
        if len(data) > MAX_MESSAGE_SIZE:
            self.sink.on_bad_input("udp")
            return
        if data in (b"\r\n\r\n", b"\r\n", b"\x00\x00\x00\x00"):
            return  # NAT keep-alive datagrams (RFC 5626 §4.4.2 uses STUN; CRLF is common)
        if data.startswith(_PROBE_PREFIX):  # ours, or a stray one of another process
            if data == self._probe and self._probe_sent is not None:
                self._probe_delay = time.monotonic() - self._probe_sent
                self._probe_sent = None
            return
        if data[:1] < b"\x40" and is_stun(data):  # an outbound flow's keep-alive
            answer = binding_response(data, *source)
            if answer is not None and self.transport is not None:
                self.transport.sendto(answer, addr)
            return
        try:
            self.sink.on_message(UdpPeer(self, source), data, source)
        except Exception:
            log.exception("UDP message from %s:%d not handled", *source)

    def error_received(self, exc: Exception) -> None:
        log.debug("UDP error: %s", exc)

    def probe_lag(self, now: float) -> float:
        """The queueing delay (seconds): the age of the probe in flight, else the delay
        of the last one that came back. Then a new probe goes out if none is in flight."""
        if not self._probing:
            return 0.0
        sent = self._probe_sent
        lag = self._probe_delay if sent is None else now - sent
        if sent is None or lag >= _PROBE_LOST_AFTER:
            self._send_probe(now)
        return lag

    def _send_probe(self, now: float) -> None:
        host, port = self.local
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        self._probe_sent = now
        self.sendto(self._probe, (host, port))

    def sendto(self, data: bytes, address: Address) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(data, address)


class UdpPeer(Connection):
    """The UDP socket as seen from one peer (responses go per §18.2.2, not always here)."""

    __slots__ = ("socket",)

    def __init__(self, sock: UdpSocket, remote: Address) -> None:
        self.socket = sock
        self.transport = "udp"
        self.remote = remote
        self.local = sock.local

    def send(self, data: bytes, address: Address | None = None) -> None:
        self.socket.sendto(data, address or self.remote)


class StreamConnection(asyncio.Protocol, Connection):
    """One TCP or TLS connection: accepted (with the table's `Admission`, unauthenticated
    until `trust`) or opened by us (authenticated from the start)."""

    def __init__(
        self,
        sink: MessageSink,
        transport_name: str,
        table: ConnectionTable,
        idle_timeout: float,
        *,
        admission: Admission | None = None,
    ) -> None:
        self.sink = sink
        self.transport = transport_name
        self.table = table
        self.idle_timeout = idle_timeout
        self.framer = StreamFramer(max_size=MAX_MESSAGE_SIZE)
        self.stream: asyncio.Transport | None = None
        self.remote = ("", 0)
        self.local = ("", 0)
        self.last_activity = time.monotonic()
        self.pinned_until = 0.0
        self.trusted = admission is None
        self.admission = admission
        self._closed = False
        self.opened = asyncio.get_running_loop().create_future()

    @property
    def closed(self) -> bool:
        return self._closed

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.stream = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        sock = transport.get_extra_info("sockname")
        self.remote = (peer[0], peer[1])
        self.local = (sock[0], sock[1])
        self.table.add(self)
        if not self.opened.done():
            self.opened.set_result(None)

    def data_received(self, data: bytes) -> None:
        if self.trusted:
            self.last_activity = time.monotonic()
        try:
            events = self.framer.feed(data)
        except Exception as exc:
            log.info("%s %s:%d: closing, cannot frame: %s", self.transport, *self.remote, exc)
            self.sink.on_bad_input(self.transport)
            self.close()
            return
        for event in events:
            if isinstance(event, KeepAlivePing):
                self._pong()  # RFC 5626 §4.4.1 (it keeps no unauthenticated one open)
                continue
            if not isinstance(event, FramedMessage):
                continue  # a pong to a ping of ours
            if not self.trusted:
                self.last_activity = time.monotonic()
            try:
                self.sink.on_message(self, event.data, self.remote)
            except Exception:
                log.exception("%s message from %s:%d not handled", self.transport, *self.remote)

    def _pong(self) -> None:
        if self.stream is not None and not self._closed:
            self.stream.write(PONG)

    def send(self, data: bytes, address: Address | None = None) -> None:
        if self.stream is not None and not self._closed:
            if self.trusted:
                self.last_activity = time.monotonic()
            self.stream.write(data)

    def touch(self) -> None:
        self.last_activity = time.monotonic()

    def trust(self) -> None:
        if not self.trusted:
            self.trusted = True
            self.last_activity = time.monotonic()
            if self.admission is not None:
                self.admission.trusted()

    def close(self) -> None:
        if self.stream is not None and not self._closed:
            self.stream.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self.table.remove(self)
        if self.admission is not None:
            self.admission.closed()
        if not self.opened.done():
            self.opened.set_exception(ConnectionError("closed before it opened"))
        self.sink.on_connection_closed(self)

    def idle(self, now: float) -> bool:
        timeout = self.idle_timeout
        if not self.trusted:
            timeout = min(timeout, self.table.unauthenticated_timeout)
        if now - self.last_activity <= timeout or now <= self.pinned_until:
            return False
        return self.stream is not None and not self.stream.is_closing()


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Admission:
    """What `ConnectionTable.admit` counted for one accepted connection: released in two
    steps, each once — its address's count when it authenticates (`trusted`), the total
    when it closes (`closed`, which implies the first)."""

    __slots__ = ("_address", "_table")

    def __init__(self, table: ConnectionTable, address: str | None) -> None:
        self._table: ConnectionTable | None = table
        self._address = address

    def trusted(self) -> None:
        if self._address is not None and self._table is not None:
            self._table._uncount(self._address)
            self._address = None

    def closed(self) -> None:
        self.trusted()
        if self._table is not None:
            self._table.open -= 1
            self._table = None


class ConnectionTable:
    """Open stream connections by (transport, remote ip, remote port), and their rations
    (see the module's docstring)."""

    def __init__(
        self,
        *,
        per_address: int = 0,
        unauthenticated_timeout: float = 30.0,
        exempt: tuple[Network, ...] = (),
        total: int | None = None,
    ) -> None:
        self._items: dict[tuple[str, str, int], Connection] = {}
        self.has_bindings: Callable[[Connection], bool] = lambda connection: False
        self.per_address = per_address
        self.unauthenticated_timeout = unauthenticated_timeout
        self.exempt = exempt
        self.total = connection_budget() if total is None else total
        self.open = 0  # stream connections admitted and not yet released
        self._unauthenticated: dict[str, int] = {}  # address -> its admitted, untrusted
        self._refusals: dict[tuple[str, str], Any] = {}
        self.descriptors = DescriptorGuard()

    def __len__(self) -> int:
        return len(self._items)

    def admit(self, transport: str, ip: str) -> Admission | None:
        """A connection just accepted from `ip`: its `Admission` (it is counted), or None
        (refused and counted as such: the caller closes it at once)."""
        if self.open >= self.total:
            self._refused(transport, "total")
            return None
        address = None
        if self.per_address and not (self.exempt and is_trusted_peer(ip, self.exempt)):
            count = self._unauthenticated.get(ip, 0)
            if count >= self.per_address:
                self._refused(transport, "per_address")
                return None
            self._unauthenticated[ip] = count + 1
            address = ip
        self.open += 1
        return Admission(self, address)

    def unauthenticated(self, ip: str) -> int:
        """Connections from `ip` counted and not yet authenticated."""
        return self._unauthenticated.get(ip, 0)

    def _uncount(self, ip: str) -> None:
        count = self._unauthenticated.get(ip, 0) - 1
        if count > 0:
            self._unauthenticated[ip] = count
        else:
            self._unauthenticated.pop(ip, None)

    def _refused(self, transport: str, reason: str) -> None:
        counter = self._refusals.get((transport, reason))
        if counter is None:
            counter = metrics.SIP_CONNECTIONS_REFUSED.labels(transport=transport, reason=reason)
            self._refusals[(transport, reason)] = counter
        counter.inc()

    def add(self, connection: Connection) -> None:
        self._items[(connection.transport, *connection.remote)] = connection

    def remove(self, connection: Connection) -> None:
        key = (connection.transport, *connection.remote)
        if self._items.get(key) is connection:
            del self._items[key]

    def get(self, transport: str, ip: str, port: int) -> Connection | None:
        return self._items.get((transport, ip, port))

    def close_idle(self) -> int:
        """Close stream connections idle past their timeout that carry no binding (the
        periodic sweep, which also checks that a descriptor can still be had)."""
        now = time.monotonic()
        closed = 0
        for connection in list(self._items.values()):
            if connection.idle(now) and not self.has_bindings(connection):
                trusted = getattr(connection, "trusted", True)
                state = "authenticated" if trusted else "unauthenticated"
                metrics.SIP_CONNECTIONS_IDLE_CLOSED.labels(state=state).inc()
                connection.close()
                closed += 1
        self.descriptors.probe()
        return closed

    def close_all(self) -> None:
        """At shutdown: drop every connection at once (no TLS close_notify wait)."""
        for connection in list(self._items.values()):
            if isinstance(connection, StreamConnection) and connection.stream is not None:
                connection.stream.abort()
            else:
                connection.close()
        self.descriptors.close()
