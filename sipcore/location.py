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
import sys
from collections.abc import Iterable
from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True, kw_only=True)
class Binding:
    """One registered contact of one phone, with where its REGISTER came from.

    (transport, source_ip, source_port) is the flow: on stream transports it names the
    connection the binding was made on, which requests to the phone reuse (RFC 5626 §5.3
    in spirit; RFC 3261 §18 response routing).

    `path` is the REGISTER's Path header values (RFC 3327) as one comma-separated Route
    value, when a trusted edge proxy added them: requests to the phone carry it as their
    Route set and go to its first hop. A binding with both `instance_id` and `reg_id` is
    one flow of an RFC 5626 outbound registration (`outbound`); the registrar drops a
    Contact's reg-id when the hop next to the phone keeps no flow for it.
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
    path: str | None = None

    @property
    def outbound(self) -> bool:
        """One flow of an RFC 5626 outbound registration (instance and reg-id)."""
        return self.reg_id is not None and self.instance_id is not None

    def remaining(self, now: float) -> int:
        """Seconds left, as the 200 OK's Contact expires parameter reports it."""
        return max(0, int(self.expires_at - now + 0.5))


# Values many bindings share — a site's public address, the phones' LAN addresses, the
# user agent of one firmware, the transport, the node, port 5060 — are kept once: `put`
# swaps a stored binding's copies (fresh objects off the wire for every REGISTER) for the
# canonical one. Strings go through sys.intern, whose table forgets a string when its last
# user is gone; ports through a table of our own, bounded by the 65,536 port numbers.
_PORTS: dict[int, int] = {}
_intern = sys.intern
_set = object.__setattr__


def _compact(binding: Binding) -> None:
    """Share the repeated values of a binding about to be stored. It is frozen; this only
    swaps equal objects, so nothing anyone can observe changes but memory. Unrolled: it
    runs once per committed REGISTER."""
    value = binding.source_ip
    shared = _intern(value)
    if shared is not value:
        _set(binding, "source_ip", shared)
    value = binding.transport
    shared = _intern(value)
    if shared is not value:
        _set(binding, "transport", shared)
    optional = binding.local_ip
    if optional is not None and optional is not (shared := _intern(optional)):
        _set(binding, "local_ip", shared)
    optional = binding.user_agent
    if optional is not None and optional is not (shared := _intern(optional)):
        _set(binding, "user_agent", shared)
    optional = binding.node
    if optional is not None and optional is not (shared := _intern(optional)):
        _set(binding, "node", shared)
    port = binding.source_port
    shared_port = _PORTS.setdefault(port, port)
    if shared_port is not port:
        _set(binding, "source_port", shared_port)


