"""Reachability of registered contacts: phones behind NAT vanish without unregistering.

Every `keepalive_interval` seconds each binding is checked once, spread evenly over the
interval so probes do not come in bursts: a UDP contact gets an OPTIONS (a client
transaction, retransmitted) and any response counts as alive — its round-trip time is
kept; a TCP/TLS/WS contact is alive while the connection its REGISTER came on is open —
unless it registered through an edge proxy (Path): that connection is the proxy's, so the
phone gets an OPTIONS through it, whatever the transport.
After `keepalive_max_missed` failed checks in a row the binding is marked unreachable;
when a phone has no reachable binding left it is offline (`phone.unreachable`, status
row, binding listeners), well before the binding's expiry. A later answer or a
re-REGISTER makes it reachable again.

An RFC 5626 outbound flow straight from the phone is not kept as unreachable: when it
fails the checks its binding is dropped (`BindingLifecycle.flow_failed`), and requests to
the instance take its other flows. A binding registered through an edge proxy (Path) is
probed through that proxy (`sipcore.server.transport.client`).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import replace

from db.phone_status import EventWrite
from sipcore import metrics
from sipcore.headers import NameAddr
from sipcore.location import Binding
from sipcore.message import SipRequest, SipResponse, build_request, new_call_id, new_tag, new_via
from sipcore.server.config import SipConfig
from sipcore.server.registrar.binding_rows import event_row, status_row, stored_row
from sipcore.server.registrar.bindings import BindingKey, BindingTable, Flow
from sipcore.server.registrar.writer import WriteBehind, WriteFailed, WriteJob
from sipcore.server.transport.connections import ConnectionTable
from sipcore.uri import parse_uri

log = logging.getLogger(__name__)

MAX_CONCURRENT_PROBES = 2000
# Sends a request over a binding's flow as a client transaction: the final response, or
# None on timeout (`sipcore.server.transport.client`).
SendOverBinding = Callable[[SipRequest, Binding, float], Awaitable[SipResponse | None]]


class Keepalive:
    """Probes every binding once per `keepalive_interval` and records what it finds."""

    def __init__(
        self,
        config: SipConfig,
        table: BindingTable,
        connections: ConnectionTable,
        send: SendOverBinding,
        writer: WriteBehind,
        flow_failed: Callable[[Flow], None],
    ) -> None:
        self._config = config
        self._table = table
        self._connections = connections
        self._send = send
        self._writer = writer
        self._flow_failed = flow_failed
        self._round: deque[BindingKey] = deque()
        self._per_tick = 0
        self._in_flight: set[BindingKey] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def rtt(self, phone_id: str, contact: str) -> float | None:
        return self._table.probes.rtt(phone_id, contact)

    async def tick(self, now: float) -> None:
        config = self._config
        if config.keepalive_interval <= 0:
            return
        location = self._table.location
        if not self._round:
            self._round.extend((item.phone_id, item.contact) for item in location.all_bindings())
            self._per_tick = math.ceil(
                len(self._round) * config.sweep_interval / config.keepalive_interval
            )
        for _ in range(min(self._per_tick, len(self._round))):
            key = self._round.popleft()
            binding = location.binding(*key)
            if binding is None or key in self._in_flight:
                continue
            if len(self._in_flight) >= MAX_CONCURRENT_PROBES:
                break
            self._in_flight.add(key)
            task = asyncio.get_running_loop().create_task(self._probe(binding))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _probe(self, binding: Binding) -> None:
        key = (binding.phone_id, binding.contact)
        try:
            alive, rtt = await self._check(binding)
            await self._record(binding, alive, rtt)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("keep-alive probe of phone %s failed", binding.phone_id)
        finally:
            self._in_flight.discard(key)

    async def _check(self, binding: Binding) -> tuple[bool, float | None]:
        if binding.transport != "udp" and binding.path is None:
            connection = self._connections.get(
                binding.transport, binding.source_ip, binding.source_port
            )
            return connection is not None and not connection.closed, None
        config = self._config
        realm = config.realm
        request = build_request(
            "OPTIONS",
            binding.contact,
            via=new_via("UDP", realm),
            from_=NameAddr(uri=parse_uri(f"sip:keepalive@{realm}"), params=(("tag", new_tag()),)),
            to=NameAddr(uri=parse_uri(binding.contact)),
            call_id=new_call_id(realm),
            cseq=1,
        )
        timeout = min(config.keepalive_interval * 0.9, 64 * config.timer_t1)
        loop = asyncio.get_running_loop()
        started = loop.time()
        response = await self._send(request, binding, timeout)
        return response is not None, (loop.time() - started) if response is not None else None

    async def _record(self, binding: Binding, alive: bool, rtt: float | None) -> None:
        key = (binding.phone_id, binding.contact)
        current = self._table.location.binding(*key)
        if current is None or current.expires_at != binding.expires_at:
            return  # refreshed or removed meanwhile: this probe is moot
        state = self._table.probes.of(key)
        if alive:
            state.missed = 0
            state.rtt = rtt
            if current.unreachable:
                await self._set_reachability(current, unreachable=False)
            return
        state.missed += 1
        limit = self._config.keepalive_max_missed
        if state.missed >= limit and current.outbound and current.path is None:
            self._flow_failed((current.transport, current.source_ip, current.source_port))
            return
        if state.missed >= limit and not current.unreachable:
            await self._set_reachability(current, unreachable=True)

    async def _set_reachability(self, binding: Binding, *, unreachable: bool) -> None:
        table = self._table
        phone_id = binding.phone_id
        before = table.location.is_online(phone_id)
        updated = table.set_unreachable(binding, unreachable)
        if updated is None:
            return
        after = table.location.is_online(phone_id)
        remaining = table.location.bindings_of(phone_id)
        events: tuple[EventWrite, ...] = ()
        if unreachable:
            metrics.UNREACHABLE.inc()
            events = (event_row("phone.unreachable", table.customer_of(phone_id), updated),)
            log.info("phone %s contact unreachable after missed keep-alives", phone_id)
        job = WriteJob(
            upserts=(stored_row(replace(updated)),),
            statuses=(status_row(phone_id, remaining, None, None),),
            events=events,
        )
        try:
            await self._writer.submit(job)
        except WriteFailed:
            log.warning("reachability of phone %s not recorded", phone_id)
        if after != before:
            table.tell(phone_id, after)
