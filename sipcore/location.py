"""The location service's in-memory state (RFC 3261 §10.3): bindings per phone.

Pure state, no I/O: the SIP server loads it from PostgreSQL at start, applies each
committed change, and asks it for lookups, the next expiry and what expired. Time is
wall-clock seconds since the epoch (bindings carry absolute expiry so they survive a
restart), passed in by the caller.

A phone is *online* while it has at least one binding that is not marked unreachable
(the keep-alive probes of the server mark them, RFC 5626 §4.4 in spirit).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True, kw_only=True)
class Binding:
    """One registered contact of one phone, with where its REGISTER came from.

    (transport, source_ip, source_port) is the flow: on stream transports it names the
    connection the binding was made on, which requests to the phone reuse (RFC 5626 §5.3
    in spirit; RFC 3261 §18 response routing).
    """

    phone_id: str
    contact: str
    call_id: str
    cseq: int
    expires_at: float
    q: float | None
    transport: str
    source_ip: str
    source_port: int
    local_ip: str | None = None
    user_agent: str | None = None
    instance_id: str | None = None
    reg_id: int | None = None
    node: str | None = None
    unreachable: bool = False

    def remaining(self, now: float) -> int:
        """Seconds left, as the 200 OK's Contact expires parameter reports it."""
        return max(0, int(self.expires_at - now + 0.5))


@dataclass(slots=True)
class LocationService:
    """Bindings of every phone held by this node."""

    _by_phone: dict[str, dict[str, Binding]]
    _expiry_heap: list[tuple[float, str, str]]

    def __init__(self) -> None:
        self._by_phone = {}
        self._expiry_heap = []

    def __len__(self) -> int:
        return sum(len(items) for items in self._by_phone.values())

    def bindings_of(self, phone_id: str) -> list[Binding]:
        items = self._by_phone.get(phone_id)
        return list(items.values()) if items else []

    def binding(self, phone_id: str, contact: str) -> Binding | None:
        items = self._by_phone.get(phone_id)
        return items.get(contact) if items else None

    def is_online(self, phone_id: str) -> bool:
        items = self._by_phone.get(phone_id)
        if not items:
            return False
        return any(not item.unreachable for item in items.values())

    def online_phones(self) -> set[str]:
        return {phone_id for phone_id in self._by_phone if self.is_online(phone_id)}

    def phones(self) -> list[str]:
        return list(self._by_phone)

    def all_bindings(self) -> Iterable[Binding]:
        for items in self._by_phone.values():
            yield from items.values()

    def put(self, binding: Binding) -> None:
        self._by_phone.setdefault(binding.phone_id, {})[binding.contact] = binding
        heapq.heappush(self._expiry_heap, (binding.expires_at, binding.phone_id, binding.contact))

    def apply(
        self, phone_id: str, upserts: Iterable[Binding], removals: Iterable[str]
    ) -> tuple[bool, bool]:
        """Apply one REGISTER's committed changes; returns (online before, online after)."""
        before = self.is_online(phone_id)
        items = self._by_phone.get(phone_id)
        if items:
            for contact in removals:
                items.pop(contact, None)
        for binding in upserts:
            self.put(binding)
        if not self._by_phone.get(phone_id, True):
            del self._by_phone[phone_id]
        return before, self.is_online(phone_id)

    def remove_phone(self, phone_id: str) -> list[Binding]:
        """Drop every binding of a phone (credentials changed, phone deleted)."""
        return list(self._by_phone.pop(phone_id, {}).values())

    def set_unreachable(self, phone_id: str, contact: str, unreachable: bool) -> Binding | None:
        items = self._by_phone.get(phone_id)
        current = items.get(contact) if items else None
        if current is None or items is None:
            return None
        updated = replace(current, unreachable=unreachable)
        items[contact] = updated
        return updated

    def next_expiry(self) -> float | None:
        """The earliest expiry still pending (stale heap entries are skipped lazily)."""
        heap = self._expiry_heap
        while heap:
            expires_at, phone_id, contact = heap[0]
            current = self.binding(phone_id, contact)
            if current is not None and current.expires_at == expires_at:
                return expires_at
            heapq.heappop(heap)
        return None

    def pop_expired(self, now: float) -> list[Binding]:
        """Remove and return every binding whose expiry is at or before `now`."""
        out: list[Binding] = []
        heap = self._expiry_heap
        while heap and heap[0][0] <= now:
            expires_at, phone_id, contact = heapq.heappop(heap)
            items = self._by_phone.get(phone_id)
            current = items.get(contact) if items else None
            if current is None or items is None or current.expires_at != expires_at:
                continue
            del items[contact]
            if not items:
                del self._by_phone[phone_id]
            out.append(current)
        return out
