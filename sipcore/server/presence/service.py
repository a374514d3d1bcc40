"""The presence notifier's I/O side: SUBSCRIBE, PUBLISH, NOTIFY fan-out, cross-node.

Theory of operation. The pure parts (`sipcore.presence`) decide; this module loads state,
calls them, persists and sends.

- SUBSCRIBE (RFC 6665): authenticated and gated by the SIP service (`authenticate`),
  then 489/406/404/423 as the package, Accept, target and expiry demand, and 403 beyond
  `max_per_phone` subscriptions of the phone or `max_per_resource` watchers of the
  extension on this node (`subscription.check_limits`; a SUBSCRIBE still being set up
  holds its place, so a burst cannot slip past the limits while it awaits the
  database); 200 with the
  granted Expires; the subscription is stored (so a restarted node resumes it, below)
  and a NOTIFY with full state follows at once. In-dialog SUBSCRIBEs refresh or (Expires
  0) unsubscribe.
- PUBLISH (RFC 3903): `Event: presence` from a phone for its own extension, `Event:
  dialog` from a PBX for any extension of its customer; SIP-ETag / SIP-If-Match,
  refresh, modify, removal and expiry (an expired dialog publication ends its calls).
- Every change is committed by `commit_change`: the extension's row is locked, the pure
  `apply` decides (stale or no-op changes stop here), the state is stored with the next
  sequence number and `pg_notify('sipfleet_presence', '<extension>:<seq>')`. The node
  that made the change fans out at once; every other node LISTENs, loads the state when
  the sequence is newer than its own, and fans out. Sequence numbers make delivery
  order-safe across nodes (`state.is_newer`).
- Fan-out: every subscription of the extension is marked changed; `coalesce` allows one
  NOTIFY in flight per subscription and at most one per `notify_min_interval_ms`; the
  body is rendered when the NOTIFY is sent, so the newest state always goes out.
- Restart: subscriptions are kept in PostgreSQL under this node's key (host name and SIP
  listeners). On start the node resumes them: CSeq and dialog-info version continue well
  above the stored checkpoint, and a full-state NOTIFY goes to each subscriber over its
  stored transport address; a subscriber that answers 481 or not at all is dropped.
  Chosen over terminating because a phone re-SUBSCRIBEs only after its own retry timer,
  while a resumed subscription keeps its BLF lamps right without any phone action.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any, TypeVar

import asyncpg

from db import presence as pdb
from db import subscriptions as sdb
from db.errors import DB_ERRORS, unavailable
from sipcore import metrics
from sipcore.errors import SipParseError
from sipcore.headers import ContactList, split_values
from sipcore.location import Binding
from sipcore.message import SipRequest, SipResponse, make_response, new_tag
from sipcore.presence import coalesce, quirks, subscription
from sipcore.presence.state import (
    Change,
    ExtensionState,
    apply,
    is_newer,
    state_from_json,
    state_to_json,
)
from sipcore.presence.subscription import (
    Subscription,
    SubscriptionDialog,
    SubscriptionError,
    SubState,
)
from sipcore.server.context import AuthOutcome, RequestContext
from sipcore.server.presence import publish as presence_publish
from sipcore.server.presence import store as presence_store
from sipcore.server.presence.changes import (
    IMPLICIT_CALL,
    PhoneOnline,
    commit_change,
    commit_online_changes,
    parse_call_update,
    record_event,
    record_events,
)
from sipcore.server.presence.fanout import NotifySender
from sipcore.server.presence.model import LiveSub, PresenceConfig, SipPort, Watched
from sipcore.server.presence.notify import notify_request

# re-exported: the REST route and the component import them from here
__all__ = [
    "IMPLICIT_CALL",
    "PhoneOnline",
    "PresenceConfig",
    "PresenceService",
    "commit_change",
    "parse_call_update",
    "record_event",
]

log = logging.getLogger(__name__)
_Key = TypeVar("_Key")

SWEEP_INTERVAL = 0.25
BINDING_BATCH = 500  # registrar on/off changes committed together, at most
PUBLISH_EVENTS = ("presence", "dialog")


class PresenceService(NotifySender):
    """SUBSCRIBE/PUBLISH handlers, the subscriptions of this node and their fan-out."""

    def __init__(self, *, sip: SipPort, pool: asyncpg.Pool[Any], config: PresenceConfig) -> None:
        self.sip = sip
        self.pool = pool
        self.config = config
        self.subs: dict[str, LiveSub] = {}
        self.by_dialog: dict[tuple[str, str], str] = {}
        self.watched: dict[str, Watched] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._listen_conn: Any = None
        self._sweeper: asyncio.Task[None] | None = None
        self._last_pub_sweep = 0.0
        self._next_expiry = 0.0  # no subscription here expires before this
        self._committing: dict[str, list[int]] = {}  # see `change`
        self._binding_changes: list[tuple[str, str | None, bool]] = []
        self._binding_drain: asyncio.Future[None] | None = None
        self._per_phone: dict[str | None, int] = {}
        # new SUBSCRIBEs being set up (awaiting the database), by phone and by extension
        self._pending_phone: dict[str | None, int] = {}
        self._pending_resource: dict[str, int] = {}

    # --- life cycle --------------------------------------------------------------------

    async def start(self) -> None:
        self.sip.register_method("SUBSCRIBE", self.on_subscribe)
        self.sip.register_method("PUBLISH", self.on_publish)
        self.sip.add_binding_listener(self.on_binding)
        self._listen_conn = await self.pool.acquire()
        await self._listen_conn.add_listener(pdb.PRESENCE_CHANNEL, self._on_pg_notify)
        await self._resume()
        self._sweeper = asyncio.create_task(self._sweep_forever())

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        await self._checkpoint(list(self.subs.values()))
        for live in self.subs.values():
            if live.wake is not None:
                live.wake.cancel()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=2)
        if self._listen_conn is not None:
            with contextlib.suppress(asyncpg.InterfaceError, asyncpg.PostgresError, OSError):
                await self._listen_conn.remove_listener(pdb.PRESENCE_CHANNEL, self._on_pg_notify)
                await self.pool.release(self._listen_conn)
            self._listen_conn = None

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled() or (exc := task.exception()) is None:
            return
        if unavailable(exc):  # one line: the writer and /healthz say the rest
            log.warning("presence task failed, database unavailable: %s", exc)
        else:
            log.error("presence task failed", exc_info=exc)

    # --- changes -------------------------------------------------------------------------

    async def change(
        self,
        extension: pdb.ExtensionRef,
        change: Change | PhoneOnline | None,
        *,
        conn: asyncpg.Connection[Any] | None = None,
    ) -> ExtensionState | None:
        """Commit a change and fan it out here at once; None when it was stale/no-op.

        `conn`: a connection the caller already holds (the REST route), saving an acquire
        and the pool's reset round trip on the way to the watchers."""
        if conn is None:
            async with self.pool.acquire() as own:
                # fans out before the release, which waits for the pool's reset
                return await self.change(extension, change, conn=own)
        # While our commit is in flight, our own pg_notify may arrive before its result:
        # the sequences heard meanwhile are kept and reloaded only if still newer after.
        self._committing.setdefault(extension.id, [0, 0])[0] += 1  # [in flight, newest]
        try:
            new = await self._change_fast(conn, extension, change)
            if new is None:
                async with conn.transaction():
                    new = await commit_change(conn, extension, change)
                if new is not None:
                    self._apply_state(new)
        finally:
            self._commit_done(extension.id)
        if new is not None:
            self._spawn(self._record(extension, [new]))
        return new

    def _commit_done(self, extension_id: str) -> None:
        """One commit of the extension's state has its result: once none is in flight,
        reload if a newer sequence was heard meanwhile (another writer's)."""
        heard = self._committing[extension_id]
        heard[0] -= 1
        if heard[0] == 0:
            self._committing.pop(extension_id, None)
            watched = self.watched.get(extension_id)
            if heard[1] and watched is not None and is_newer(watched.state.seq, heard[1]):
                self._spawn(self._reload(extension_id))

    async def _change_fast(
        self,
        conn: asyncpg.Connection[Any],
        extension: pdb.ExtensionRef,
        change: Change | PhoneOnline | None,
    ) -> ExtensionState | None:
        """The common case in one round trip: the extension is watched here, so its state
        is in memory; apply the change to it and store it only if the stored sequence is
        still ours (compare-and-set). Anything else (not watched, a stale or no-op change
        by the cached state, another writer first) takes the locking path."""
        watched = self.watched.get(extension.id)
        if watched is None or change is None or isinstance(change, PhoneOnline):
            return None
        current = watched.state
        new = apply(current, change)
        if new is None:
            return None
        seq = await pdb.store_state_if_seq(conn, extension.id, state_to_json(new), current.seq)
        if seq is None:
            return None
        stored = replace(new, seq=seq)
        self._apply_state(stored)
        return stored

    async def _record(
        self, extension: pdb.ExtensionRef, states: list[ExtensionState | None]
    ) -> None:
        async with self.pool.acquire() as conn:
            for state in states:
                if state is not None:
                    await record_event(conn, extension, state)

    def on_binding(self, phone_id: str, extension_id: str | None, online: bool) -> None:
        """The registrar's local binding change: re-check the extension's registrations.
        Changes queue up while a batch commits and go together in the next one, in the
        order they came (so a phone's on/off changes commit in order)."""
        self._binding_changes.append((phone_id, extension_id, online))
        if self._binding_drain is None or self._binding_drain.done():
            self._binding_drain = asyncio.ensure_future(self._drain_binding_changes())
            self._tasks.add(self._binding_drain)
            self._binding_drain.add_done_callback(self._task_done)

    async def _drain_binding_changes(self) -> None:
        while self._binding_changes:
            batch = self._binding_changes[:BINDING_BATCH]
            del self._binding_changes[:BINDING_BATCH]
            try:
                await self._commit_binding_changes(batch)
            except DB_ERRORS as exc:
                log.warning("presence: %d registration changes not applied: %s", len(batch), exc)

    async def _commit_binding_changes(self, batch: list[tuple[str, str | None, bool]]) -> None:
        async with self.pool.acquire() as conn:
            refs = await pdb.extensions_of_bindings(conn, [(p, e) for p, e, _ in batch])
            changes = [
                (ref, PhoneOnline(phone_id=phone_id, online=online))
                for ref, (phone_id, _, online) in zip(refs, batch, strict=True)
                if ref is not None
            ]
            ids = {ref.id for ref, _ in changes}
            for extension_id in ids:
                self._committing.setdefault(extension_id, [0, 0])[0] += 1
            try:
                async with conn.transaction():
                    changed = await commit_online_changes(conn, changes)
                for _, state in changed:
                    self._apply_state(state)
            finally:
                for extension_id in ids:
                    self._commit_done(extension_id)
            if changed:
                await record_events(conn, changed)

    def _on_pg_notify(self, conn: Any, pid: int, channel: str, payload: str) -> None:
        extension_id, _, seq_text = payload.partition(":")
        watched = self.watched.get(extension_id)
        if watched is None or not seq_text.isdigit():
            return
        seq = int(seq_text)
        heard = self._committing.get(extension_id)
        if heard is not None:  # decided when our commit in flight has its result
            if not heard[1] or is_newer(heard[1], seq):
                heard[1] = seq
        elif is_newer(watched.state.seq, seq):
            self._spawn(self._reload(extension_id))

    async def _reload(self, extension_id: str) -> None:
        async with self.pool.acquire() as conn:
            stored = await pdb.load_state(conn, extension_id)
            if stored is not None:  # before the release, which waits for the pool's reset
                self._apply_state(state_from_json(extension_id, stored.seq, stored.state))

    def _apply_state(self, new: ExtensionState) -> None:
        watched = self.watched.get(new.extension_id)
        if watched is None or not is_newer(watched.state.seq, new.seq):
            return
        changed = {pkg for pkg, view in _VIEWS.items() if view(watched.state) != view(new)}
        watched.state = new
        watched.bodies.clear()
        # The NOTIFYs go out at the next turn of the loop, in one synchronous pass: the
        # caller (a REST push) first reaches its pool release, so the release's reset
        # round trip overlaps the fan-out instead of following it.
        asyncio.get_running_loop().call_soon(self._fan_out, watched, changed)

    def _fan_out(self, watched: Watched, changed: set[str]) -> None:
        now = time.time()
        for sub_id in list(watched.subs):
            live = self.subs.get(sub_id)
            if live is not None and live.sub.package in changed:
                live.pacer, decision = coalesce.changed(live.pacer, now)
                self._act(live, decision, now)

    # --- NOTIFY (sending: presence_fanout.NotifySender) -----------------------------

    async def _final(self, live: LiveSub, plan: subscription.NotifyPlan, reason: str) -> None:
        # rendered while the state is known
        request = notify_request(live, plan, self.watched[live.sub.extension_id])
        self._forget(live)
        await self._delete_rows([live.sub.id])
        await self._transmit(live, plan, request)
        log.info("subscription %s ended: %s", live.sub.dialog.call_id, reason)

    async def _drop(self, live: LiveSub, reason: str) -> None:
        live.sub = subscription.end_after_failure(live.sub)
        self._forget(live)
        await self._delete_rows([live.sub.id])
        log.info("subscription %s dropped: %s", live.sub.dialog.call_id, reason)

    def _forget(self, live: LiveSub) -> None:
        if self.subs.pop(live.sub.id, None) is None:
            return
        metrics.SUBSCRIPTIONS.labels(live.sub.package).dec()
        left = self._per_phone.get(live.phone_id, 1) - 1
        if left > 0:
            self._per_phone[live.phone_id] = left
        else:
            self._per_phone.pop(live.phone_id, None)
        if live.wake is not None:
            live.wake.cancel()
        self.by_dialog.pop((live.sub.dialog.call_id, live.sub.dialog.local_tag), None)
        watched = self.watched.get(live.sub.extension_id)
        if watched is not None:
            watched.subs.discard(live.sub.id)
            if not watched.subs:
                del self.watched[live.sub.extension_id]

    # --- timers --------------------------------------------------------------------------

    async def _sweep_forever(self) -> None:
        failing = False  # the database is away: said once, not four times a second
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)
            try:
                await self._ensure_listening()
                await self._sweep(time.time())
            except DB_ERRORS as exc:
                if not failing:
                    log.warning("presence sweep failed (retrying): %s", exc)
                failing = True
            except Exception:  # the sweeper must outlive any one bad round
                log.exception("presence sweep failed")
            else:
                if failing:
                    log.warning("presence sweep works again")
                failing = False

    async def _ensure_listening(self) -> None:
        """LISTEN again on a fresh connection if the database dropped ours; states changed
        meanwhile on other nodes are reloaded for every watched extension."""
        old = self._listen_conn
        if old is not None:
            try:
                if not old.is_closed():
                    return
                await self.pool.release(old)
            except asyncpg.InterfaceError:
                pass  # the pool already took the dead connection back
        self._listen_conn = None
        self._listen_conn = await self.pool.acquire()
        await self._listen_conn.add_listener(pdb.PRESENCE_CHANNEL, self._on_pg_notify)
        log.warning("presence: LISTEN %s re-established", pdb.PRESENCE_CHANNEL)
        for extension_id in list(self.watched):
            await self._reload(extension_id)

    async def _sweep(self, now: float) -> None:
        # Scan only once the earliest deadline has come (`_add` and a refresh lower the
        # remembered one, so it is never late): not 1,000 subscriptions 4 times a
        # second for nothing.
        if now >= self._next_expiry:
            earliest = float("inf")
            for live in list(self.subs.values()):
                deadline = live.sub.deadline
                if deadline is not None and now >= deadline:
                    live.sub, plan = subscription.handle_timer(live.sub, now)
                    if plan is not None:
                        self._spawn(self._final(live, plan, "expired"))
                elif deadline is not None:
                    earliest = min(earliest, deadline)
            self._next_expiry = earliest
        if now - self._last_pub_sweep >= 1.0:
            self._last_pub_sweep = now
            await self._expire_publications()

    # --- persistence ---------------------------------------------------------------------

    async def _checkpoint(self, lives: list[LiveSub]) -> None:
        active = [live for live in lives if live.sub.state is SubState.ACTIVE]
        if not active:
            return
        async with self.pool.acquire() as conn:
            await sdb.save_subscriptions(
                conn, self.config.node, [presence_store.subscription_row(x) for x in active]
            )

    async def _delete_rows(self, ids: list[str]) -> None:
        async with self.pool.acquire() as conn:
            await sdb.delete_subscriptions(conn, ids)

    async def _resume(self) -> None:
        async with self.pool.acquire() as conn:
            stored = await sdb.node_subscriptions(conn, self.config.node)
        lives: list[LiveSub] = []
        for row in stored:
            try:
                lives.append(presence_store.live_from_row(row, self.config.notify_min_interval))
            except (KeyError, TypeError, ValueError, IndexError) as exc:
                log.warning("stored subscription %s unusable: %s", row.id, exc)
                await self._delete_rows([row.id])
        # The jumped CSeq/version become the new checkpoint before any NOTIFY goes out, so
        # a second crash cannot resume from the same numbers again.
        await self._checkpoint(lives)
        for live in lives:
            sub = live.sub
            number = sub.entity.split(":", 1)[-1].split("@", 1)[0]
            watched = await self._watch(
                pdb.ExtensionRef(id=sub.extension_id, customer_id=sub.customer_id,
                                 number=number, name="")
            )  # fmt: skip
            self._add(live, watched)
            live.pacer, decision = coalesce.changed(live.pacer, time.time())
            self._act(live, decision, time.time())
        if stored:
            log.info("resumed %d subscriptions", len(stored))

    # --- SUBSCRIBE -----------------------------------------------------------------------

    async def _watch(self, ext: pdb.ExtensionRef) -> Watched:
        """Start watching an extension here: load (or first compute) its state."""
        watched = self.watched.get(ext.id)
        if watched is not None:
            return watched
        async with self.pool.acquire() as conn, conn.transaction():
            new = await commit_change(conn, ext, None)
            if new is None:
                stored = await pdb.load_state(conn, ext.id)
                assert stored is not None
                new = state_from_json(ext.id, stored.seq, stored.state)
        watched = self.watched.get(ext.id)  # another SUBSCRIBE may have won meanwhile
        if watched is None:
            watched = self.watched[ext.id] = Watched(
                number=ext.number, customer_id=ext.customer_id, state=new
            )
        elif is_newer(watched.state.seq, new.seq):
            self._apply_state(new)
        return watched

    def _add(self, live: LiveSub, watched: Watched) -> None:
        self._next_expiry = min(self._next_expiry, live.sub.expires_at)
        # The entry may have been dropped (its last other subscription ended) or replaced
        # while this SUBSCRIBE awaited the database: join the one that is current.
        current = self.watched.setdefault(live.sub.extension_id, watched)
        if current is not watched and is_newer(current.state.seq, watched.state.seq):
            current.state = watched.state
            current.bodies.clear()
        self.subs[live.sub.id] = live
        self.by_dialog[(live.sub.dialog.call_id, live.sub.dialog.local_tag)] = live.sub.id
        current.subs.add(live.sub.id)
        self._per_phone[live.phone_id] = self._per_phone.get(live.phone_id, 0) + 1
        metrics.SUBSCRIPTIONS.labels(live.sub.package).inc()

    async def on_subscribe(self, request: SipRequest, ctx: RequestContext) -> SipResponse | None:
        outcome = await self.sip.authenticate(request, ctx)
        if outcome.phone is None:
            return outcome.response
        try:
            return await self._subscribe(request, ctx, outcome)
        except SubscriptionError as exc:
            headers = []
            if exc.status == 489:
                headers.append(("Allow-Events", subscription.ALLOW_EVENTS))
            if exc.status == 423:
                headers.append(("Min-Expires", str(self.config.min_expires)))
            return make_response(request, exc.status, exc.reason, headers=headers)
        except SipParseError as exc:
            return make_response(request, 400, f"Bad Request ({exc})"[:80])

    async def _subscribe(
        self, request: SipRequest, ctx: RequestContext, outcome: AuthOutcome
    ) -> SipResponse:
        phone = outcome.phone
        assert phone is not None
        package, content_type = subscription.negotiate_package(
            request.header("Event"), request.headers.values("accept") or None
        )
        cfg = self.config
        granted = subscription.grant_expires(
            request.expires(), minimum=cfg.min_expires, maximum=cfg.max_expires,
            default=cfg.default_expires,
        )  # fmt: skip
        to_tag = request.to().tag
        if to_tag is not None:
            return await self._resubscribe(request, phone.phone_id, to_tag, granted)
        contacts = request.contacts()
        if not contacts.contacts:
            return make_response(request, 400, "Missing Contact")
        self._check_limits(phone_id=phone.phone_id)
        with _holding(self._pending_phone, phone.phone_id):
            user = request.request_uri().user or getattr(request.to().uri, "user", None)
            ext = await self._target(user, phone.customer_id, phone)
            if ext is None:
                raise SubscriptionError(404, "Not Found")
            self._check_limits(extension_id=ext.id)
            with _holding(self._pending_resource, ext.id):
                return await self._create(
                    request, ctx, outcome, ext, package, content_type, granted
                )

    def _check_limits(self, *, phone_id: str = "", extension_id: str = "") -> None:
        """`subscription.check_limits` for the subscriber phone or the watched extension
        (one at a time: once admitted, a SUBSCRIBE is one of the phone's pending ones),
        on what this node holds and is setting up."""
        of_phone = of_resource = 0
        if phone_id:
            of_phone = self._per_phone.get(phone_id, 0) + self._pending_phone.get(phone_id, 0)
        if extension_id:
            watched = self.watched.get(extension_id)
            of_resource = len(watched.subs) if watched is not None else 0
            of_resource += self._pending_resource.get(extension_id, 0)
        subscription.check_limits(
            of_phone=of_phone,
            of_resource=of_resource,
            max_per_phone=self.config.max_per_phone,
            max_per_resource=self.config.max_per_resource,
        )

    async def _create(
        self,
        request: SipRequest,
        ctx: RequestContext,
        outcome: AuthOutcome,
        ext: pdb.ExtensionRef,
        package: str,
        content_type: str,
        granted: int,
    ) -> SipResponse:
        """A new subscription to `ext`, admitted: its dialog, its row, its first NOTIFY."""
        phone = outcome.phone
        assert phone is not None
        cfg = self.config
        contacts = request.contacts()
        watched = await self._watch(ext)
        event_id = _event_id(request.header("Event") or "")
        local_tag = new_tag()
        now = time.time()
        sub = Subscription(
            id=secrets.token_hex(12),
            package=package,
            event_id=event_id,
            content_type=content_type,
            extension_id=ext.id,
            customer_id=ext.customer_id,
            entity=f"sip:{ext.number}@{cfg.realm}",
            profile=quirks.profile_for(request.user_agent).name,
            dialog=SubscriptionDialog(
                call_id=request.call_id,
                local_tag=local_tag,
                remote_tag=request.from_().tag or "",
                local_uri=str(request.to().uri),
                remote_uri=str(request.from_().uri),
                remote_target=str(contacts.contacts[0].uri),
                route_set=route_set(
                    request, self.sip.bindings_of(phone.phone_id), contacts, ctx.source_ip
                ),
                local_cseq=0,
                remote_cseq=request.cseq().number,
            ),
            expires_at=now + granted,
        )
        live = LiveSub(
            sub=sub,
            phone_id=phone.phone_id,
            target=ctx,
            via=(ctx.transport, ctx.local_ip, ctx.local_port),
            pacer=coalesce.Pacer(interval=cfg.notify_min_interval),
        )
        response = self._ok(request, granted, live, local_tag)
        if granted == 0:  # a fetch (RFC 6665 §4.4.3): one NOTIFY, then it is over
            ended, plan = subscription.refresh(
                sub, cseq=sub.dialog.remote_cseq + 1, granted=0, now=now
            )
            live.sub = ended
            request = notify_request(live, plan, self.watched[live.sub.extension_id])
            if not watched.subs:
                self.watched.pop(ext.id, None)
            self._spawn(self._transmit(live, plan, request))
            return response
        await self._checkpoint([live])
        self._add(live, watched)
        live.pacer, decision = coalesce.changed(live.pacer, now)
        asyncio.get_running_loop().call_soon(self._act, live, decision, now)
        return response

    def _ok(self, request: SipRequest, granted: int, live: LiveSub, tag: str) -> SipResponse:
        transport, host, port = live.via
        suffix = "" if transport == "udp" else f";transport={transport}"
        # RFC 3261 §12.1.1: the Record-Route of a dialog-forming request is copied into
        # its 2xx, so the subscriber's refreshes take the same proxies (an edge) as the
        # NOTIFYs do
        routes = [("Record-Route", rr) for rr in request.headers.values("record-route")]
        return make_response(
            request,
            200,
            headers=[
                *routes,
                ("Expires", str(granted)),
                ("Contact", f"<sip:{host}:{port}{suffix}>"),
            ],
            to_tag=tag,
        )

    async def _resubscribe(
        self, request: SipRequest, phone_id: str, to_tag: str, granted: int
    ) -> SipResponse:
        sub_id = self.by_dialog.get((request.call_id, to_tag))
        live = self.subs.get(sub_id) if sub_id else None
        if live is None or live.phone_id != phone_id:
            raise SubscriptionError(481, "Subscription Does Not Exist")
        now = time.time()
        live.sub, plan = subscription.refresh(
            live.sub, cseq=request.cseq().number, granted=granted, now=now
        )
        self._next_expiry = min(self._next_expiry, live.sub.expires_at)  # may be shorter
        response = self._ok(request, granted, live, to_tag)
        if plan.final:
            self._spawn(self._final(live, plan, "unsubscribed"))
        else:
            await self._checkpoint([live])
            live.pacer = replace(live.pacer, in_flight=True, dirty=False, last_sent=now)
            self._spawn(self._notify_slow(live, plan))
        return response

    async def _target(self, user: Any, customer_id: str, phone: Any) -> pdb.ExtensionRef | None:
        """The extension named by a Request-URI user: a number of the caller's customer, or
        the caller's own SIP username (pjsip publishes to its own AOR)."""
        if not isinstance(user, str) or not user:
            return None
        async with self.pool.acquire() as conn:
            if user == phone.username and phone.extension_id:
                return await pdb.extension_by_id(conn, phone.extension_id)
            found = await pdb.extensions_by_number(conn, user, [customer_id])
        return found[0] if found else None

    # --- PUBLISH (RFC 3903), in sipcore.server.presence.publish ------------------------

    async def on_publish(self, request: SipRequest, ctx: RequestContext) -> SipResponse | None:
        return await presence_publish.on_publish(self, request, ctx)

    async def _expire_publications(self) -> None:
        await presence_publish.expire_publications(self)


