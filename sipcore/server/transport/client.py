"""Requests sipfleet sends, on the wire: the I/O side of non-INVITE client transactions
(RFC 3261 §17.1.2).

Used for keep-alive OPTIONS probes, check-sync NOTIFYs and in-dialog NOTIFYs (presence).
The state machine is the sans-IO `sipcore.transaction.ClientTransactions`; `RequestSender`
sends, keeps one timer for it and carries out its effects: Timer E → send the bytes
again over the same flow, Timer F → tell the waiting caller None. Answers go to its
`receive` by their §17.1.3 key (`sipcore.response_match`).

A request goes over the flow of the phone's binding — the stream connection its REGISTER
came on (connection reuse, §18.1.1 / RFC 5626 §5.3 in spirit), or for UDP the address and
port the REGISTER came from (through NAT) — or over the connection of a received request,
or to an explicit target. On UDP it is retransmitted per Timer E (T1 doubling up to T2,
every T2 after a provisional answer) until a final response or Timer F (64*T1, or the
caller's timeout); on reliable transports it is sent once.

A binding registered through an edge proxy (RFC 3327 Path) is reached through it: the
request carries the Path as its Route set (loose routing, §8.1.2: the Request-URI stays
the binding's contact) and goes to the first Route's address — over the connection the
REGISTER came on from the proxy while it is open, else to that URI's host and port.

Two ways in. `start()` is the lean one the presence fan-out uses (one NOTIFY per watcher,
a thousand per state change): the caller hands over the finished bytes and a callback;
no task, one timer (`loop.call_at` at the machine's next deadline: its timers are kept
in 10 ms slots), and its answer is matched on the raw bytes before any parse (`on_response_bytes`),
so the callback gets the status code only. `send()` (awaitable, the full `SipResponse`)
is built on the same table for OPTIONS probes and check-sync; its answers take the
normal parse (`on_response`).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import os
from collections.abc import Callable

from sipcore.errors import SipParseError
from sipcore.headers import Via
from sipcore.location import Binding
from sipcore.message import BRANCH_MAGIC, SipRequest, SipResponse, new_via
from sipcore.registrar.request import route_of
from sipcore.response_match import read_response
from sipcore.server.context import RequestContext, Target
from sipcore.server.transport.connections import (
    Address,
    Connection,
    ConnectionTable,
    MessageSink,
    StreamConnection,
    UdpPeer,
)
from sipcore.server.transport.listeners import BoundListeners
from sipcore.transaction import ClientTransactions, Retransmit, Timers
from sipcore.udp_partition import branch_mark
from sipcore.uri import parse_uri

log = logging.getLogger(__name__)

TICK = 0.01  # timer slot (s): Timer E/F fire up to this much late (or half as early)

Callback = Callable[[int | None], None]  # the final status, or None (timeout, send error)
_mark = [""]  # this worker's branch mark, process-wide (`mark_branches`)


def mark_branches(index: int | None) -> None:
    """Worker `index` of a group: every branch this process makes from now on carries its
    mark (`sipcore.udp_partition.branch_mark`), so that with `sip_udp_partition = phone`
    the kernel hands the answers to its OPTIONS, NOTIFYs and check-syncs to this worker.
    None: no mark (one process)."""
    _mark[0] = "" if index is None else branch_mark(index)


class NoRoute(Exception):
    """No way to reach the target (no open connection on a stream transport)."""


class _Waiter:
    """A transaction's destination in the state machine: the flow its retransmissions
    take, and who hears its end (a callback with the status, or a future with the whole
    response)."""

    __slots__ = ("address", "callback", "connection", "future")

    def __init__(
        self,
        connection: Connection,
        address: Address | None,
        callback: Callback | None,
        future: asyncio.Future[SipResponse | None] | None,
    ) -> None:
        self.connection = connection
        self.address = address
        self.callback = callback
        self.future = future


class RequestSender:
    """Sends requests as client transactions and routes them to phones (module docstring).

    What it needs of the server, and no more: the open stream connections (reused, and
    where a connection it opens is filed), the bound listeners (a callable: they are bound
    after construction) for UDP, the sink that receives what arrives on a TCP connection
    it opens, T1/T2, the host for its Via when bound to a wildcard address, and the idle
    timeout of the connections it opens."""

    def __init__(
        self,
        *,
        connections: ConnectionTable,
        listeners: Callable[[], BoundListeners | None],
        sink: MessageSink,
        t1: float,
        t2: float,
        via_host: str,
        tcp_idle_timeout: float,
    ) -> None:
        self._connections = connections
        self._listeners = listeners
        self._sink = sink
        self._via_host = via_host
        self._tcp_idle_timeout = tcp_idle_timeout
        # Timer K is 0: a late copy of a final response (the answer to a retransmission)
        # needs no completed transaction to be absorbed — `on_response_bytes` drops it by
        # our branch prefix, and the full parse by finding no transaction.
        self._transactions = ClientTransactions(Timers(t1=t1, t2=t2, t4=0.0), granularity=TICK)
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf  # when `_timer` fires
        self._whole: set[str] = set()  # branches of the `send()`s in flight
        self._via_cache: dict[tuple[str, str, int], str] = {}
        # branch = magic cookie + the worker's mark + a random per-process prefix + a
        # counter: unique in space and time (§8.1.1.7) without a urandom call per request
        self._branch_prefix = BRANCH_MAGIC + _mark[0] + os.urandom(6).hex() + "x"
        self._counter = itertools.count(1)

    def cancel_all(self) -> None:
        """At shutdown: stop the timer, cancel the awaiting `send()`s; callbacks of lean
        transactions are not called."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
            self._timer_at = math.inf
        for waiter in self._transactions.clear():
            if waiter.future is not None:
                waiter.future.cancel()
        self._whole.clear()

    # --- the lean path -------------------------------------------------------------------

    def new_branch(self) -> str:
        return self._branch_prefix + format(next(self._counter), "x")

    def via_prefix(self, connection: Connection) -> str:
        """`SIP/2.0/<transport> <our address on that flow>;branch=` — the top Via of a
        request sent over `connection`, up to the branch value (`;rport` follows it)."""
        host, port = connection.local
        key = (connection.transport, host, port)
        prefix = self._via_cache.get(key)
        if prefix is None:
            via = str(self._via(connection, "BRANCH"))
            prefix = self._via_cache[key] = via[: via.index("BRANCH")]
        return prefix

    def route_now(
        self, where: Binding | RequestContext | Target
    ) -> tuple[Connection, Address | None] | None:
        """The route to `where` when it needs no I/O (UDP, an open stream), else None."""
        if isinstance(where, RequestContext):
            return where.connection, (where.source_ip, where.source_port)
        if isinstance(where, Binding):
            transport, host, port = where.transport, where.source_ip, where.source_port
            if where.path is not None:
                hop = route_of(where.path)
                # on a stream: the proxy's connection the REGISTER came on, else the hop
                open_flow = self._connections.get(transport, host, port)
                if transport == "udp" or hop[0] == "udp" or open_flow is None:
                    transport, host, port = hop
        else:
            transport, host, port = where.transport, where.host, where.port
        if transport == "udp":
            listeners = self._listeners()
            sock = listeners.udp_socket(host) if listeners else None
            if sock is None:
                return None
            return UdpPeer(sock, (host, port)), (host, port)
        existing = self._connections.get(transport, host, port)
        if existing is not None and not existing.closed:
            return existing, None
        return None

    def start(
        self,
        method: str,
        branch: str,
        data: bytes,
        connection: Connection,
        address: Address | None,
        callback: Callback,
        timeout: float | None = None,
    ) -> None:
        """Send `data` (a request whose top Via carries `branch`) and call `callback` once
        with the final status, or None after Timer F. Raises what the first send raises."""
        waiter = _Waiter(connection, address, callback, None)
        self._begin(method, branch, data, waiter, timeout)

    def _begin(
        self, method: str, branch: str, data: bytes, waiter: _Waiter, timeout: float | None
    ) -> None:
        connection = waiter.connection
        connection.send(data, waiter.address)
        loop = asyncio.get_running_loop()
        self._transactions.start(
            branch, method, data, reliable=connection.reliable, now=loop.time(),
            timeout=timeout, destination=waiter,
        )  # fmt: skip
        self._arm(loop)

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        """The timer at the machine's next deadline (the end of a slot), unless it is
        armed at that time or sooner already."""
        deadline = self._transactions.next_deadline()
        if deadline is None or deadline >= self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = loop.call_at(deadline, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._timer_at = math.inf
        loop = asyncio.get_running_loop()
        # call_at may run a little early (the loop's clock resolution: uvloop's is 1 ms);
        # a slot ending within half a slot counts as due, so a timer fires at most 5 ms
        # early and the loop never spins waiting for its clock to reach the deadline.
        transactions = self._transactions
        for effect in transactions.handle_timer(loop.time() + TICK / 2):
            waiter: _Waiter = effect.destination
            method = effect.key[1]
            if isinstance(effect, Retransmit):  # Timer E
                try:
                    waiter.connection.send(effect.data, waiter.address)
                    continue
                except (OSError, ConnectionError) as exc:
                    log.info("%s retransmission failed: %s", method, exc)
                    transactions.cancel(effect.key)
            self._tell(waiter, method, None, None)  # Timer F, or the flow failed
        self._arm(loop)

    def _tell(
        self, waiter: _Waiter, method: str, status: int | None, response: SipResponse | None
    ) -> None:
        """The transaction ended: its future gets the response, its callback the status."""
        future = waiter.future
        if future is not None:
            if not future.done():
                future.set_result(response)
        elif waiter.callback is not None:
            try:
                waiter.callback(status)
            except Exception:  # one bad callback must not break the receive path
                log.exception("%s completion failed", method)

    def on_response_bytes(self, data: bytes) -> bool:
        """Fast path for answers to our own requests, before the full parse: True when
        the raw response was matched and consumed here, False to parse it as usual.

        Answers to `start()` transactions are taken here (their callers want the status,
        not a message), and late copies of answers to ended transactions of ours are
        dropped here. A head `read_response` cannot read plainly, and an answer to a
        `send()` (whose caller wants the whole response), go to the full parse: both
        reach the same `receive` of the state machine (`on_response`)."""
        transactions = self._transactions
        if not transactions:
            return False
        read = read_response(data)
        if read is None:
            return False
        status, key = read
        branch = key[0]
        if branch in self._whole:
            return False  # a `send()`: its caller wants the parsed response
        done = transactions.receive(key, status, asyncio.get_running_loop().time())
        if done is not None:
            self._tell(done.destination, key[1], status, None)
            return True
        # A provisional answer; or none of ours waits for it: a late copy (the answer to
        # a retransmission) of a transaction that has ended, or an answer naming another
        # method (§17.1.3). Ours by the branch prefix — the full parse would only drop it.
        return branch.startswith(self._branch_prefix)

    # --- the awaitable API -------------------------------------------------------------------

    def on_response(self, response: SipResponse) -> None:
        """A parsed response (one `on_response_bytes` left to the full parse)."""
        done = self._transactions.receive_response(response, asyncio.get_running_loop().time())
        if done is not None:
            self._tell(done.destination, done.key[1], done.status, done.response)

    async def send(
        self,
        request: SipRequest,
        where: Binding | RequestContext | Target,
        timeout: float | None,
    ) -> SipResponse | None:
        """One client transaction; the final response or None (timeout, no route)."""
        try:
            connection, address = await self._route(where)
        except (NoRoute, OSError, SipParseError) as exc:
            log.info("%s not sent: %s", request.method, exc)
            return None
        via = self._via(connection)
        branch = via.branch or ""
        headers = request.headers.without("Via").with_added("Via", str(via), first=True)
        if isinstance(where, Binding) and where.path is not None and "route" not in headers._index:
            headers = headers.with_added("Route", where.path)
        outgoing = SipRequest(
            method=request.method, uri=request.uri, headers=headers, body=request.body
        )
        data = outgoing.to_bytes()
        future: asyncio.Future[SipResponse | None] = asyncio.get_running_loop().create_future()
        self._whole.add(branch)
        try:
            self._begin(request.method, branch, data, _Waiter(connection, address, None, future),
                        timeout)  # fmt: skip
            return await future
        finally:  # ended (then it is gone already), or cancelled: no one left to tell
            self._whole.discard(branch)
            self._transactions.cancel((branch, request.method))

    def _via(self, connection: Connection, branch: str | None = None) -> Via:
        host, port = connection.local
        if host in ("0.0.0.0", "::", ""):
            host = self._via_host
        transport = {"wss": "WSS", "ws": "WS"}.get(connection.transport, connection.transport)
        return new_via(transport, host, port, branch=branch or self.new_branch())

    async def _route(
        self, where: Binding | RequestContext | Target
    ) -> tuple[Connection, Address | None]:
        """`route_now`, else a TCP connection opened to the phone (after a restart)."""
        route = self.route_now(where)
        if route is not None:
            return route
        if isinstance(where, RequestContext):  # route_now always has the request's own
            raise NoRoute("the request's connection is gone")
        if isinstance(where, Binding):
            transport, host, port = where.transport, where.source_ip, where.source_port
            if where.path is not None:
                transport, host, port = route_of(where.path)
        else:
            transport, host, port = where.transport, where.host, where.port
        if transport == "udp":
            raise NoRoute("no UDP listener")
        if transport == "tcp":
            if isinstance(where, Binding) and where.path is None:
                host, port = _contact_address(where.contact)
            return await self._open_tcp(host, port), None
        raise NoRoute(f"no open {transport} connection to {host}:{port}")

    async def _open_tcp(self, host: str, port: int) -> Connection:
        """A TCP connection of ours: filed in the connection table (so later requests reuse
        it) and read by the sink like an accepted one."""
        loop = asyncio.get_running_loop()
        sink, table, idle = self._sink, self._connections, self._tcp_idle_timeout
        _, protocol = await asyncio.wait_for(
            loop.create_connection(lambda: StreamConnection(sink, "tcp", table, idle), host, port),
            timeout=5,
        )
        return protocol


def _contact_address(contact: str) -> tuple[str, int]:
    uri = parse_uri(contact)
    host = getattr(uri, "host", None)
    if not host:
        raise NoRoute(f"contact {contact!r} has no host")
    return host, getattr(uri, "port", None) or 5060
