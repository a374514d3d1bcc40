"""Requests sipfleet sends: non-INVITE client transactions (RFC 3261 §17.1.2).

Used for keep-alive OPTIONS probes, check-sync NOTIFYs (provisioning) and in-dialog
NOTIFYs (presence). A request goes over the flow of the phone's binding — the stream
connection its REGISTER came on (connection reuse, §18.1.1 / RFC 5626 §5.3 in spirit),
or for UDP the address and port the REGISTER came from (through NAT) — or over the
connection of a received request, or to an explicit target. On UDP it is retransmitted
per Timer E (T1 doubling up to T2) until a final response or the timeout (Timer F,
64*T1 by default); on reliable transports it is sent once. Responses are matched by the
top Via branch and the CSeq method (§17.1.3). Provisional responses keep it waiting.

A binding registered through an edge proxy (RFC 3327 Path) is reached through it: the
request carries the Path as its Route set (loose routing: the Request-URI stays the
binding's contact) and goes to the first Route's address — over the connection the
REGISTER came on from the proxy while it is open, else to that URI's host and port.

Check-sync goes to each registered device once: the flows of one outbound instance
(RFC 5626 §5.3) are tried one after another, newest registration first, until one answers.

Two ways in. `start()` is the lean one the presence fan-out uses (one NOTIFY per watcher,
a thousand per state change): the caller hands over the finished bytes and a callback;
the transaction is one dict entry, its Timer E/F are slots of one coarse timer wheel
(a `loop.call_at` per 10 ms slot, not per transaction), and its answer is matched on the
raw bytes before any parse (`on_response_bytes`), so the callback gets the status code
only. `send()` (awaitable, the full `SipResponse`) is built on the same entries for
OPTIONS probes and check-sync; its answers take the normal parse.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from sipcore import metrics
from sipcore.errors import SipParseError
from sipcore.headers import NameAddr, Via
from sipcore.location import Binding
from sipcore.message import (
    BRANCH_MAGIC,
    SipRequest,
    SipResponse,
    build_request,
    new_call_id,
    new_tag,
    new_via,
)
from sipcore.registrar.request import route_of
from sipcore.server.context import ContactOutcome, RequestContext, Target
from sipcore.server.transport.connections import Address, Connection, StreamConnection, UdpPeer
from sipcore.udp_partition import branch_mark
from sipcore.uri import parse_uri

if TYPE_CHECKING:
    from sipcore.server.service import SipService

log = logging.getLogger(__name__)

CHECK_SYNC_TIMEOUT = 10.0
TICK = 0.01  # timer wheel slot (s): Timer E/F fire up to this much late

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


class _Transaction:
    """One client transaction in flight: what to resend, when, and whom to tell."""

    __slots__ = (
        "address",
        "callback",
        "connection",
        "data",
        "deadline",
        "future",
        "interval",
        "method",
        "next_send",
        "slot",
    )  # fmt: skip

    def __init__(
        self,
        method: str,
        data: bytes,
        connection: Connection,
        address: Address | None,
        interval: float,
        deadline: float,
        callback: Callback | None,
        future: asyncio.Future[SipResponse | None] | None,
    ) -> None:
        self.method = method
        self.data = data
        self.connection = connection
        self.address = address
        self.interval = interval
        self.next_send = math.inf if connection.reliable else 0.0
        self.deadline = deadline
        self.callback = callback
        self.future = future
        self.slot = 0  # the timer wheel slot it waits in


class ClientTransactions:
    def __init__(self, service: SipService) -> None:
        self.service = service
        self._pending: dict[str, _Transaction] = {}
        self._slots: dict[int, dict[str, _Transaction]] = {}  # slot -> branch -> entry
        self._handles: dict[int, asyncio.TimerHandle] = {}
        self._via_cache: dict[tuple[str, str, int], str] = {}
        # branch = magic cookie + the worker's mark + a random per-process prefix + a
        # counter: unique in space and time (§8.1.1.7) without a urandom call per request
        self._branch_prefix = BRANCH_MAGIC + _mark[0] + os.urandom(6).hex() + "x"
        self._counter = itertools.count(1)

    def cancel_all(self) -> None:
        for handle in self._handles.values():
            handle.cancel()
        self._handles.clear()
        self._slots.clear()
        for entry in self._pending.values():
            if entry.future is not None:
                entry.future.cancel()
        self._pending.clear()

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
                open_flow = self.service.connections.get(transport, host, port)
                if transport == "udp" or hop[0] == "udp" or open_flow is None:
                    transport, host, port = hop
        else:
            transport, host, port = where.transport, where.host, where.port
        if transport == "udp":
            listeners = self.service.listeners
            sock = listeners.udp_socket(host) if listeners else None
            if sock is None:
                return None
            return UdpPeer(sock, (host, port)), (host, port)
        existing = self.service.connections.get(transport, host, port)
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
        self._begin(method, branch, data, connection, address, timeout, callback, None)

    def _begin(
        self,
        method: str,
        branch: str,
        data: bytes,
        connection: Connection,
        address: Address | None,
        timeout: float | None,
        callback: Callback | None,
        future: asyncio.Future[SipResponse | None] | None,
    ) -> None:
        config = self.service.config
        limit = timeout if timeout is not None else 64 * config.timer_t1
        connection.send(data, address)
        now = asyncio.get_running_loop().time()
        entry = _Transaction(
            method, data, connection, address, config.timer_t1, now + limit, callback, future
        )
        if not connection.reliable:
            entry.next_send = now + config.timer_t1
        self._pending[branch] = entry
        self._schedule(branch, entry, min(entry.next_send, entry.deadline))

    def _schedule(self, branch: str, entry: _Transaction, when: float) -> None:
        slot = entry.slot = math.ceil(when / TICK)
        bucket = self._slots.get(slot)
        if bucket is None:
            bucket = self._slots[slot] = {}
            self._handles[slot] = asyncio.get_running_loop().call_at(slot * TICK, self._fire, slot)
        bucket[branch] = entry

    def _fire(self, slot: int) -> None:
        self._handles.pop(slot, None)
        bucket = self._slots.pop(slot, None)
        if not bucket:
            return
        now = asyncio.get_running_loop().time() + TICK / 2
        t2 = self.service.config.timer_t2
        for branch, entry in bucket.items():
            if now >= entry.deadline:
                self._finish(branch, entry, None, None)  # Timer F
                continue
            if now >= entry.next_send:  # Timer E
                try:
                    entry.connection.send(entry.data, entry.address)
                except (OSError, ConnectionError) as exc:
                    log.info("%s retransmission failed: %s", entry.method, exc)
                    self._finish(branch, entry, None, None)
                    continue
                entry.interval = min(entry.interval * 2, t2)
                entry.next_send = now + entry.interval
            self._schedule(branch, entry, min(entry.next_send, entry.deadline))

    def _finish(
        self, branch: str, entry: _Transaction, status: int | None, response: SipResponse | None
    ) -> None:
        if self._pending.get(branch) is entry:
            del self._pending[branch]
        bucket = self._slots.get(entry.slot)
        if bucket is not None and bucket.pop(branch, None) is not None and not bucket:
            del self._slots[entry.slot]  # its timer: nothing left to do
            handle = self._handles.pop(entry.slot, None)
            if handle is not None:
                handle.cancel()
        if entry.future is not None:
            if not entry.future.done():
                entry.future.set_result(response)
        elif entry.callback is not None:
            try:
                entry.callback(status)
            except Exception:  # one bad callback must not break the receive path
                log.exception("%s completion failed", entry.method)

    def on_response_bytes(self, data: bytes) -> bool:
        """Fast path for answers to our own requests, before the full parse: True when
        the raw response was matched and consumed here, False to parse it as usual.

        Answers to `start()` transactions are taken here (their callers want the status,
        not a message), and late copies of answers to ended transactions of ours are
        dropped here; anything unusual — no blank line, a top Via that is not the first
        of its kind or whose first value has no branch, folded lines, a branch that is
        not ours, no CSeq line — goes to the full parse. A phone copies our Via first
        and writes `CSeq: ` as we do; other spellings take the slower search."""
        pending = self._pending
        if not pending or data[11:12] != b" ":
            return False
        code = data[8:11]
        end = data.find(b"\r\n\r\n")
        if end < 0 or not code.isdigit():
            return False
        head = data[:end]
        via = _top_via(head)
        if via is None:
            return False
        at = via.find(b";branch=")
        if at < 0 or b"," in via[:at]:
            return False
        stop = at = at + 8
        size = len(via)
        while stop < size and via[stop] not in _BRANCH_END:
            stop += 1
        branch = via[at:stop].decode("ascii", "replace")
        entry = pending.get(branch)
        if entry is None:
            # A late copy (the answer to a retransmission) of a transaction that has
            # ended: ours by the branch prefix, and the full parse would only drop it.
            return branch.startswith(self._branch_prefix)
        if entry.future is not None:
            return False
        method = _cseq_method(head)
        if method is None:
            return False
        if method != entry.method:
            return True  # §17.1.3: not an answer to this transaction; dropped as before
        status = int(code)
        if status >= 200:
            self._finish(branch, entry, status, None)
        return True

    # --- the awaitable API -------------------------------------------------------------------

    def on_response(self, response: SipResponse) -> None:
        try:
            branch = response.top_via().branch
            method = response.cseq().method
        except Exception:
            return
        entry = self._pending.get(branch or "")
        if entry is None or entry.method != method or response.status < 200:
            return
        self._finish(branch or "", entry, response.status, response)

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
        try:
            self._begin(request.method, branch, data, connection, address, timeout, None, future)
            return await future
        finally:
            entry = self._pending.get(branch)
            if entry is not None and entry.future is future:  # cancelled: no one to tell
                entry.future = None
                self._finish(branch, entry, None, None)

    def _via(self, connection: Connection, branch: str | None = None) -> Via:
        host, port = connection.local
        if host in ("0.0.0.0", "::", ""):
            host = self.service.config.advertised_host or self.service.config.realm
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
        loop = asyncio.get_running_loop()
        service = self.service
        _, protocol = await asyncio.wait_for(
            loop.create_connection(
                lambda: StreamConnection(
                    service, "tcp", service.connections, float(service.config.tcp_idle_timeout)
                ),
                host,
                port,
            ),
            timeout=5,
        )
        return protocol

    async def check_sync(
        self,
        phone_id: str,
        *,
        reboot: bool,
        timeout: float = CHECK_SYNC_TIMEOUT,
        skip_instances: frozenset[str] = frozenset(),
    ) -> list[ContactOutcome]:
        bindings = self.service.location.bindings_of(phone_id)
        if skip_instances:
            bindings = [
                item
                for item in bindings
                if not (item.outbound and item.instance_id in skip_instances)
            ]
        entry = self.service.directory.by_id(phone_id)
        if not bindings or entry is None:
            return []
        event = "check-sync;reboot=true" if reboot else "check-sync"
        aor = f"sip:{entry.username}@{self.service.config.realm}"
        nested = await asyncio.gather(
            *(self._check_sync_device(flows, aor, event, timeout) for flows in devices(bindings))
        )
        results = [item for outcomes in nested for item in outcomes]
        kind = "reboot" if reboot else "reprovision"
        for result in results:
            outcome = "failed" if result.outcome.startswith("error") else result.outcome
            metrics.CHECK_SYNC.labels(kind, outcome).inc()
        return list(results)

    async def _check_sync_device(
        self, flows: list[Binding], aor: str, event: str, timeout: float
    ) -> list[ContactOutcome]:
        """One device: its flows in turn until one answers (RFC 5626 §5.3); the outcome of
        the flow that answered, or of each flow tried when none did."""
        tried: list[ContactOutcome] = []
        for binding in flows:
            outcome = await self._check_sync_one(binding, aor, event, timeout)
            if outcome.status is not None:
                return [outcome]
            tried.append(outcome)
        return tried

    async def _check_sync_one(
        self, binding: Binding, aor: str, event: str, timeout: float
    ) -> ContactOutcome:
        realm = self.service.config.realm
        request = build_request(
            "NOTIFY",
            binding.contact,
            via=new_via("UDP", realm),
            from_=NameAddr(
                display_name=None, uri=parse_uri(f"sip:{realm}"), params=(("tag", new_tag()),)
            ),
            to=NameAddr(display_name=None, uri=parse_uri(aor), params=()),
            call_id=new_call_id(realm),
            cseq=1,
            headers=[("Event", event), ("Subscription-State", "terminated")],
        )
        try:
            response = await self.send(request, binding, timeout)
        except Exception as exc:
            return ContactOutcome(
                contact=binding.contact, transport=binding.transport, status=None,
                outcome=f"error: {exc}",
            )  # fmt: skip
        if response is None:
            return ContactOutcome(
                contact=binding.contact, transport=binding.transport, status=None,
                outcome="timeout",
            )  # fmt: skip
        ok = 200 <= response.status < 300
        outcome = "ok" if ok else f"error: {response.status} {response.reason}"
        return ContactOutcome(
            contact=binding.contact, transport=binding.transport, status=response.status,
            outcome=outcome,
        )  # fmt: skip


def devices(bindings: list[Binding]) -> list[list[Binding]]:
    """The bindings grouped by device: the flows of one outbound instance together, newest
    registration (latest expiry) first; every other binding alone."""
    instances: dict[str, list[Binding]] = {}
    out: list[list[Binding]] = []
    for item in bindings:
        if item.outbound and item.instance_id is not None:
            flows = instances.get(item.instance_id)
            if flows is None:
                flows = instances[item.instance_id] = []
                out.append(flows)
            flows.append(item)
        else:
            out.append([item])
    for flows in instances.values():
        flows.sort(key=lambda item: item.expires_at, reverse=True)
    return out


def _contact_address(contact: str) -> tuple[str, int]:
    uri = parse_uri(contact)
    host = getattr(uri, "host", None)
    if not host:
        raise NoRoute(f"contact {contact!r} has no host")
    return host, getattr(uri, "port", None) or 5060


_BRANCH_END = frozenset(b";, \t\r\n")


def _top_via(head: bytes) -> bytes | None:
    """The value of the first Via header line of a message head, if it is unambiguous."""
    line = head.find(b"\r\n") + 2
    if line >= 2 and head.startswith((b"Via: ", b"v: "), line):  # the common case
        value = line + (5 if head[line] == 86 else 3)  # 86: "V"
    else:  # any case, spaces before the colon, other headers first
        low = head.lower()
        names = (b"\r\nvia", b"\r\nv:", b"\r\nv ")
        starts = [at for at in (low.find(name) for name in names) if at >= 0]
        if not starts:
            return None
        line = min(starts) + 2
        colon = low.find(b":", line)
        if colon < 0 or low[line:colon].rstrip() not in (b"via", b"v"):
            return None
        value = colon + 1
    eol = head.find(b"\r\n", value)
    if eol < 0:
        eol = len(head)
    elif head[eol + 2 : eol + 3] in (b" ", b"\t"):
        return None  # folded onto the next line
    return head[value:eol].strip()


def _cseq_method(head: bytes) -> str | None:
    """The method of the CSeq header line of a message head, if there is exactly one way
    to read it."""
    at = head.find(b"\r\nCSeq: ")
    if at >= 0:
        start = at + 8
    else:
        low = head.lower()
        at = low.find(b"\r\ncseq")
        colon = low.find(b":", at) if at >= 0 else -1
        if colon < 0 or low[at + 6 : colon].strip():
            return None
        start = colon + 1
    eol = head.find(b"\r\n", start)
    parts = head[start : eol if eol >= 0 else len(head)].split()
    if len(parts) != 2 or not parts[0].isdigit():
        return None
    return parts[1].decode("ascii", "replace")
