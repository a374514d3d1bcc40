"""What the presence service holds per subscription and per watched extension, and what it
needs of the SIP service."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sipcore.location import Binding
from sipcore.message import SipRequest, SipResponse
from sipcore.presence import coalesce
from sipcore.presence.state import ExtensionState
from sipcore.presence.subscription import Subscription
from sipcore.server.context import AuthOutcome, BindingListener, Handler, RequestContext
from sipcore.server.transport.client import ClientTransactions


class SipPort(Protocol):
    """What this module uses of the SIP service (`ctx.hub.sip`)."""

    client: ClientTransactions  # the lean NOTIFY path (`start`, `route_now`, `via_prefix`)

    def register_method(self, method: str, handler: Handler) -> None: ...

    async def authenticate(self, request: SipRequest, ctx: RequestContext) -> AuthOutcome: ...

    async def send_request(
        self, request: SipRequest, *, binding_or_target: Any, timeout: float | None
    ) -> SipResponse | None: ...

    def add_binding_listener(self, callback: BindingListener) -> None: ...

    def bindings_of(self, phone_id: str) -> list[Binding]: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class PresenceConfig:
    realm: str
    node: str  # key of this node's stored subscriptions
    min_expires: int
    max_expires: int  # subscription_max_expires
    default_expires: int
    notify_min_interval: float  # seconds
    max_per_phone: int = 50  # subscriptions one phone holds here (subscriptions_per_phone)
    max_per_resource: int = 200  # watchers of one extension here (subscriptions_per_resource)


@dataclass(slots=True)
class LiveSub:
    """A subscription held by this node and how to reach its subscriber."""

    sub: Subscription
    phone_id: str | None
    target: Any  # RequestContext of the SUBSCRIBE, or a Target after a restart
    via: tuple[str, str, int]  # our transport, host, port for Via/Contact
    pacer: coalesce.Pacer
    wake: asyncio.TimerHandle | None = None
    static: tuple[str, str, list[tuple[str, str]]] | None = None  # From, To, fixed headers
    wire: Any = None  # presence_notify.Wire: its NOTIFY's fixed bytes, made at the first send
    answered: Callable[[int | None], None] | None = None  # the NOTIFY's completion callback


@dataclass(slots=True)
class Watched:
    """A watched extension's current state and its rendered bodies."""

    number: str
    customer_id: str
    state: ExtensionState
    subs: set[str] = field(default_factory=set)
    bodies: dict[tuple[str, str], Any] = field(default_factory=dict)
