"""What the presence service holds per subscription and per watched extension, its
configuration, and what it needs of the SIP service."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from sipcore.location import Binding
from sipcore.message import SipRequest, SipResponse
from sipcore.presence import coalesce
from sipcore.presence.notify import Body, DialogHeaders, Local, Wire
from sipcore.presence.state import ExtensionState
from sipcore.presence.subscription import Subscription
from sipcore.server.context import AuthOutcome, BindingListener, Handler, RequestContext, Target
from sipcore.server.transport.connections import Address, Connection

Clock = Callable[[], float]  # wall-clock seconds (time.time): expiries are stored as such


class NotifyClient(Protocol):
    """The SIP service's client side as the fan-out uses it: a request sent as ready
    bytes over a route that needs no I/O, its final status as a callback."""

    def new_branch(self) -> str: ...

    def via_prefix(self, connection: Connection) -> str: ...

    def route_now(
        self, where: Binding | RequestContext | Target
    ) -> tuple[Connection, Address | None] | None: ...

    def start(
        self,
        method: str,
        branch: str,
        data: bytes,
        connection: Connection,
        address: Address | None,
        callback: Callable[[int | None], None],
        timeout: float | None = None,
    ) -> None: ...


class NotifyPort(Protocol):
    """What the fan-out uses of the SIP service: the two ways to send a NOTIFY."""

    @property
    def client(self) -> NotifyClient: ...  # the lean path, for routes that need no I/O

    async def send_request(
        self,
        request: SipRequest,
        *,
        binding_or_target: Binding | RequestContext | Target,
        timeout: float | None,
    ) -> SipResponse | None: ...


class SipPort(NotifyPort, Protocol):
    """What the presence service uses of the SIP service (`ctx.hub.sip`)."""

    def register_method(self, method: str, handler: Handler) -> None: ...

    async def authenticate(self, request: SipRequest, ctx: RequestContext) -> AuthOutcome: ...

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


@dataclass(frozen=True, slots=True)
class Outbound:
    """A subscription's NOTIFY bytes and where they go (the connection and address; for
    the SUBSCRIBE's own flow and for UDP these never change)."""

    wire: Wire
    connection: Connection
    address: Address | None


@dataclass(slots=True)
class LiveSub:
    """A subscription held by this node and how to reach its subscriber."""

    sub: Subscription
    phone_id: str | None
    target: RequestContext | Target  # the SUBSCRIBE's context, or a Target after a restart
    via: Local  # our transport, host, port for Via/Contact
    pacer: coalesce.Pacer
    wake: asyncio.TimerHandle | None = None
    static: DialogHeaders | None = None  # the NOTIFY's fixed headers, made at first use
    outbound: Outbound | None = None  # its NOTIFY's fixed bytes, made at the first send
    answered: Callable[[int | None], None] | None = None  # the NOTIFY's completion callback


@dataclass(slots=True)
class Watched:
    """A watched extension's current state and its rendered bodies."""

    number: str
    customer_id: str
    state: ExtensionState
    subs: set[str] = field(default_factory=set)
    bodies: dict[tuple[str, str], Body] = field(default_factory=dict)