# What each package shows of an extension's state: a change outside it sends no NOTIFY
# to that package's watchers (an online change does not touch dialog-info bodies).
_VIEWS: dict[str, Callable[[ExtensionState], object]] = {
    "dialog": lambda state: state.dialogs,
    "presence": lambda state: state.presence_doc(),
    "message-summary": lambda state: state.voicemail,
}


@contextlib.contextmanager
def _holding(counts: dict[_Key, int], key: _Key) -> Iterator[None]:
    """Count `key` in `counts` while the block runs (a subscription being set up)."""
    counts[key] = counts.get(key, 0) + 1
    try:
        yield
    finally:
        left = counts[key] - 1
        if left > 0:
            counts[key] = left
        else:
            del counts[key]


def _event_id(event: str) -> str | None:
    for param in event.split(";")[1:]:
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "id" and value.strip():
            return value.strip()
    return None


def route_set(
    request: SipRequest, bindings: list[Binding], contacts: ContactList, source_ip: str
) -> tuple[str, ...]:
    """The route set of a new subscription's dialog: the SUBSCRIBE's Record-Route
    (RFC 3261 §12.1.1); without one, when the SUBSCRIBE came from the edge proxy the
    subscriber registered through (`source_ip`), the Path of that registration (RFC 3327)
    — the binding of the SUBSCRIBE's Contact, else the phone's one binding with a Path
    there — so that its NOTIFYs take the edge back to the phone, as requests to that
    binding do."""
    recorded = tuple(request.headers.values("record-route"))
    if recorded:
        return recorded
    target = str(contacts.contacts[0].uri)
    routed = [item for item in bindings if item.path is not None and item.source_ip == source_ip]
    chosen = next((item for item in routed if item.contact == target), None)
    if chosen is None and len(routed) == 1:
        chosen = routed[0]
    return tuple(split_values(chosen.path)) if chosen is not None and chosen.path else ()
