"""The SIP service: listeners, dispatch, server transactions, response routing, public API.

Theory of operation. Transports (`sipcore.server.transport.connections`, `.websocket`) deliver whole
messages to `SipService.on_message`. A request is parsed, its top Via stamped with
received/rport (RFC 3261 §18.2.1, RFC 3581 §4) and looked up in the server transaction
table (§17.2.3: branch + sent-by + method): a retransmission gets the stored response
again, or nothing while the first copy is still being processed (§17.2.2), so it is
never processed twice. New requests go to the handler of their method (REGISTER and
OPTIONS here; others plug in with `register_method`); methods sipfleet knows but does
not handle get 405 with Allow, unknown ones 501 (§8.2.1). Responses go back over the
connection they came on (stream transports, §18.2.2) or, for UDP, to the source address
and rport port (RFC 3581 §4) or the Via's sent-by port. A response is matched to our own
client transaction by its top Via branch (`sipcore.server.transport.client`).

Overload control (`sipcore.server.overload_guard`): while work waits too long, a growing
share of new requests without credentials gets a cheap 503 + Retry-After before any
digest work.

Bad input never stops a listener: a message that cannot be parsed gets 400 (or the
parser's 413/416/505) when it can be addressed, otherwise it is dropped and counted.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import random
import time
from typing import Any

import asyncpg

from db.errors import unavailable
from sipcore import metrics
from sipcore.edge import client_address, is_trusted_peer
from sipcore.errors import SipParseError
from sipcore.fastreg import parse_udp_register
from sipcore.gateport import AllowAll, IpGatePort
from sipcore.location import Binding, LocationService
from sipcore.message import (
    SipRequest,
    SipResponse,
    make_response,
    with_received,
)
from sipcore.overload import retry_after, sheddable
from sipcore.parser import parse_message
from sipcore.registrar.request import REGISTER_EXTENSIONS
from sipcore.server.config import SipConfig
from sipcore.server.context import (
    AuthOutcome,
    BindingListener,
    ContactOutcome,
    Handler,
    RequestContext,
    Target,
)
from sipcore.server.overload_guard import OverloadGuard
from sipcore.server.registrar.auth import Authenticator
from sipcore.server.registrar.bindings import BindingTable, OnlineListeners, ProbeHistory
from sipcore.server.registrar.check_sync import CheckSyncNotifier
from sipcore.server.registrar.directory import PhoneDirectory
from sipcore.server.registrar.keepalive import Keepalive
from sipcore.server.registrar.lifecycle import BindingLifecycle
from sipcore.server.registrar.register import RegisterHandler
from sipcore.server.registrar.writer import WriteBehind
from sipcore.server.transport.client import RequestSender
from sipcore.server.transport.connections import Address, Connection, ConnectionTable
from sipcore.server.transport.listeners import BoundListeners, bind_listeners
from sipcore.syntax import frozen_builder
from sipcore.transaction import ServerKey, ServerTransactions, Timers, server_key

log = logging.getLogger(__name__)

# Methods of RFC 3261 and its extensions that sipfleet recognises (405 when not handled);
# anything else is 501 Not Implemented (§8.2.1).
KNOWN_METHODS = frozenset(
    {
        "INVITE", "ACK", "BYE", "CANCEL", "REGISTER", "OPTIONS", "INFO", "PRACK", "UPDATE",
        "SUBSCRIBE", "NOTIFY", "PUBLISH", "MESSAGE", "REFER",
    }
)  # fmt: skip
_METRIC_METHODS = frozenset({"REGISTER", "SUBSCRIBE", "PUBLISH", "OPTIONS", "NOTIFY"})
# Collector generation 0 threshold while serving (CPython's default is 700 allocations).
GC_GEN0_THRESHOLD = 20_000
_gc_tuned = False
_RequestContext = frozen_builder(RequestContext)


def tune_gc() -> None:
    """Freeze what start-up built (modules, the directory, loaded bindings) out of the
    collector's sight and collect young objects less often.

    Why: a REGISTER allocates a few hundred short-lived containers, so with the default
    threshold the collector ran every couple of requests and its older generations walked
    every binding and directory entry again — about a fifth of the CPU of a registration
    in `bench/registrar/hotpath.py`. Almost all of it is freed by reference counting
    anyway. Done once per process (tests start many services in one process)."""
    global _gc_tuned
    if _gc_tuned:
        return
    _gc_tuned = True
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


class SipService:
    """The running SIP side of sipfleet; `ctx.hub.sip` holds one."""

    def __init__(
        self, config: SipConfig, pool: asyncpg.Pool[Any], gate: IpGatePort | None = None
    ) -> None:
        self.config = config
        self.pool = pool
        self.gate: IpGatePort = gate if gate is not None else AllowAll()
        self.location = LocationService()
        self.directory = PhoneDirectory(pool)
        self.connections = ConnectionTable(
            per_address=config.connections_per_address,
            unauthenticated_timeout=float(config.unauthenticated_timeout),
            exempt=config.trusted_proxies,
        )
        self.writer = WriteBehind(
            pool, limit=config.write_queue_limit, node=config.node_id, gather=config.write_gather
        )
        self.authenticator = Authenticator(config, self.directory, self.gate)
        self.client = RequestSender(
            connections=self.connections, listeners=lambda: self.listeners, sink=self,
            t1=config.timer_t1, t2=config.timer_t2,
            via_host=config.advertised_host or config.realm,
            tcp_idle_timeout=float(config.tcp_idle_timeout),
        )  # fmt: skip
        self.check_sync_notifier = CheckSyncNotifier(
            self.location, self.directory, config.realm, self.client
        )
        self.online_listeners = OnlineListeners()
        self.bindings = BindingTable(
            self.location, self.directory, self.online_listeners, ProbeHistory()
        )
        self.lifecycle = BindingLifecycle(pool, config.node_id, self.bindings, self.writer)
        self.keepalive = Keepalive(
            config, self.bindings, self.connections, self.client.send, self.writer,
            self.lifecycle.flow_failed,
        )  # fmt: skip
        self.registrar = RegisterHandler(
            config, self.bindings, self.directory, self.authenticator, self.writer
        )
        self.listeners: BoundListeners | None = None
        # methods other components plug in (`register_method`); REGISTER is answered by
        # `self.registrar.handle_now`, without a task (`_dispatch`)
        self._handlers: dict[str, Handler] = {"OPTIONS": self._options}
        self._transactions = ServerTransactions(Timers(t1=config.timer_t1, t2=config.timer_t2))
        self._tasks: set[asyncio.Task[Any]] = set()
        self._timer: asyncio.Task[None] | None = None
        self._probe: asyncio.Task[None] | None = None
        self.overload_guard = OverloadGuard(config.overload_lag)
        self.overload = self.overload_guard.control  # read on every new request
        self.dropped = 0
        self._request_counters: dict[tuple[str, str], Any] = {}

    # --- life cycle -------------------------------------------------------------------

    async def start(self, *, ssl_context: Any = None) -> None:
        """Load the directory and bindings, then listen (raises ListenError)."""
        self.connections.has_bindings = self.bindings.connection_has_bindings
        await self.directory.start()
        self.directory.on_revoked = self.lifecycle.revoke_phone
        await self.lifecycle.load()
        self.writer.start()
        self.listeners = await bind_listeners(
            list(self.config.listeners), ssl_context, self, self.connections,
            float(self.config.tcp_idle_timeout),
        )  # fmt: skip
        loop = asyncio.get_running_loop()
        self._timer = loop.create_task(self._tick_forever())
        if self.overload.policy.enabled:
            self._probe = loop.create_task(self.overload_guard.run(self._listener_lag))
        tune_gc()

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._probe is not None:
            self._probe.cancel()
        self.overload_guard.stop()
        if self.listeners is not None:
            await self.listeners.close()
        self.connections.close_all()
        await asyncio.sleep(0)  # let the aborted transports run connection_lost
        self.client.cancel_all()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.writer.stop()
        await self.directory.stop()

    def addresses(self) -> list[tuple[str, str, int]]:
        return self.listeners.addresses() if self.listeners else []

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.config.sweep_interval)
            try:
                self._transactions.handle_timer(time.monotonic())
                self.connections.close_idle()
                now = time.time()
                await self.lifecycle.tick(now)
                await self.keepalive.tick(now)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if unavailable(exc):  # the writer and /healthz say the rest
                    log.warning("SIP timer tick failed, database unavailable: %s", exc)
                else:
                    log.exception("SIP timer tick failed")

    def _listener_lag(self, now: float) -> float:
        """The oldest wait in the UDP listeners' receive buffers (their lag probes)."""
        udp = self.listeners.udp if self.listeners is not None else ()
        return max((sock.probe_lag(now) for sock in udp), default=0.0)

    # --- receiving ----------------------------------------------------------------------

    def on_bad_input(self, transport: str) -> None:
        self.dropped += 1
        metrics.SIP_PARSE_ERRORS.labels(transport=transport).inc()

    def on_connection_closed(self, connection: Connection) -> None:
        self.lifecycle.connection_closed(connection)

    def on_message(self, connection: Connection, data: bytes, source: Address) -> None:
        if data.startswith(b"SIP/2.0 ") and self.client.on_response_bytes(data):
            return  # an answer to one of our own requests, matched without a full parse
        if data.startswith(b"REGISTER ") and connection.transport == "udp":
            # The plain UDP REGISTER, parsed and Via-stamped in one pass (`sipcore.fastreg`,
            # equal to the full parser's request); anything unusual falls through to it.
            fast = parse_udp_register(data, source[0], source[1])
            if fast is not None:
                try:
                    self._receive(fast, connection, source)
                except SipParseError as exc:
                    self._bad_message(connection, source, exc)
                return
        try:
            message = parse_message(data, stream=connection.transport in ("tcp", "tls"))
        except SipParseError as exc:
            self._bad_message(connection, source, exc)
            return
        if isinstance(message, SipResponse):
            self.client.on_response(message)
            return
        try:
            request = with_received(message, source[0], source[1])
            self._receive(request, connection, source)
        except SipParseError as exc:
            self._bad_message(connection, source, exc)

    def _receive(self, request: SipRequest, connection: Connection, source: Address) -> None:
        method = request.method
        if method == "ACK":
            return  # ACK of a non-2xx final response of ours ends there (§17.2.1)
        self._count(method, connection.transport)
        index = request.headers._index
        if "require" in index:  # §8.2.2.3: only the registrar's extensions (path, outbound, gruu)
            unsupported = _unsupported(request)
            if unsupported:
                response = make_response(request, 420, headers=[("Unsupported", unsupported)])
                self._answer_now(request, connection, source, response)
                return
        if method == "INVITE":  # no INVITE transactions here: 405, again for each copy
            self._answer_now(request, connection, source, self._not_handled(request))
            return
        if method == "REGISTER" and "authorization" not in index:
            overload = self.overload
            if overload.admit < 1.0 and overload.shed(random.random()):  # before any digest
                self._answer_now(request, connection, source, self.overload_guard.refuse(request))
                return
            # The first half of every registration, answered at once without a task or a
            # transaction: it is stateless, so a retransmission just gets a fresh
            # challenge (and the table holds half as much under a registration storm).
            client_ip = self._client_ip(request, source)
            challenge = self.authenticator.challenge_unauthenticated(request, client_ip)
            if challenge is not None:
                self._answer_now(request, connection, source, challenge)
            return
        received = self._transactions.receive(
            request, reliable=connection.reliable, now=time.monotonic()
        )
        if not received.is_new:  # §17.2.2: absorbed; the last response again, if any
            if received.resend is not None:
                connection.send(
                    received.resend, self._response_address(request, connection, source)
                )
            return
        if (
            self.overload.admit < 1.0
            and sheddable(
                method,
                "authorization" in index or "proxy-authorization" in index,
                request.to().tag is not None,
            )
            and self.overload.shed(random.random())
        ):
            self._finish(
                request, received.key, connection, source, self.overload_guard.refuse(request)
            )
            return
        self._dispatch(request, received.key, connection, source)

    def _bad_message(self, connection: Connection, source: Address, exc: SipParseError) -> None:
        self.on_bad_input(connection.transport)
        partial = exc.partial
        if isinstance(partial, SipRequest) and partial.method != "ACK":
            try:
                response = make_response(partial, exc.status_hint, exc.reason)
                request = with_received(partial, source[0], source[1])
                data = response.to_bytes()
                connection.send(data, self._response_address(request, connection, source))
            except SipParseError:
                pass
        log.debug("malformed %s message from %s:%d: %s", connection.transport, *source, exc)

    def _context(
        self, request: SipRequest, connection: Connection, source: Address
    ) -> RequestContext:
        local = connection.local
        return _RequestContext(
            transport=connection.transport,
            source_ip=source[0],
            source_port=source[1],
            local_ip=local[0],
            local_port=local[1],
            connection=connection,
            received_at=time.time(),
            client_ip=self._client_ip(request, source),
        )

    def _client_ip(self, request: SipRequest, source: Address) -> str:
        """The phone's address: the source, or what a trusted edge proxy stamped."""
        trusted = self.config.trusted_proxies
        if trusted and is_trusted_peer(source[0], trusted):
            return client_address(source[0], source[1], request.vias(), trusted).ip
        return source[0]

    def _count(self, method: str, transport: str) -> None:
        label = method if method in _METRIC_METHODS else "other"
        counter = self._request_counters.get((label, transport))
        if counter is None:
            counter = metrics.SIP_REQUESTS.labels(method=label, transport=transport)
            self._request_counters[(label, transport)] = counter
        counter.inc()

    def _not_handled(self, request: SipRequest) -> SipResponse:
        """§8.2.1: 405 with Allow for a method we know but do not handle, else 501."""
        if request.method in KNOWN_METHODS:
            return make_response(request, 405, headers=[("Allow", self.allow_header())])
        return make_response(request, 501)

    def _answer_now(
        self,
        request: SipRequest,
        connection: Connection,
        source: Address,
        response: SipResponse | bytes,
    ) -> None:
        address = self._response_address(request, connection, source)
        connection.send(response if isinstance(response, bytes) else response.to_bytes(), address)

    def _dispatch(
        self, request: SipRequest, key: ServerKey, connection: Connection, source: Address
    ) -> None:
        ctx: RequestContext
        if request.method == "REGISTER":  # the registrar answers without a task
            ctx = self._context(request, connection, source)
            answer = functools.partial(self._answer_later, request, key, connection, source)
            try:
                self.registrar.handle_now(request, ctx, answer)
            except SipParseError as exc:
                answer(make_response(request, exc.status_hint, exc.reason))
            except Exception:
                log.exception("REGISTER handler failed (Call-ID %s)", request.call_id)
                answer(make_response(request, 500, "Server Internal Error"))
            return
        handler = self._handlers.get(request.method)
        if handler is None:
            self._finish(request, key, connection, source, self._not_handled(request))
            return
        ctx = self._context(request, connection, source)
        task = asyncio.get_running_loop().create_task(self._run_handler(handler, request, key, ctx))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_handler(
        self, handler: Handler, request: SipRequest, key: ServerKey, ctx: RequestContext
    ) -> None:
        try:
            response = await handler(request, ctx)
        except SipParseError as exc:
            response = self._error_response(request, exc.status_hint, exc.reason, ctx)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if unavailable(exc):  # the database is away: try again later (one log line)
                log.warning("%s refused, database unavailable (Call-ID %s): %s",
                            request.method, request.call_id, type(exc).__name__)  # fmt: skip
                response = self._error_response(request, 503, "Service Unavailable", ctx,
                                                retry=True)  # fmt: skip
            else:
                log.exception("%s handler failed (Call-ID %s)", request.method, request.call_id)
                response = self._error_response(request, 500, "Server Internal Error", ctx)
        if response is None:
            return  # the handler answered itself (send_response), or not at all (Timer J)
        self._finish(request, key, ctx.connection, (ctx.source_ip, ctx.source_port), response)

    def _error_response(
        self, request: SipRequest, status: int, reason: str, ctx: RequestContext,
        *, retry: bool = False,
    ) -> SipResponse | None:  # fmt: skip
        """An error response to the request (`retry`: with a Retry-After), or None when
        its own headers are too broken to build one (a To that does not parse): then it
        is dropped and counted."""
        headers = [("Retry-After", retry_after(random.randint))] if retry else []
        try:
            return make_response(request, status, reason, headers=headers)
        except SipParseError as exc:
            self.on_bad_input(ctx.transport)
            log.debug("%s from %s:%d not answerable: %s", request.method, ctx.source_ip,
                      ctx.source_port, exc)  # fmt: skip
            return None

    def _answer_later(
        self,
        request: SipRequest,
        key: ServerKey,
        connection: Connection,
        source: Address,
        response: SipResponse | bytes | None,
    ) -> None:
        if response is not None:  # None: dropped unanswered (a banned address)
            self._finish(request, key, connection, source, response)

    def _finish(
        self,
        request: SipRequest,
        key: ServerKey,
        connection: Connection,
        source: Address,
        response: SipResponse | bytes,
    ) -> None:
        if isinstance(response, bytes):  # a handler's ready-made response (the registrar)
            data = response
            status = int(data[8:11])
        else:
            data = response.to_bytes()
            status = response.status
        connection.send(data, self._response_address(request, connection, source))
        self._transactions.respond(key, data, status=status, now=time.monotonic())

    @staticmethod
    def _response_address(
        request: SipRequest, connection: Connection, source: Address
    ) -> Address | None:
        """§18.2.2 for UDP: rport → the source address and port (RFC 3581 §4); otherwise
        the received address and the sent-by port (default 5060). Streams ignore it."""
        if connection.reliable:
            return None
        via = request.top_via()
        if via.has_rport:
            return source
        return (via.received or source[0], via.port or 5060)

    def send_response(
        self, request: SipRequest, ctx: RequestContext, response: SipResponse
    ) -> None:
        """Send a response a handler built itself (handlers returning None answer here)."""
        source = (ctx.source_ip, ctx.source_port)
        data = response.to_bytes()
        ctx.connection.send(data, self._response_address(request, ctx.connection, source))
        if request.method not in ("INVITE", "ACK"):  # kept for retransmissions (§17.2.2)
            key = server_key(request)
            self._transactions.respond(key, data, status=response.status, now=time.monotonic())

    async def _options(self, request: SipRequest, ctx: RequestContext) -> SipResponse:
        """OPTIONS to the server: 200 with what we allow (§11.2)."""
        return make_response(
            request, 200, headers=[("Allow", self.allow_header()), ("Accept", "application/sdp")]
        )

    def allow_header(self) -> str:
        return ", ".join(sorted({"REGISTER", *self._handlers}))

    # --- public API (ctx.hub.sip) -----------------------------------------------------

    def register_method(self, method: str, handler: Handler) -> None:
        """Plug in the handler of a method (presence: SUBSCRIBE, PUBLISH). It receives the
        parsed request (top Via stamped with received/rport) and a `RequestContext`, and
        returns the response, or None when it answered itself (`send_response`)."""
        self._handlers[method.upper()] = handler

    async def authenticate(self, request: SipRequest, ctx: RequestContext) -> AuthOutcome:
        """Digest (MD5/SHA-256) + failure rate limit + IP gate (`channel="sip:<METHOD>"`)."""
        return await self.authenticator.authenticate(request, ctx)

    def add_binding_listener(self, callback: BindingListener) -> None:
        """`callback(phone_id, extension_id, online)` when a phone goes on/offline here."""
        self.online_listeners.add(callback)

    def online_phones(self) -> set[str]:
        return self.location.online_phones()

    def bindings_of(self, phone_id: str) -> list[Binding]:
        return self.location.bindings_of(phone_id)

    async def send_request(
        self,
        request: SipRequest,
        *,
        binding_or_target: Binding | RequestContext | Target,
        timeout: float | None = None,
    ) -> SipResponse | None:
        """Send a request as a client transaction (§17.1.2: retransmitted on UDP) over the
        binding's own flow, the context's connection, or to a target; the final response,
        or None on timeout/transport error. The top Via is set here (sent-by = our address
        on that flow, a fresh branch)."""
        return await self.client.send(request, binding_or_target, timeout)

    async def check_sync(
        self, phone_id: str, *, reboot: bool, skip_instances: frozenset[str] = frozenset()
    ) -> list[ContactOutcome]:
        """NOTIFY `Event: check-sync` (`;reboot=true`) to every registered device (but
        the outbound instances in `skip_instances`, which another node reaches)."""
        return await self.check_sync_notifier.check_sync(
            phone_id, reboot=reboot, skip_instances=skip_instances
        )


def _unsupported(request: SipRequest) -> str:
    """The Require option tags of `request` this server does not support (§8.2.2.3),
    comma-separated; "" when it supports them all (a REGISTER's path, outbound, gruu)."""
    values = request.headers.values("require")
    if request.method != "REGISTER":
        return ", ".join(values)
    return ", ".join(item for item in values if item.strip().lower() not in REGISTER_EXTENSIONS)
