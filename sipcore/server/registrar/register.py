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

Committed changes are applied through the `BindingTable` (`sipcore.server.registrar.bindings`),
which announces every online/offline transition to the binding listeners (presence). The
other ways bindings begin and end — loading, expiry, revocation, dead outbound flows —
are `sipcore.server.registrar.lifecycle`; reachability is `sipcore.server.registrar.keepalive`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections.abc import Callable
from dataclasses import replace

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
from sipcore.server.config import SipConfig
from sipcore.server.context import AuthenticatedPhone, AuthOutcome, RequestContext
from sipcore.server.registrar.auth import Authenticator, Pending
from sipcore.server.registrar.binding_rows import register_job
from sipcore.server.registrar.bindings import BindingTable
from sipcore.server.registrar.directory import PhoneDirectory
from sipcore.server.registrar.writer import WriteBehind, WriteFailed, WriteJob
from sipcore.syntax import frozen_builder

log = logging.getLogger(__name__)

_OK = metrics.REGISTRATIONS.labels(result="ok")
# The hot path's objects, built without the frozen-dataclass __init__ (`frozen_builder`).
_Binding = frozen_builder(Binding)
_ReportedContact = frozen_builder(ReportedContact)
_UNREGISTERED = metrics.REGISTRATIONS.labels(result="unregistered")


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
    """Answers REGISTER requests: authenticate, decide, commit, apply, answer."""

    def __init__(
        self,
        config: SipConfig,
        table: BindingTable,
        directory: PhoneDirectory,
        authenticator: Authenticator,
        writer: WriteBehind,
    ) -> None:
        self._config = config
        self._table = table
        self._location = table.location
        self._directory = directory
        self._authenticator = authenticator
        self._writer = writer
        self.policy = RegistrarPolicy(
            min_expires=config.min_expires,
            max_expires=config.max_expires,
            default_expires=config.default_expires,
            spread_percent=config.expires_spread_percent,
            max_contacts=config.max_contacts,
        )
        self._tasks: set[asyncio.Task[None]] = set()

    # --- REGISTER -----------------------------------------------------------------------

    def handle_now(self, request: SipRequest, ctx: RequestContext, answer: Answer) -> None:
        """One REGISTER, without a coroutine or task: the response goes to `answer` — at
        once (a challenge, a refusal, nothing to change) or from the commit's callback.
        Only a gate that needs I/O (locking an OPEN phone, recording a denial) continues
        in a task. Why: under a registration storm the coroutine chain and task of every
        REGISTER were a tenth of its CPU."""
        started = time.perf_counter()
        outcome = self._authenticator.authenticate_now(request, ctx)
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
        self._writer.submit_then(
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
                trusted = self._config.trusted_proxies
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
        old = self._location.only_binding(phone.phone_id)
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
        current = self._location.bindings_of(phone.phone_id)
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
        if self._writer.saturated:
            known = {item.contact for item in current}
            if any(item.contact not in known for item in upserts):
                metrics.REGISTRATIONS.labels(result="error").inc()
                retry = str(random.randint(5, 30))
                return make_response(request, 503, headers=[("Retry-After", retry)])
        job = register_job(phone, current, upserts, decision.removals, request.user_agent, ctx)
        if not self._still_valid(phone):
            return self._authenticator.challenge(request, now)
        return _Begun(phone, upserts, decision.removals, ok, job)

    def _committed(
        self, request: SipRequest, begun: _Begun, ctx: RequestContext
    ) -> SipResponse | bytes:
        """After the commit: apply in memory, answer 200 with every current binding."""
        phone = begun.phone
        if not self._still_valid(phone):  # credentials changed while we committed
            return self._authenticator.challenge(request, time.time())
        old = begun.replaces
        table = self._table
        if old is None or not table.replace_refresh(old, begun.upserts[0], phone.extension_id):
            table.apply(phone.phone_id, phone.extension_id, begun.upserts, begun.removals)
        if ctx.connection.reliable:
            ctx.connection.touch()
        (_OK if begun.upserts else _UNREGISTERED).inc()
        return begun.ok

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
        entry = self._directory.by_id(phone.phone_id)
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
        aor = f"sip:{phone.username}@{self._config.realm}"
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
            interval = self._config.keepalive_interval
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
            instance_id=spec.instance_id, reg_id=spec.reg_id, node=self._config.node_id,
            path=path,
        )  # fmt: skip