class LocationService:
    """Bindings of every phone held by this node.

    Memory per binding is what limits a node (the aim: under 200 MB per 100,000), so:
    a phone with one binding — nearly all of them — maps to that Binding itself, not to a
    one-entry dict (≈200 bytes saved each); only phones with several contacts get a dict
    by contact. The expiry index files phone ids (the binding's own string: 8 bytes an
    entry) in buckets by whole second, with a heap of the seconds: a refresh leaves its old
    entry behind — 8 bytes until its second comes, when it is found stale and dropped —
    instead of a (time, phone, contact) tuple per refresh kept until then.
    """

    __slots__ = ("_buckets", "_by_phone", "_count", "_seconds")

    def __init__(self) -> None:
        self._by_phone: dict[str, Binding | dict[str, Binding]] = {}
        self._buckets: dict[int, list[str]] = {}  # whole second → phones expiring in it
        self._seconds: list[int] = []  # heap of the seconds that have a bucket
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def bindings_of(self, phone_id: str) -> list[Binding]:
        entry = self._by_phone.get(phone_id)
        if entry is None:
            return []
        if isinstance(entry, Binding):
            return [entry]
        return list(entry.values())

    def binding(self, phone_id: str, contact: str) -> Binding | None:
        entry = self._by_phone.get(phone_id)
        if entry is None:
            return None
        if isinstance(entry, Binding):
            return entry if entry.contact == contact else None
        return entry.get(contact)

    def only_binding(self, phone_id: str) -> Binding | None:
        """The phone's binding when it has exactly one (nearly every phone), else None."""
        entry = self._by_phone.get(phone_id)
        return entry if isinstance(entry, Binding) else None

    def is_online(self, phone_id: str) -> bool:
        entry = self._by_phone.get(phone_id)
        if entry is None:
            return False
        if isinstance(entry, Binding):
            return not entry.unreachable
        return any(not item.unreachable for item in entry.values())

    def online_phones(self) -> set[str]:
        return {phone_id for phone_id in self._by_phone if self.is_online(phone_id)}

    def phones(self) -> list[str]:
        return list(self._by_phone)

    def all_bindings(self) -> Iterable[Binding]:
        for entry in self._by_phone.values():
            if isinstance(entry, Binding):
                yield entry
            else:
                yield from entry.values()

    def _store(self, binding: Binding) -> None:
        """Set the phone's binding for its contact (no expiry bookkeeping)."""
        phone_id = binding.phone_id
        entry = self._by_phone.get(phone_id)
        if entry is None:
            self._by_phone[phone_id] = binding
            self._count += 1
        elif isinstance(entry, Binding):
            if entry.contact == binding.contact:
                self._by_phone[phone_id] = binding
            else:
                self._by_phone[phone_id] = {entry.contact: entry, binding.contact: binding}
                self._count += 1
        else:
            if binding.contact not in entry:
                self._count += 1
            entry[binding.contact] = binding

    def _discard(self, phone_id: str, contact: str) -> Binding | None:
        entry = self._by_phone.get(phone_id)
        if entry is None:
            return None
        if isinstance(entry, Binding):
            if entry.contact != contact:
                return None
            del self._by_phone[phone_id]
            self._count -= 1
            return entry
        removed = entry.pop(contact, None)
        if removed is None:
            return None
        self._count -= 1
        if len(entry) == 1:
            self._by_phone[phone_id] = next(iter(entry.values()))
        return removed

    def put(self, binding: Binding) -> None:
        _compact(binding)
        self._store(binding)
        second = int(binding.expires_at)
        bucket = self._buckets.get(second)
        if bucket is None:
            self._buckets[second] = [binding.phone_id]
            heapq.heappush(self._seconds, second)
        else:
            bucket.append(binding.phone_id)

    def replace_only(self, old: Binding, new: Binding) -> bool:
        """Store `new` (same phone and contact) in place of `old` if `old` is still the
        phone's one binding; otherwise change nothing and return False."""
        if (
            self._by_phone.get(old.phone_id) is not old
            or new.phone_id != old.phone_id
            or new.contact != old.contact
        ):
            return False
        self.put(new)
        return True

    def apply(
        self, phone_id: str, upserts: Iterable[Binding], removals: Iterable[str]
    ) -> tuple[bool, bool]:
        """Apply one REGISTER's committed changes; returns (online before, online after)."""
        before = self.is_online(phone_id)
        for contact in removals:
            self._discard(phone_id, contact)
        for binding in upserts:
            self.put(binding)
        return before, self.is_online(phone_id)

    def remove_phone(self, phone_id: str) -> list[Binding]:
        """Drop every binding of a phone (credentials changed, phone deleted)."""
        removed = self.bindings_of(phone_id)
        self._by_phone.pop(phone_id, None)
        self._count -= len(removed)
        return removed

    def set_unreachable(self, phone_id: str, contact: str, unreachable: bool) -> Binding | None:
        current = self.binding(phone_id, contact)
        if current is None:
            return None
        updated = replace(current, unreachable=unreachable)
        self._store(updated)  # same expiry: its heap entry stays valid
        return updated

    def _expiring(self, phone_id: str, second: int) -> list[Binding]:
        """The phone's bindings that expire within `second` (none: a stale entry)."""
        entry = self._by_phone.get(phone_id)
        if entry is None:
            return []
        if isinstance(entry, Binding):
            return [entry] if int(entry.expires_at) == second else []
        return [item for item in entry.values() if int(item.expires_at) == second]

    def next_expiry(self) -> float | None:
        """The earliest expiry still pending (stale bucket entries are dropped lazily)."""
        seconds = self._seconds
        while seconds:
            second = seconds[0]
            live = [item for phone_id in self._buckets[second]
                    for item in self._expiring(phone_id, second)]  # fmt: skip
            if live:
                return min(item.expires_at for item in live)
            heapq.heappop(seconds)
            del self._buckets[second]
        return None

    def pop_expired(self, now: float) -> list[Binding]:
        """Remove and return every binding whose expiry is at or before `now`."""
        out: list[Binding] = []
        seconds = self._seconds
        while seconds and seconds[0] <= now:
            second = seconds[0]
            later: dict[str, None] = {}  # phones expiring later within this same second
            for phone_id in self._buckets[second]:
                for item in self._expiring(phone_id, second):
                    if item.expires_at <= now:
                        self._discard(phone_id, item.contact)
                        out.append(item)
                    else:
                        later[phone_id] = None
            if later:  # `now` is inside this second: the following ones are all later
                self._buckets[second] = list(later)
                break
            heapq.heappop(seconds)
            del self._buckets[second]
        return out
