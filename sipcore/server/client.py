"""Requests sipfleet sends: non-INVITE client transactions (RFC 3261 §17.1.2).

Used for keep-alive OPTIONS probes, check-sync NOTIFYs (provisioning) and in-dialog
NOTIFYs (presence). A request goes over the flow of the phone's binding — the stream
connection its REGISTER came on (connection reuse, §18.1.1 / RFC 5626 §5.3 in spirit),
or for UDP the address and port the REGISTER came from (through NAT) — or over the
connection of a received request, or to an explicit target. On UDP it is retransmitted
per Timer E (T1 doubling up to T2) until a final response or the timeout (Timer F,
64*T1 by default); on reliable transports it is sent once. Responses are matched by the
top Via branch and the CSeq method (§17.1.3). Provisional responses keep it waiting.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sipcore import metrics
from sipcore.headers import NameAddr, Via
from sipcore.location import Binding
from sipcore.message import SipRequest, SipResponse, build_request, new_call_id, new_tag, new_via
from sipcore.server.context import ContactOutcome, RequestContext, Target
from sipcore.server.transport import Address, Connection, StreamConnection
from sipcore.uri import parse_uri

if TYPE_CHECKING:
    from sipcore.server.service import SipService

log = logging.getLogger(__name__)

CHECK_SYNC_TIMEOUT = 10.0


class NoRoute(Exception):
    """No way to reach the target (no open connection on a stream transport)."""


@dataclass(slots=True)
class _Pending:
    method: str
    future: asyncio.Future[SipResponse]


class ClientTransactions:
    def __init__(self, service: SipService) -> None:
        self.service = service
        self._pending: dict[str, _Pending] = {}

    def cancel_all(self) -> None:
        for pending in self._pending.values():
            pending.future.cancel()
        self._pending.clear()

    def on_response_bytes(self, data: bytes) -> bool:
        """Fast path for answers to our own requests, before the full parse: True when
        the raw response was matched and consumed here, False to parse it as usual."""
        return False

    def on_response(self, response: SipResponse) -> None:
        try:
            branch = response.top_via().branch
            method = response.cseq().method
        except Exception:
            return
        pending = self._pending.get(branch or "")
        if pending is None or pending.method != method or response.status < 200:
            return
        if not pending.future.done():
            pending.future.set_result(response)

    async def send(
        self,
        request: SipRequest,
        where: Binding | RequestContext | Target,
        timeout: float | None,
    ) -> SipResponse | None:
        """One client transaction; the final response or None (timeout, no route)."""
        config = self.service.config
        limit = timeout if timeout is not None else 64 * config.timer_t1
        try:
            connection, address = await self._route(where)
        except (NoRoute, OSError) as exc:
            log.info("%s not sent: %s", request.method, exc)
            return None
        via = self._via(connection)
        branch = via.branch or ""
        headers = request.headers.without("Via").with_added("Via", str(via), first=True)
        outgoing = SipRequest(
            method=request.method, uri=request.uri, headers=headers, body=request.body
        )
        data = outgoing.to_bytes()
        future: asyncio.Future[SipResponse] = asyncio.get_running_loop().create_future()
        self._pending[branch] = _Pending(method=request.method, future=future)
        try:
            return await asyncio.wait_for(
                self._transmit(connection, address, data, future), timeout=limit
            )
        except TimeoutError:
            return None
        finally:
            self._pending.pop(branch, None)

    async def _transmit(
        self,
        connection: Connection,
        address: Address | None,
        data: bytes,
        future: asyncio.Future[SipResponse],
    ) -> SipResponse:
        config = self.service.config
        connection.send(data, address)
        interval = config.timer_t1
        while not connection.reliable:
            done, _ = await asyncio.wait({future}, timeout=interval)
            if done:
                break
            connection.send(data, address)  # Timer E
            interval = min(interval * 2, config.timer_t2)
        return await future

    def _via(self, connection: Connection) -> Via:
        host, port = connection.local
        if host in ("0.0.0.0", "::", ""):
            host = self.service.config.advertised_host or self.service.config.realm
        transport = {"wss": "WSS", "ws": "WS"}.get(connection.transport, connection.transport)
        return new_via(transport, host, port)

    async def _route(
        self, where: Binding | RequestContext | Target
    ) -> tuple[Connection, Address | None]:
        if isinstance(where, RequestContext):
            return where.connection, (where.source_ip, where.source_port)
        if isinstance(where, Binding):
            transport, host, port = where.transport, where.source_ip, where.source_port
        else:
            transport, host, port = where.transport, where.host, where.port
        if transport == "udp":
            listeners = self.service.listeners
            sock = listeners.udp_socket(host) if listeners else None
            if sock is None:
                raise NoRoute("no UDP listener")
            from sipcore.server.transport import UdpPeer

            return UdpPeer(sock, (host, port)), (host, port)
        existing = self.service.connections.get(transport, host, port)
        if existing is not None and not existing.closed:
            return existing, None
        if transport == "tcp":
            if isinstance(where, Binding):
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
        self, phone_id: str, *, reboot: bool, timeout: float = CHECK_SYNC_TIMEOUT
    ) -> list[ContactOutcome]:
        bindings = self.service.location.bindings_of(phone_id)
        entry = self.service.directory.by_id(phone_id)
        if not bindings or entry is None:
            return []
        event = "check-sync;reboot=true" if reboot else "check-sync"
        aor = f"sip:{entry.username}@{self.service.config.realm}"
        results = await asyncio.gather(
            *(self._check_sync_one(item, aor, event, timeout) for item in bindings)
        )
        kind = "reboot" if reboot else "reprovision"
        for result in results:
            outcome = "failed" if result.outcome.startswith("error") else result.outcome
            metrics.CHECK_SYNC.labels(kind, outcome).inc()
        return list(results)

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


def _contact_address(contact: str) -> tuple[str, int]:
    uri = parse_uri(contact)
    host = getattr(uri, "host", None)
    if not host:
        raise NoRoute(f"contact {contact!r} has no host")
    return host, getattr(uri, "port", None) or 5060
