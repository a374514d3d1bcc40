"""SUBSCRIBE (RFC 6665 §4.2.1) handled on this node: new subscriptions, refreshes,
unsubscribes and fetches, and the end of those that expire.

A SUBSCRIBE is authenticated and gated by the SIP service (`authenticate`), then
489/406/404/423 as the package, Accept, target and expiry demand, and 403 beyond
`max_per_phone` subscriptions of the phone or `max_per_resource` watchers of the
extension on this node (a SUBSCRIBE still being set up holds its place, so a burst cannot
slip past the limits while it awaits the database); 200 with the granted Expires. The
subscription (`sipcore.presence.dialog.new_subscription`) is stored, so a restarted node
resumes it, and a NOTIFY with full state follows at once (§4.2.1.2). In-dialog
SUBSCRIBEs refresh or, with Expires 0, unsubscribe (§4.2.1.4); an initial one with
Expires 0 is a fetch: one NOTIFY, then it is over (§4.4.3).
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import replace
from typing import Any

import asyncpg

from db import presence as pdb
from sipcore.errors import SipParseError
from sipcore.message import SipRequest, SipResponse, make_response, new_tag
from sipcore.presence import coalesce, subscription
from sipcore.presence.dialog import (
    bad_request,
    entity,
    new_subscription,
    refusal,
    route_set,
    subscribe_ok,
)
from sipcore.presence.subscription import SubscriptionError
from sipcore.server.context import AuthenticatedPhone, RequestContext
from sipcore.server.presence.fanout import Notifier
from sipcore.server.presence.model import Clock, LiveSub, PresenceConfig, SipPort
from sipcore.server.presence.resource import target_extension
from sipcore.server.presence.store import SubscriptionStore
from sipcore.server.presence.sync import StateSync
from sipcore.server.presence.table import SubscriptionTable
from sipcore.server.presence.tasks import Tasks


class Subscriptions:
    """The SUBSCRIBE handler: admits into `table`, stores in `store`, loads the watched
    state through `sync`, and leaves the NOTIFYs to `notifier`."""

    def __init__(
        self,
        *,
        sip: SipPort,
        pool: asyncpg.Pool[Any],
        config: PresenceConfig,
        table: SubscriptionTable,
        store: SubscriptionStore,
        sync: StateSync,
        notifier: Notifier,
        tasks: Tasks,
        clock: Clock,
    ) -> None:
        self.sip = sip
        self.pool = pool
        self.config = config
        self.table = table
        self.store = store
        self.sync = sync
        self.notifier = notifier
        self.tasks = tasks
        self.clock = clock

    async def on_subscribe(self, request: SipRequest, ctx: RequestContext) -> SipResponse | None:
        outcome = await self.sip.authenticate(request, ctx)
        if outcome.phone is None:
            return outcome.response
        try:
            return await self._subscribe(request, ctx, outcome.phone)
        except SubscriptionError as exc:
            return refusal(request, exc, min_expires=self.config.min_expires)
        except SipParseError as exc:
            return bad_request(request, exc)

    async def _subscribe(
        self, request: SipRequest, ctx: RequestContext, phone: AuthenticatedPhone
    ) -> SipResponse:
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
        table = self.table
        table.check_limits(phone_id=phone.phone_id)
        with table.pending_of_phone(phone.phone_id):
            user = request.request_uri().user or getattr(request.to().uri, "user", None)
            ext = await target_extension(self.pool, user, phone)
            if ext is None:
                raise SubscriptionError(404, "Not Found")
            table.check_limits(extension_id=ext.id)
            with table.pending_of_resource(ext.id):
                return await self._create(request, ctx, phone, ext, package, content_type,
                                          granted)  # fmt: skip

    async def _create(
        self,
        request: SipRequest,
        ctx: RequestContext,
        phone: AuthenticatedPhone,
        ext: pdb.ExtensionRef,
        package: str,
        content_type: str,
        granted: int,
    ) -> SipResponse:
        """A new subscription to `ext`, admitted: its dialog, its row, its first NOTIFY."""
        watched = await self.sync.watch(ext)
        local_tag = new_tag()
        now = self.clock()
        routes = route_set(
            request, self.sip.bindings_of(phone.phone_id), request.contacts(), ctx.source_ip
        )
        sub = new_subscription(
            request,
            sub_id=secrets.token_hex(12),
            local_tag=local_tag,
            package=package,
            content_type=content_type,
            extension_id=ext.id,
            customer_id=ext.customer_id,
            entity_uri=entity(ext.number, self.config.realm),
            routes=routes,
            granted=granted,
            now=now,
        )
        live = LiveSub(
            sub=sub,
            phone_id=phone.phone_id,
            target=ctx,
            via=(ctx.transport, ctx.local_ip, ctx.local_port),
            pacer=coalesce.Pacer(interval=self.config.notify_min_interval),
        )
        response = subscribe_ok(request, granted=granted, local=live.via, tag=local_tag)
        if granted == 0:  # a fetch (RFC 6665 §4.4.3): one NOTIFY, then it is over
            ended, plan = subscription.refresh(
                sub, cseq=sub.dialog.remote_cseq + 1, granted=0, now=now
            )
            live.sub = ended
            notify = self.notifier.request(live, plan)
            self.table.unwatch_if_idle(ext.id)
            self.tasks.spawn(self.notifier.transmit(live, plan, notify))
            return response
        await self.store.checkpoint([live])
        self.table.add(live, watched)
        live.pacer, decision = coalesce.changed(live.pacer, now)
        asyncio.get_running_loop().call_soon(self.notifier.act, live, decision, now)
        return response

    async def _resubscribe(
        self, request: SipRequest, phone_id: str, to_tag: str, granted: int
    ) -> SipResponse:
        live = self.table.in_dialog(request.call_id, to_tag)
        if live is None or live.phone_id != phone_id:
            raise SubscriptionError(481, "Subscription Does Not Exist")
        now = self.clock()
        live.sub, plan = subscription.refresh(
            live.sub, cseq=request.cseq().number, granted=granted, now=now
        )
        self.table.expires_by(live.sub.expires_at)  # may be shorter
        response = subscribe_ok(request, granted=granted, local=live.via, tag=to_tag)
        if plan.final:
            self.tasks.spawn(self.notifier.final(live, plan, "unsubscribed"))
        else:
            await self.store.checkpoint([live])
            live.pacer = replace(live.pacer, in_flight=True, dirty=False, last_sent=now)
            self.tasks.spawn(self.notifier.notify_slow(live, plan))
        return response

    def expire(self, now: float) -> None:
        """Subscriptions past their deadline end with a final NOTIFY (§4.2.2)."""
        for live, plan in self.table.expire(now):
            self.tasks.spawn(self.notifier.final(live, plan, "expired"))
