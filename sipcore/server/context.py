"""What a request handler learns about where a request came from, and what it returns.

Shared by the registrar and by handlers other components plug in with
`SipService.register_method` (presence: SUBSCRIBE, PUBLISH).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sipcore.message import SipRequest, SipResponse
from sipcore.server.transport.connections import Connection


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestContext:
    """The transport facts of one received request.

    `connection` is the handle to answer on and to send later in-dialog requests over
    (`SipService.send_request(..., binding_or_target=ctx)`); for UDP it is the listening
    socket as seen from this peer.
    """

    transport: str  # udp | tcp | tls | ws | wss
    source_ip: str
    source_port: int
    local_ip: str
    local_port: int
    connection: Connection
    received_at: float  # time.time() on arrival
    # The phone's own address: the source, or — when the packet came from a trusted edge
    # proxy (`trusted_proxies`) — the address that proxy stamped in the Vias
    # (`sipcore.edge`). The IP gate, the failure limiter and publicIpAddress use it.
    client_ip: str = ""

    @property
    def remote_ip(self) -> str:
        return self.client_ip or self.source_ip


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthenticatedPhone:
    """The phone a request was authenticated as."""

    phone_id: str
    customer_id: str
    extension_id: str | None
    username: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthOutcome:
    """Either `phone` (authenticated and admitted by the IP gate) or `response` to send
    (401 challenge, 403 denied, 400). Both None: drop silently (a banned address)."""

    phone: AuthenticatedPhone | None = None
    response: SipResponse | None = None

    @property
    def ok(self) -> bool:
        return self.phone is not None


# A handler answers with a response, its ready-made bytes (the registrar's hot path,
# `sipcore.message.response_bytes`), or None when it answered itself or drops the request.
Handler = Callable[[SipRequest, RequestContext], Awaitable[SipResponse | bytes | None]]
BindingListener = Callable[[str, str | None, bool], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """Where to send a request when there is no binding: transport, host, port."""

    transport: str
    host: str
    port: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactOutcome:
    """check-sync result for one contact: `outcome` is "ok", "timeout" or "error: …"."""

    contact: str
    transport: str
    status: int | None
    outcome: str
