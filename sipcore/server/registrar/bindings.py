"""The node's bindings in memory and what follows every change to them.

`BindingTable` wraps the pure `sipcore.location.LocationService` with the bookkeeping a
change needs on this node: which stream flows carry bindings (a connection that carries
one is kept open and not counted as idle), which bindings came over an RFC 5626 outbound
flow straight from the phone (they end with their flow), the keep-alive history of each
binding (`ProbeHistory`, reset when the binding changes), and the online/offline
announcement to the binding listeners (presence) when a phone's state flips.

Every component that changes bindings — the REGISTER handler, expiry and revocation
(`sipcore.server.registrar.lifecycle`), the keep-alive prober, the node link (a binding
moved to another node) — does so through this table, so the bookkeeping cannot drift.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from sipcore import metrics
from sipcore.location import Binding, LocationService
from sipcore.server.context import BindingListener
from sipcore.server.registrar.directory import PhoneDirectory
from sipcore.server.transport.connections import Connection

log = logging.getLogger(__name__)

Flow = tuple[str, str, int]  # (transport, source address, source port)
BindingKey = tuple[str, str]  # (phone_id, contact)


def flow_of(binding: Binding) -> Flow:
    return (binding.transport, binding.source_ip, binding.source_port)


class OnlineListeners:
    """Who hears that a phone went online or offline on this node (presence)."""

    def __init__(self) -> None:
        self._callbacks: list[BindingListener] = []

    def add(self, callback: BindingListener) -> None:
        """`callback(phone_id, extension_id, online)` on every transition."""
        self._callbacks.append(callback)

    def notify(self, phone_id: str, extension_id: str | None, online: bool) -> None:
        for callback in self._callbacks:
            try:
                callback(phone_id, extension_id, online)
            except Exception:
                log.exception("binding listener failed for phone %s", phone_id)


@dataclass(slots=True)
class ProbeState:
    missed: int = 0
    rtt: float | None = None  # seconds, of the last answered probe


class ProbeHistory:
    """Keep-alive results per binding: missed probes in a row and the last round trip."""

    def __init__(self) -> None:
        self.states: dict[BindingKey, ProbeState] = {}

    def forget(self, binding: Binding) -> None:
        """A binding was replaced or removed: its probe history starts over."""
        self.states.pop((binding.phone_id, binding.contact), None)

    def of(self, key: BindingKey) -> ProbeState:
        state = self.states.get(key)
        if state is None:
            state = self.states[key] = ProbeState()
        return state

    def rtt(self, phone_id: str, contact: str) -> float | None:
        state = self.states.get((phone_id, contact))
        return state.rtt if state else None


class BindingTable:
    """The bindings of this node, and the flows, probe histories and announcements that
    follow them."""

    def __init__(
        self,
        location: LocationService,
        directory: PhoneDirectory,
        listeners: OnlineListeners,
        probes: ProbeHistory,
    ) -> None:
        self.location = location
        self.probes = probes
        self._directory = directory
        self._listeners = listeners
        self._flows: dict[Flow, int] = {}  # stream flows carrying bindings → their count
        # outbound bindings straight from the phone (RFC 5626 §6), by flow: a flow that
        # fails takes its bindings with it
        self._outbound: dict[Flow, set[BindingKey]] = {}
        self._udp_bindings = 0

    # --- reading --------------------------------------------------------------------------

    def connection_has_bindings(self, connection: Connection) -> bool:
        return (connection.transport, *connection.remote) in self._flows

    def extension_of(self, phone_id: str) -> str | None:
        entry = self._directory.by_id(phone_id)
        return entry.extension_id if entry else None

    def customer_of(self, phone_id: str) -> str | None:
        entry = self._directory.by_id(phone_id)
        return entry.customer_id if entry else None

    # --- changing -------------------------------------------------------------------------

    def put(self, binding: Binding) -> None:
        """Store a binding (new or replacing the one with its contact), flows counted."""
        old = self.location.binding(binding.phone_id, binding.contact)
        if old is not None:
            self._unflow(old)
        self.location.put(binding)
        if binding.reg_id is not None and binding.path is None and binding.outbound:
            self._outbound.setdefault(flow_of(binding), set()).add(
                (binding.phone_id, binding.contact)
            )
        if binding.transport == "udp":  # no connection to keep open: a count is enough
            self._udp_bindings += 1
            return
        flow = flow_of(binding)
        self._flows[flow] = self._flows.get(flow, 0) + 1

    def apply(
        self,
        phone_id: str,
        extension_id: str | None,
        upserts: Iterable[Binding],
        removals: Iterable[str],
    ) -> None:
        """Committed changes of one phone, in memory; announced if it went on/offline."""
        location = self.location
        before = location.is_online(phone_id)
        for contact in removals:
            old = location.binding(phone_id, contact)
            if old is not None:
                self._unflow(old)
                self.probes.forget(old)
        if removals:  # (apply with nothing to remove would only ask is_online twice)
            location.apply(phone_id, (), removals)
        for item in upserts:
            self.put(item)
            self.probes.forget(item)
        self.announce(phone_id, extension_id, before)

    def replace_refresh(self, old: Binding, new: Binding, extension_id: str | None) -> bool:
        """`apply` for a refresh of a phone's one binding from the same flow, when `old`
        is still that binding (nothing changed it during the commit); False otherwise.
        The flow is the same, so the flow counts do not change."""
        if not self.location.replace_only(old, new):
            return False
        self.probes.forget(old)  # (the same key as new's)
        if old.unreachable:  # offline until this refresh
            self.announce(new.phone_id, extension_id, False)
        return True

    def forget(self, binding: Binding) -> None:
        """Drop a binding from memory only: no write, no offline announcement (another
        node took it over)."""
        self.location.apply(binding.phone_id, (), (binding.contact,))
        self._unflow(binding)  # the flow count keeps a TCP connection open
        self.probes.forget(binding)

    def remove_phone(self, phone_id: str) -> list[Binding]:
        """Every binding of the phone, dropped and announced offline if it was online."""
        was_online = self.location.is_online(phone_id)
        removed = self.location.remove_phone(phone_id)
        for item in removed:
            self._unflow(item)
            self.probes.forget(item)
        if was_online:
            self._listeners.notify(phone_id, None, False)
        return removed

    def pop_expired(self, now: float) -> list[Binding]:
        """The bindings expired by `now`, removed (not yet announced: see `announce_gone`)."""
        expired = self.location.pop_expired(now)
        for item in expired:
            self._unflow(item)
            self.probes.forget(item)
        return expired

    def set_unreachable(self, binding: Binding, unreachable: bool) -> Binding | None:
        """Mark a binding (un)reachable: the updated binding, or None when it is gone. The
        caller announces (`announce`) once the change is written."""
        return self.location.set_unreachable(binding.phone_id, binding.contact, unreachable)

    def take_outbound_flow(self, flow: Flow) -> dict[str, list[Binding]]:
        """The outbound bindings of a dead flow, by phone, no longer tracked as such (the
        caller removes them)."""
        keys = self._outbound.pop(flow, None)
        if not keys:
            return {}
        gone: dict[str, list[Binding]] = {}
        for phone_id in {key[0] for key in keys}:
            items = [
                item
                for item in self.location.bindings_of(phone_id)
                if (phone_id, item.contact) in keys and flow_of(item) == flow
            ]
            if items:
                gone[phone_id] = items
        return gone

    # --- announcing -----------------------------------------------------------------------

    def announce(self, phone_id: str, extension_id: str | None, before: bool) -> None:
        """Tell the listeners when the phone's online state is no longer `before`."""
        after = self.location.is_online(phone_id)
        if after != before:
            if extension_id is None:
                extension_id = self.extension_of(phone_id)
            self._listeners.notify(phone_id, extension_id, after)

    def tell(self, phone_id: str, online: bool) -> None:
        """Tell the listeners the phone is now `online` (or not)."""
        self._listeners.notify(phone_id, self.extension_of(phone_id), online)

    def announce_gone(self, removed: Iterable[Binding]) -> None:
        """After expiry: phones that had a reachable binding among `removed` and have
        none left are announced offline."""
        by_phone: dict[str, bool] = {}
        for item in removed:
            by_phone[item.phone_id] = by_phone.get(item.phone_id, False) or not item.unreachable
        for phone_id, was_online in by_phone.items():
            if was_online and not self.location.is_online(phone_id):
                self._listeners.notify(phone_id, self.extension_of(phone_id), False)

    def count(self) -> None:
        """The bindings gauge, refreshed once per tick (not per REGISTER: O(flows))."""
        counts: dict[str, int] = {"udp": self._udp_bindings}
        for (transport, _, _), count in self._flows.items():
            counts[transport] = counts.get(transport, 0) + count
        for transport in ("udp", "tcp", "tls", "ws", "wss"):
            metrics.BINDINGS.labels(transport=transport).set(counts.get(transport, 0))

    def _unflow(self, binding: Binding) -> None:
        if binding.reg_id is not None:
            keys = self._outbound.get(flow_of(binding))
            if keys is not None:
                keys.discard((binding.phone_id, binding.contact))
                if not keys:
                    del self._outbound[flow_of(binding)]
        if binding.transport == "udp":
            self._udp_bindings = max(0, self._udp_bindings - 1)
            return
        flow = flow_of(binding)
        count = self._flows.get(flow, 0) - 1
        if count > 0:
            self._flows[flow] = count
        else:
            self._flows.pop(flow, None)
