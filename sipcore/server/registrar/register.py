"""The REGISTER handler: authenticate, decide (pure), persist, apply, answer.

Order of work for one REGISTER (RFC 3261 §10.3): digest + IP gate (`auth`), then the
pure decision (`sipcore.registrar.decision.decide_register`) against the phone's bindings in
memory; a refusal answers at once and changes nothing. Changes go to the durable-write
queue together with the phone's status row and its events (`phone.registered`,
`phone.unregistered`) and the handler waits for the commit — only then are they applied
in memory and the 200 OK sent (a 200 is sent only after the commit). The 200
is built before the write: one that would not fit the transport (a UDP datagram, the
message size limit) is never preceded by a commit — the REGISTER gets 403 "Contact List
Too Large" and changes nothing. When the
queue is saturated a REGISTER that would add a new binding gets 503 with a randomized
Retry-After; refreshes of known bindings still go through (storm control). The rows
themselves are built in `sipcore.server.registrar.binding_rows`.

Extensions (`sipcore.registrar.request.register_options`, read only when the
REGISTER has Path, Supported or Require headers): a trusted edge's Path is kept with the
binding and echoed; outbound flows (RFC 5626) get `Require: outbound` and Flow-Timer, and
a direct flow that fails loses its binding (`flow_failed`); `Supported: gruu` puts each
instance's `pub-gruu` in the 200. A REGISTER asking only for Path takes the same lanes as
a plain one.

The same module owns the other ways bindings end: expiry (`tick`, event
`phone.expired`), revocation when a phone's credentials change or it is deleted, and
reachability (`sipcore.server.registrar.keepalive`). Every online/offline transition is announced
to the binding listeners (presence).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import asyncpg

from db import bindings as binding_queries
from db import phone_status as status_queries
from db.phone_status import EventWrite, StatusWrite
from sipcore import metrics
from sipcore.edge import is_trusted_peer
from sipcore.errors import SipParseError
from sipcore.location import Binding
from sipcore.message import SipRequest, SipResponse, make_response, response_bytes
from sipcore.registrar.decision import (
    ContactSpec,
    RegisterDecision,
    RegisterInput,
    RegistrarPolicy,
    ReportedContact,
    decide_register,
    pub_gruu,
    refresh_grant,
)
from sipcore.registrar.request import (
    PLAIN,
    OptionsRefused,
    RegisterOptions,
    contact_specs_cached,
    first_hop_outbound,
    fits,
    http_date,
    interned,
    local_ip,
    options_specs,
    register_input,
    register_options,
)
from sipcore.server.context import AuthenticatedPhone, AuthOutcome, RequestContext
from sipcore.server.registrar.auth import Pending
from sipcore.server.registrar.binding_rows import event_row, register_job, status_row, utc
from sipcore.server.registrar.keepalive import Keepalive
from sipcore.server.registrar.writer import WriteFailed, WriteJob
from sipcore.server.transport.connections import Connection
from sipcore.syntax import frozen_builder

if TYPE_CHECKING:
    from sipcore.server.service import SipService

log = logging.getLogger(__name__)

Flow = tuple[str, str, int]
ORPHAN_SWEEP_INTERVAL = 30.0
ORPHAN_GRACE = 30.0  # the owning node's own sweeper goes first
_OK = metrics.REGISTRATIONS.labels(result="ok")
# The hot path's objects, built without the frozen-dataclass __init__ (`frozen_builder`).
_Binding = frozen_builder(Binding)
_ReportedContact = frozen_builder(ReportedContact)
_UNREGISTERED = metrics.REGISTRATIONS.labels(result="unregistered")


def _flow(binding: Binding) -> Flow:
    return (binding.transport, binding.source_ip, binding.source_port)


# Where a REGISTER's response goes (None: drop it unanswered, a banned address).
Answer = Callable[[SipResponse | bytes | None], None]


class _Begun:
    """A REGISTER decided and its write built, waiting for the commit: the bindings to
    store and remove, its 200 OK (built before the commit, so one too large to send is
    never committed), and — for a refresh decided by `refresh_grant` — the one binding it
    replaces."""

    __slots__ = ("job", "ok", "phone", "removals", "replaces", "upserts")

    def __init__(
        self,
        phone: AuthenticatedPhone,
        upserts: list[Binding],
        removals: tuple[str, ...],
        ok: bytes,
        job: WriteJob,
        replaces: Binding | None = None,
    ) -> None:
        self.phone = phone
        self.upserts = upserts
        self.removals = removals
        self.ok = ok
        self.job = job
        self.replaces = replaces


class RegisterHandler:
    def __init__(self, service: SipService) -> None:
        self.service = service
        self._next_orphan_sweep = 0.0
        config = service.config
        self.policy = RegistrarPolicy(
            min_expires=config.min_expires,
            max_expires=config.max_expires,
            default_expires=config.default_expires,
            spread_percent=config.expires_spread_percent,
            max_contacts=config.max_contacts,
        )
        self.keepalive = Keepalive(self)
        self._flows: dict[Flow, int] = {}  # stream flows carrying bindings → their count
        # outbound bindings straight from the phone (RFC 5626 §6), by flow: a flow that
        # fails takes its bindings with it
        self._outbound: dict[Flow, set[tuple[str, str]]] = {}
        self._udp_bindings = 0
        self._tasks: set[asyncio.Task[None]] = set()

    # --- start --------------------------------------------------------------------------

    async def load(self) -> None:
        """Bindings from PostgreSQL (after a restart or crash) back into memory."""
        loaded = 0
        node = self.service.config.node_id or None
        async with self.service.pool.acquire() as conn:
            async for page in binding_queries.load_binding_pages(conn, node):
                loaded += len(page)
                for item in page:
                    self._put(
                        Binding(
                            phone_id=item.phone_id, contact=item.contact, call_id=item.call_id,
                            cseq=item.cseq, expires_at=item.expires_at.timestamp(), q=item.q,
                            transport=item.transport, source_ip=item.source_ip,
                            source_port=item.source_port, local_ip=item.local_ip,
                            user_agent=item.user_agent, instance_id=item.instance_id,
                            reg_id=item.reg_id, node=item.node, unreachable=item.unreachable,
                            path=item.path,
                        )
                    )  # fmt: skip
            await status_queries.offline_without_bindings(conn)
        log.info("bindings loaded: %d", loaded)

    # --- flows (which stream connections carry bindings) --------------------------------

    def _put(self, binding: Binding) -> None:
        old = self.service.location.binding(binding.phone_id, binding.contact)
        if old is not None:
            self._unflow(old)
        self.service.location.put(binding)
        if binding.reg_id is not None and binding.path is None and binding.outbound:
            self._outbound.setdefault(_flow(binding), set()).add(
                (binding.phone_id, binding.contact)
            )
        if binding.transport == "udp":  # no connection to keep open: a count is enough
            self._udp_bindings += 1
            return
        flow = _flow(binding)
        self._flows[flow] = self._flows.get(flow, 0) + 1

    def _unflow(self, binding: Binding) -> None:
        if binding.reg_id is not None:
            keys = self._outbound.get(_flow(binding))
            if keys is not None:
                keys.discard((binding.phone_id, binding.contact))
                if not keys:
                    del self._outbound[_flow(binding)]
        if binding.transport == "udp":
            self._udp_bindings = max(0, self._udp_bindings - 1)
            return
        flow = _flow(binding)
        count = self._flows.get(flow, 0) - 1
        if count > 0:
            self._flows[flow] = count
        else:
            self._flows.pop(flow, None)

    def connection_has_bindings(self, connection: Connection) -> bool:
        return (connection.transport, *connection.remote) in self._flows

    def connection_closed(self, connection: Connection) -> None:
        """A stream closed: its bindings cannot be reached until they re-register; its
        outbound flows' bindings are dropped at once (RFC 5626 §6: requests to the
        instance then take its other flows)."""
        if self.connection_has_bindings(connection):
            log.info(
                "%s connection %s:%d with bindings closed", connection.transport, *connection.remote
            )
            self.flow_failed((connection.transport, *connection.remote))

    def flow_failed(self, flow: Flow) -> None:
        """The outbound bindings of a dead flow (a closed connection, a UDP flow the
        keep-alive found dead) are removed, recorded with `phone.unreachable`."""
        keys = self._outbound.pop(flow, None)
        if not keys:
            return
        location = self.service.location
        for phone_id in {key[0] for key in keys}:
            gone = [
                item
                for item in location.bindings_of(phone_id)
                if (phone_id, item.contact) in keys and _flow(item) == flow
            ]
            if gone:
                self._drop_flows(phone_id, gone)

    def _drop_flows(self, phone_id: str, gone: list[Binding]) -> None:
        entry = self.service.directory.by_id(phone_id)
        customer = entry.customer_id if entry else None
        contacts = tuple(item.contact for item in gone)
        self.apply(phone_id, entry.extension_id if entry else None, (), contacts)
        remaining = self.service.location.bindings_of(phone_id)
        job = WriteJob(  # as an expiry: only rows this node still holds (not one the
            # phone has since registered through another worker or node)
            expirations=tuple((phone_id, contact) for contact in contacts),
            statuses=(status_row(phone_id, remaining, None, None),),
            events=tuple(event_row("phone.unreachable", customer, item) for item in gone),
        )
        log.info("outbound flow failed: %d bindings dropped", len(gone), extra={"phone": phone_id})
        task = asyncio.get_running_loop().create_task(self._submit_quietly(job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- REGISTER -----------------------------------------------------------------------

    async def handle(self, request: SipRequest, ctx: RequestContext) -> SipResponse | bytes | None:
        """The REGISTER handler as a coroutine (the service uses `handle_now`)."""
        started = time.perf_counter()
        outcome = await self.service.authenticate(request, ctx)
        if outcome.phone is None:
            return outcome.response
        begun = self._decide(request, outcome.phone, ctx)
        if not isinstance(begun, _Begun):
            return begun
        try:
            await self.service.writer.submit(begun.job)
        except WriteFailed as failure:
            return self._write_failed(request, failure)
        response = self._committed(request, begun, ctx)
        metrics.REGISTER_LATENCY.observe(time.perf_counter() - started)
        return response

    def handle_now(self, request: SipRequest, ctx: RequestContext, answer: Answer) -> None:
        """`handle` without a coroutine or task per REGISTER: the response goes to
        `answer` — at once (a challenge, a refusal, nothing to change) or from the
        commit's callback. Only a gate that needs I/O (locking an OPEN phone, recording a
        denial) continues in a task. Why: under a registration storm the coroutine chain
        and task of every REGISTER were a tenth of its CPU."""
        started = time.perf_counter()
        outcome = self.service.authenticator.authenticate_now(request, ctx)
        if isinstance(outcome, Pending):
            task = asyncio.get_running_loop().create_task(
                self._after_gate(outcome, request, ctx, answer, started)
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        self._after_auth(outcome, request, ctx, answer, started)

    async def _after_gate(
        self,
        pending: Pending,
        request: SipRequest,
        ctx: RequestContext,
        answer: Answer,
        started: float,
    ) -> None:
        try:
            outcome = await pending.finish()
            self._after_auth(outcome, request, ctx, answer, started)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("REGISTER handler failed (Call-ID %s)", request.call_id)
            answer(make_response(request, 500, "Server Internal Error"))

    def _after_auth(
        self,
        outcome: AuthOutcome,
        request: SipRequest,
        ctx: RequestContext,
        answer: Answer,
        started: float,
    ) -> None:
        if outcome.phone is None:
            answer(outcome.response)
            return
        begun = self._decide(request, outcome.phone, ctx)
        if not isinstance(begun, _Begun):
            answer(begun)
            return
        self.service.writer.submit_then(
            begun.job, functools.partial(self._on_commit, request, begun, ctx, answer, started)
        )

    def _on_commit(
        self,
        request: SipRequest,
        begun: _Begun,
        ctx: RequestContext,
        answer: Answer,
        started: float,
        failure: WriteFailed | None,
    ) -> None:
        response: SipResponse | bytes
        try:
            if failure is not None:
                response = self._write_failed(request, failure)
            else:
                response = self._committed(request, begun, ctx)
                metrics.REGISTER_LATENCY.observe(time.perf_counter() - started)
        except Exception:
            log.exception("REGISTER handler failed (Call-ID %s)", request.call_id)
            response = make_response(request, 500, "Server Internal Error")
        answer(response)

    def _decide(
        self, request: SipRequest, phone: AuthenticatedPhone, ctx: RequestContext
    ) -> SipResponse | bytes | _Begun:
        """An authenticated REGISTER: a refresh of the phone's one binding by
        `_begin_refresh`, anything else (or what it declines) by `_begin`. A REGISTER with
        Path, Supported or Require headers first has its extensions read
        (`register_options`); one that asks for more than a Path goes to `_begin`."""
        options = PLAIN
        index = request.headers._index
        try:
            if "path" in index or "supported" in index or "require" in index:
                trusted = self.service.config.trusted_proxies
                options = register_options(
                    request, bool(trusted) and is_trusted_peer(ctx.source_ip, trusted)
                )
            if options is PLAIN or options.path_only:
                begun = self._begin_refresh(request, phone, ctx, options)
                if begun is not None:
                    return begun
            register = register_input(request)
            contacts = register.contacts
            if len(contacts) == 1 and contacts[0].reg_id is None:
                pass  # (the common REGISTER: nothing to check)
            elif any(item.reg_id is not None for item in contacts):
                specs = options_specs(contacts, options, request)
                if specs is not contacts:
                    register = replace(register, contacts=specs)
        except SipParseError as exc:
            metrics.REGISTRATIONS.labels(result="bad_request").inc()
            return make_response(request, 400, exc.reason)
        except OptionsRefused as exc:
            label = "denied" if exc.status == 403 else "bad_request"
            metrics.REGISTRATIONS.labels(result=label).inc()
            return make_response(request, exc.status, exc.reason)
        return self._begin(request, register, phone, ctx, options)

    def _begin_refresh(
        self,
        request: SipRequest,
        phone: AuthenticatedPhone,
        ctx: RequestContext,
        options: RegisterOptions = PLAIN,
    ) -> _Begun | None:
        """The REGISTER nearly every phone sends: its one Contact again, from the flow of
        its one binding (and through an edge proxy, the same Path again). Decided by
        `refresh_grant` (equal to the general decision, see there) and written as `_begin`
        would; None for anything else, and `_begin` decides. The same flow means the flow
        counts and stream bookkeeping do not change."""
        old = self.service.location.only_binding(phone.phone_id)
        if (
            old is None
            or old.source_port != ctx.source_port
            or old.source_ip != ctx.source_ip
            or old.transport != ctx.transport
            or old.path != options.path
        ):
            return None
        lines = request.headers._index.get("contact")
        if lines is None or len(lines) != 1 or len(lines[0]) > 1024:
            return None
        try:
            specs, star = contact_specs_cached((lines[0],))
            expires_header = request.expires()
            cseq = request.cseq().number
        except SipParseError:
            return None  # `_begin` answers it
        if star or len(specs) != 1:
            return None
        spec = specs[0]
        if spec.reg_id is not None and not first_hop_outbound(request, options):
            return None  # `_begin` drops the reg-id
        call_id = request.call_id
        granted = refresh_grant(
            old, call_id, cseq, spec, expires_header, self.policy, random.random
        )  # fmt: skip
        if granted is None or not self._still_valid(phone):
            return None
        ok = self._ok(
            request,
            (
                _ReportedContact(
                    uri=spec.uri, expires=granted, q=spec.q, instance_id=spec.instance_id
                ),
            ),
            options.path_values if options.echo_path else (),
        )
        if not fits(ctx.transport, len(ok)):
            return None  # `_begin` refuses it
        new = self._binding(
            spec, granted, phone, call_id, cseq, request, ctx, time.time(), options.path
        )
        job = register_job(phone, (old,), (new,), (), request.user_agent, ctx)
        return _Begun(phone, [new], (), ok, job, replaces=old)

    def _begin(
        self,
        request: SipRequest,
        register: RegisterInput,
        phone: AuthenticatedPhone,
        ctx: RequestContext,
        options: RegisterOptions = PLAIN,
    ) -> SipResponse | bytes | _Begun:
        """Decide against the bindings in memory: the response when nothing is to be
        written (a refusal, nothing changes, 503 under storm control), else the write."""
        now = time.time()
        location = self.service.location
        current = location.bindings_of(phone.phone_id)
        decision = decide_register(current, register, self.policy, now, random.random)
        if not decision.ok:
            return self._refusal(request, decision)
        if options is PLAIN or options.path_only:
            ok = self._ok(
                request, decision.contacts, options.path_values if options.echo_path else ()
            )
        else:
            ok = self._ok_with(request, decision, register, phone, options)
        if not fits(ctx.transport, len(ok)):
            metrics.REGISTRATIONS.labels(result="denied").inc()
            return make_response(request, 403, "Contact List Too Large")
        if decision.changes_nothing:
            _OK.inc()
            return ok
        call_id, cseq = register.call_id, register.cseq
        upserts = [self._binding(item.spec, item.expires, phone, call_id, cseq, request, ctx, now,
                                 options.path)
                   for item in decision.upserts]  # fmt: skip
        if self.service.writer.saturated:
            known = {item.contact for item in current}
            if any(item.contact not in known for item in upserts):
                metrics.REGISTRATIONS.labels(result="error").inc()
                retry = str(random.randint(5, 30))
                return make_response(request, 503, headers=[("Retry-After", retry)])
        job = register_job(phone, current, upserts, decision.removals, request.user_agent, ctx)
        if not self._still_valid(phone):
            return self.service.authenticator.challenge(request, now)
        return _Begun(phone, upserts, decision.removals, ok, job)

    def _committed(
        self, request: SipRequest, begun: _Begun, ctx: RequestContext
    ) -> SipResponse | bytes:
        """After the commit: apply in memory, answer 200 with every current binding."""
        phone = begun.phone
        if not self._still_valid(phone):  # credentials changed while we committed
            return self.service.authenticator.challenge(request, time.time())
        old = begun.replaces
        if old is None or not self._replace(phone, old, begun.upserts[0]):
            self.apply(phone.phone_id, phone.extension_id, begun.upserts, begun.removals)
        if ctx.connection.reliable:
            ctx.connection.touch()
        (_OK if begun.upserts else _UNREGISTERED).inc()
        return begun.ok

    def _replace(self, phone: AuthenticatedPhone, old: Binding, new: Binding) -> bool:
        """`apply` for a refresh from `_begin_refresh`, when `old` is still the phone's one
        binding (nothing changed it during the commit); False otherwise."""
        if not self.service.location.replace_only(old, new):
            return False
        self.keepalive.forget(old)  # (the same key as new's)
        if old.unreachable:  # offline until this refresh
            self._announce(phone.phone_id, phone.extension_id, False)
        return True

    @staticmethod
    def _write_failed(request: SipRequest, failure: WriteFailed) -> SipResponse:
        """503 + Retry-After while the database cannot be written; 500 when it refused
        this request's own rows (trying again would not help; the writer logged why)."""
        metrics.REGISTRATIONS.labels(result="error").inc()
        if failure.rejected:
            return make_response(request, 500, "Binding Not Stored")
        retry = str(random.randint(5, 30))
        return make_response(request, 503, headers=[("Retry-After", retry)])

    def _still_valid(self, phone: AuthenticatedPhone) -> bool:
        entry = self.service.directory.by_id(phone.phone_id)
        return entry is not None and entry.username == phone.username

    def _refusal(self, request: SipRequest, decision: RegisterDecision) -> SipResponse:
        headers = []
        if decision.min_expires is not None:
            headers.append(("Min-Expires", str(decision.min_expires)))
            metrics.REGISTRATIONS.labels(result="too_brief").inc()
        else:
            result = "error" if decision.status >= 500 else "bad_request"
            if decision.status == 403:  # over the contact limit
                result = "denied"
            metrics.REGISTRATIONS.labels(result=result).inc()
        return make_response(request, decision.status, decision.reason, headers=headers)

    @staticmethod
    def _ok(
        request: SipRequest, contacts: tuple[ReportedContact, ...], path: tuple[str, ...] = ()
    ) -> bytes:
        """§10.3 step 8: every current binding with its remaining expiry (and the Path to
        echo, RFC 3327 §5.3)."""
        headers = []
        for item in contacts:
            q = f";q={item.q:g}" if item.q is not None else ""
            headers.append(("Contact", f"<{item.uri}>;expires={item.expires}{q}"))
        if path:
            headers.extend(("Path", value) for value in path)
        headers.append(("Date", http_date()))
        return response_bytes(request, 200, headers=headers)

    def _ok_with(
        self,
        request: SipRequest,
        decision: RegisterDecision,
        register: RegisterInput,
        phone: AuthenticatedPhone,
        options: RegisterOptions,
    ) -> bytes:
        """The 200 of a REGISTER that asked for extensions: each Contact of an instance
        with its `+sip.instance` and `pub-gruu` (RFC 5627 §5.4, when `Supported: gruu`),
        the Path echoed (RFC 3327 §5.3, when `Supported: path`), and for an outbound
        registration (RFC 5626 §6) `Require: outbound` with a Flow-Timer — the seconds
        between keep-alives the registrar's own reachability checks work at."""
        headers: list[tuple[str, str]] = []
        aor = f"sip:{phone.username}@{self.service.config.realm}"
        for item in decision.contacts:
            q = f";q={item.q:g}" if item.q is not None else ""
            extra = ""
            gruu = pub_gruu(aor, item.instance_id) if options.gruu and item.instance_id else None
            if gruu is not None:
                extra = f';+sip.instance="{item.instance_id}";pub-gruu="{gruu}"'
            headers.append(("Contact", f"<{item.uri}>;expires={item.expires}{q}{extra}"))
        if options.echo_path:
            headers.extend(("Path", value) for value in options.path_values)
        outbound = options.outbound and any(
            item.reg_id is not None and item.instance_id is not None for item in register.contacts
        )
        if outbound:
            headers.append(("Require", "outbound"))
            interval = self.service.config.keepalive_interval
            if interval > 0:
                headers.append(("Flow-Timer", str(interval)))
        headers.append(("Supported", "path, outbound, gruu"))
        headers.append(("Date", http_date()))
        return response_bytes(request, 200, headers=headers)

    def _binding(
        self,
        spec: ContactSpec,
        expires: int,
        phone: AuthenticatedPhone,
        call_id: str,
        cseq: int,
        request: SipRequest,
        ctx: RequestContext,
        now: float,
        path: str | None = None,
    ) -> Binding:
        return _Binding(
            phone_id=phone.phone_id, contact=spec.uri, call_id=call_id,
            cseq=cseq, expires_at=now + expires, q=spec.q, transport=ctx.transport,
            source_ip=ctx.source_ip, source_port=ctx.source_port,
            local_ip=local_ip(spec.uri, request), user_agent=interned(request.user_agent),
            instance_id=spec.instance_id, reg_id=spec.reg_id, node=self.service.config.node_id,
            path=path,
        )  # fmt: skip

    # --- applying committed changes -----------------------------------------------------

    def apply(
        self,
        phone_id: str,
        extension_id: str | None,
        upserts: Iterable[Binding],
        removals: Iterable[str],
    ) -> None:
        location = self.service.location
        before = location.is_online(phone_id)
        for contact in removals:
            old = location.binding(phone_id, contact)
            if old is not None:
                self._unflow(old)
                self.keepalive.forget(old)
        if removals:  # (apply with nothing to remove would only ask is_online twice)
            location.apply(phone_id, (), removals)
        for item in upserts:
            self._put(item)
            self.keepalive.forget(item)
        self._announce(phone_id, extension_id, before)

    def _announce(self, phone_id: str, extension_id: str | None, before: bool) -> None:
        after = self.service.location.is_online(phone_id)
        if after != before:
            if extension_id is None:
                entry = self.service.directory.by_id(phone_id)
                extension_id = entry.extension_id if entry else None
            self.service.notify_binding_listeners(phone_id, extension_id, after)

    def _count_bindings(self) -> None:
        """The bindings gauge, refreshed once per tick (not per REGISTER: O(flows))."""
        counts: dict[str, int] = {"udp": self._udp_bindings}
        for (transport, _, _), count in self._flows.items():
            counts[transport] = counts.get(transport, 0) + count
        for transport in ("udp", "tcp", "tls", "ws", "wss"):
            metrics.BINDINGS.labels(transport=transport).set(counts.get(transport, 0))

    # --- expiry, revocation -------------------------------------------------------------

    async def tick(self, now: float) -> None:
        """Once per sweep interval: expire bindings, then probe reachability."""
        expired = self.service.location.pop_expired(now)
        if expired:
            await self._expired(expired)
        self._count_bindings()
        if now >= self._next_orphan_sweep:
            self._next_orphan_sweep = now + ORPHAN_SWEEP_INTERVAL
            await self._sweep_orphans(now)
        await self.keepalive.tick(now)

    async def _sweep_orphans(self, now: float) -> None:
        """Bindings no live node expired (their node is gone): removed from PostgreSQL
        ORPHAN_GRACE seconds after expiry, with `phone.expired` and the status row."""
        pool = self.service.pool
        try:
            async with pool.acquire() as conn, conn.transaction():
                gone = await binding_queries.delete_expired_bindings(conn, utc(now - ORPHAN_GRACE))
                if not gone:
                    return
                phones = sorted({item.phone_id for item in gone})
                await status_queries.offline_if_unbound(conn, phones)
                events = []
                for item in gone:
                    entry = self.service.directory.by_id(item.phone_id)
                    binding = Binding(
                        phone_id=item.phone_id, contact=item.contact, call_id=item.call_id,
                        cseq=item.cseq, expires_at=item.expires_at.timestamp(), q=item.q,
                        transport=item.transport, source_ip=item.source_ip,
                        source_port=item.source_port, user_agent=item.user_agent,
                    )  # fmt: skip
                    events.append(
                        event_row("phone.expired", entry.customer_id if entry else None, binding)
                    )
                await status_queries.append_events(conn, events)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("orphan binding sweep failed: %s", exc)
            return
        log.info("removed %d expired bindings of other or former nodes", len(gone))

    async def _expired(self, expired: Sequence[Binding]) -> None:
        by_phone: dict[str, list[Binding]] = {}
        for item in expired:
            self._unflow(item)
            self.keepalive.forget(item)
            by_phone.setdefault(item.phone_id, []).append(item)
        statuses: list[StatusWrite] = []
        events: list[EventWrite] = []
        for phone_id, items in by_phone.items():
            entry = self.service.directory.by_id(phone_id)
            customer = entry.customer_id if entry else None
            events.extend(event_row("phone.expired", customer, item) for item in items)
            remaining = self.service.location.bindings_of(phone_id)
            statuses.append(status_row(phone_id, remaining, None, None))
        metrics.BINDINGS_EXPIRED.inc(len(expired))
        job = WriteJob(
            expirations=tuple((item.phone_id, item.contact) for item in expired),
            statuses=tuple(statuses),
            events=tuple(events),
        )
        try:
            await self.service.writer.submit(job)
        except WriteFailed:
            log.warning(
                "expiry of %d bindings not recorded; the database will catch up", len(expired)
            )
        for phone_id, items in by_phone.items():
            was_online = any(not item.unreachable for item in items)
            if was_online and not self.service.location.is_online(phone_id):
                entry = self.service.directory.by_id(phone_id)
                self.service.notify_binding_listeners(
                    phone_id, entry.extension_id if entry else None, False
                )

    def revoke_phone(self, phone_id: str) -> None:
        """Credentials changed or phone deleted: drop every binding at once."""
        location = self.service.location
        was_online = location.is_online(phone_id)
        removed = location.remove_phone(phone_id)
        for item in removed:
            self._unflow(item)
            self.keepalive.forget(item)
        if was_online:
            self.service.notify_binding_listeners(phone_id, None, False)
        status = status_row(phone_id, [], None, None)
        job = WriteJob(drop_phones=(phone_id,), statuses=(status,))
        task = asyncio.get_running_loop().create_task(self._submit_quietly(job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        log.info(
            "credentials changed or phone deleted: %d bindings dropped",
            len(removed),
            extra={"phone": phone_id},
        )

    async def _submit_quietly(self, job: WriteJob) -> None:
        try:
            await self.service.writer.submit(job)
        except WriteFailed:
            log.warning("could not record a binding change; it will be retried by expiry")
