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
fails the checks its binding is dropped (`RegisterHandler.flow_failed`), and requests to
the instance take its other flows. A binding registered through an edge proxy (Path) is
probed through that proxy (`sipcore.server.transport.client`).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from db.phone_status import EventWrite
from sipcore import metrics
from sipcore.headers import NameAddr
from sipcore.location import Binding
from sipcore.message import build_request, new_call_id, new_tag, new_via
from sipcore.server.registrar.binding_rows import event_row, status_row, stored_row
from sipcore.server.registrar.writer import WriteFailed, WriteJob
from sipcore.uri import parse_uri

if TYPE_CHECKING:
    from sipcore.server.registrar.register import RegisterHandler

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (phone_id, contact)
MAX_CONCURRENT_PROBES = 2000


@dataclass(slots=True)
class ProbeState:
    missed: int = 0
    rtt: float | None = None  # seconds, of the last answered probe


class Keepalive:
    def __init__(self, handler: RegisterHandler) -> None:
        self.handler = handler
        self.states: dict[Key, ProbeState] = {}
        self._round: deque[Key] = deque()
        self._in_flight: set[Key] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def forget(self, binding: Binding) -> None:
        """A binding was replaced or removed: its probe history starts over."""
        self.states.pop((binding.phone_id, binding.contact), None)

    def rtt(self, phone_id: str, contact: str) -> float | None:
        state = self.states.get((phone_id, contact))
        return state.rtt if state else None

    async def tick(self, now: float) -> None:
        config = self.handler.service.config
        if config.keepalive_interval <= 0:
            return
        location = self.handler.service.location
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

    _per_tick: int = 0

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
        service = self.handler.service
        if binding.transport != "udp" and binding.path is None:
            connection = service.connections.get(
                binding.transport, binding.source_ip, binding.source_port
            )
            return connection is not None and not connection.closed, None
        config = service.config
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
        response = await service.client.send(request, binding, timeout)
        return response is not None, (loop.time() - started) if response is not None else None

    async def _record(self, binding: Binding, alive: bool, rtt: float | None) -> None:
        key = (binding.phone_id, binding.contact)
        current = self.handler.service.location.binding(*key)
        if current is None or current.expires_at != binding.expires_at:
            return  # refreshed or removed meanwhile: this probe is moot
        state = self.states.setdefault(key, ProbeState())
        if alive:
            state.missed = 0
            state.rtt = rtt
            if current.unreachable:
                await self._set_reachability(current, unreachable=False)
            return
        state.missed += 1
        limit = self.handler.service.config.keepalive_max_missed
        if state.missed >= limit and current.outbound and current.path is None:
            self.handler.flow_failed((current.transport, current.source_ip, current.source_port))
            return
        if state.missed >= limit and not current.unreachable:
            await self._set_reachability(current, unreachable=True)

    async def _set_reachability(self, binding: Binding, *, unreachable: bool) -> None:
        service = self.handler.service
        location = service.location
        before = location.is_online(binding.phone_id)
        updated = location.set_unreachable(binding.phone_id, binding.contact, unreachable)
        if updated is None:
            return
        after = location.is_online(binding.phone_id)
        entry = service.directory.by_id(binding.phone_id)
        remaining = location.bindings_of(binding.phone_id)
        events: tuple[EventWrite, ...] = ()
        if unreachable:
            metrics.UNREACHABLE.inc()
            customer = entry.customer_id if entry else None
            events = (event_row("phone.unreachable", customer, updated),)
            log.info("phone %s contact unreachable after missed keep-alives", binding.phone_id)
        job = WriteJob(
            upserts=(stored_row(replace(updated)),),
            statuses=(status_row(binding.phone_id, remaining, None, None),),
            events=events,
        )
        try:
            await service.writer.submit(job)
        except WriteFailed:
            log.warning("reachability of phone %s not recorded", binding.phone_id)
        if before != after:
            service.notify_binding_listeners(
                binding.phone_id, entry.extension_id if entry else None, after
            )
