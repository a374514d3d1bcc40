"""The failed-authentication limiter of a node: `sipcore.ratelimit.FailureLimiter`'s rules
(an address with `limit` failures within `window` seconds is ignored for `ban` seconds;
while banned nothing about it is recorded) counted once for every worker process of the
node, in shared memory (`sipcore.server.sharedmem`), instead of once per process.

- Failures: one record per address in the region's table, holding the times of its
  recent failures and its ban's end; `record_failure` updates it under the region's lock,
  so N failures spread over the workers ban at N, whichever worker sees the last one.
- Bans: the hot path (`is_banned`, asked for every request without credentials) reads a
  dict of this process. A worker that bans appends the ban to a ring in the region and
  bumps its sequence number; every worker compares that number with the last it read
  (one unlocked read of eight bytes) and, when it moved, copies the new bans into its
  dict — so a ban holds on every worker from the moment it is set. A worker that fell
  more than the ring behind, or just started (a restart), reads the whole table instead.
- Bans set by other nodes (the `bans` table, `sipcore.server.registrar.bans`) are added to the dict
  with `ban`.

Memory is fixed: a record keeps the times of at most `EXACT_LIMIT` failures, so above
that limit the count is per window starting at the address's first failure instead of
sliding (a limit that high is "no limit" in practice); the table holds `capacity`
addresses, the least recently failed forgotten first; the dict of bans holds at most
`capacity`, expired ones dropped first, then the oldest.
"""

from __future__ import annotations

import logging
import struct

from sipcore.server.sharedmem import (
    KEY_SIZE,
    AddressTable,
    Region,
    decode_key,
    encode_key,
    region,
)

log = logging.getLogger(__name__)

REGION_NAME = "auth_failures"
RING = 4096  # bans remembered in the ring; a worker further behind reads the whole table
EXACT_LIMIT = 64  # failure times a record keeps (a sliding window up to this limit)
_HEAD = struct.Struct("=dI4x")  # banned until, failures stored
_SEQ = struct.Struct("=Q")
_STAMP = struct.Struct("=d")
_RING_ENTRY = struct.Struct(f"={KEY_SIZE}sd")  # key, until


def _layout(limit: int, capacity: int) -> tuple[int, int, int]:
    """(payload bytes, buckets, extra bytes) of the region for these settings."""
    payload = _HEAD.size + 8 * min(limit, EXACT_LIMIT)
    return payload, AddressTable.buckets_for(capacity), _SEQ.size + RING * _RING_ENTRY.size


class SharedFailureLimiter:
    __slots__ = (
        "_ban", "_bans", "_capacity", "_limit", "_seen", "_times", "_window", "mm", "region",
        "seq_at", "table",
    )  # fmt: skip

    def __init__(
        self,
        *,
        limit: int,
        window: float,
        ban: float,
        capacity: int = 65536,
        region_: Region | None = None,
    ) -> None:
        if limit < 1 or window <= 0 or ban < 0 or capacity < 1:
            raise ValueError("limit, window and capacity must be positive, ban not negative")
        self._limit = min(limit, 1 << 31)
        self._times = struct.Struct(f"={min(limit, EXACT_LIMIT)}d")
        self._window = window
        self._ban = ban
        self._capacity = capacity
        payload, buckets, extra = _layout(limit, capacity)
        size = AddressTable.size(payload=payload, buckets=buckets, extra=extra)
        chosen = region_ if region_ is not None else region(REGION_NAME, size)
        try:
            table = AddressTable(chosen, payload=payload, buckets=buckets, extra=extra)
        except ValueError as exc:  # the supervisor's region does not fit these settings
            log.warning("failed-auth counts kept per process: %s", exc)
            chosen = Region.private(size)
            table = AddressTable(chosen, payload=payload, buckets=buckets, extra=extra)
        self.region = chosen
        self.table = table
        self.mm = chosen.mm
        self.seq_at = table.extra
        self._bans: dict[str, float] = {}  # this process's view: address -> banned until
        # bans set before this process started (a restarted worker) are read from the
        # whole table at the first look: -1 is no sequence number
        self._seen = -1

    @staticmethod
    def region_size(limit: int, capacity: int = 65536) -> int:
        """Bytes of the shared region for these settings (the supervisor creates it)."""
        payload, buckets, extra = _layout(limit, capacity)
        return AddressTable.size(payload=payload, buckets=buckets, extra=extra)

    def __len__(self) -> int:
        """Addresses tracked: with failures counted, or banned (for tests)."""
        counted = 0
        for _, offset in self.table.records():
            if _HEAD.unpack_from(self.mm, offset)[1]:
                counted += 1
        return counted + len(self._bans)

    # --- the hot path -------------------------------------------------------------------

    def _sequence(self) -> int:
        value: int = _SEQ.unpack_from(self.mm, self.seq_at)[0]
        return value

    def is_banned(self, addr: str, now: float) -> bool:
        if _SEQ.unpack_from(self.mm, self.seq_at)[0] != self._seen:
            self._catch_up(now)
        until = self._bans.get(addr)
        if until is None:
            return False
        if now < until:
            return True
        del self._bans[addr]
        return False

    # --- failures -----------------------------------------------------------------------

    def record_failure(self, addr: str, now: float) -> bool:
        """Count a failure; True when it bans the address (this call, on this node)."""
        if self.is_banned(addr, now):
            return False
        key = encode_key(addr)
        mm = self.mm
        with self.region:
            offset, _ = self.table.add(key, now)
            until, stored = _HEAD.unpack_from(mm, offset)
            if until > now:  # banned a moment ago by another worker
                banned_elsewhere = until
            else:
                banned_elsewhere = 0.0
                self.table.touch(offset, now)
                if not self._counted(offset, stored, now):
                    return False
                until = now + self._ban if self._ban > 0 else 0.0
                _HEAD.pack_into(mm, offset, until, 0)
                if until:
                    self._append(key, until)
        if banned_elsewhere:
            self._remember(addr, banned_elsewhere, now)
            return False
        if until:
            self._remember(addr, until, now)
        return True

    def _counted(self, offset: int, stored: int, now: float) -> bool:
        """Add a failure to the record (hold the lock): True when it reaches the limit."""
        mm = self.mm
        limit = self._limit
        at = offset + _HEAD.size
        if limit > EXACT_LIMIT:  # a count per window from the first failure
            start = _STAMP.unpack_from(mm, at)[0]
            if stored == 0 or now - start > self._window:
                start, stored = now, 0
            stored += 1
            if stored >= limit:
                return True
            _HEAD.pack_into(mm, offset, 0.0, stored)
            _STAMP.pack_into(mm, at, start)
            return False
        horizon = now - self._window
        times = [t for t in self._times.unpack_from(mm, at)[: min(stored, limit)] if t > horizon]
        times.append(now)
        if len(times) >= limit:
            return True
        _HEAD.pack_into(mm, offset, 0.0, len(times))
        times += [0.0] * (limit - len(times))
        self._times.pack_into(mm, at, *times)
        return False

    def clear(self, addr: str) -> None:
        """Forget an address's failures (not its ban)."""
        with self.region:
            offset = self.table.find(encode_key(addr))
            if offset >= 0:
                until = _HEAD.unpack_from(self.mm, offset)[0]
                _HEAD.pack_into(self.mm, offset, until, 0)

    # --- bans ---------------------------------------------------------------------------

    def ban(self, addr: str, until: float, now: float) -> bool:
        """A ban set elsewhere (another node): True when it is news to this process."""
        self.is_banned(addr, now)  # catch up with this node's own bans first
        known = self._bans.get(addr)
        # (a second's slack: a ban read back from the database is rounded to microseconds)
        if until <= now or (known is not None and known >= until - 1.0):
            return False
        self._remember(addr, until, now)
        return True

    def banned(self, now: float) -> dict[str, float]:
        """Every address banned now, with its end (this process's view)."""
        self.is_banned("", now)  # catch up
        return {addr: until for addr, until in self._bans.items() if until > now}

    def _remember(self, addr: str, until: float, now: float) -> None:
        bans = self._bans
        if addr not in bans and len(bans) >= self._capacity:
            for old in [old for old, end in bans.items() if end <= now]:
                del bans[old]
            while len(bans) >= self._capacity:
                del bans[next(iter(bans))]
        if bans.get(addr, 0.0) < until:
            bans.pop(addr, None)
            bans[addr] = until

    def _append(self, key: bytes, until: float) -> None:
        """Log a ban in the ring (hold the lock)."""
        seq = self._sequence()
        at = self.seq_at + _SEQ.size + (seq % RING) * _RING_ENTRY.size
        _RING_ENTRY.pack_into(self.mm, at, key, until)
        _SEQ.pack_into(self.mm, self.seq_at, seq + 1)

    def _catch_up(self, now: float) -> None:
        """Copy the bans other workers logged since we last looked: from the ring, or from
        the whole table at the first look or when the ring moved on too far."""
        mm = self.mm
        with self.region:
            seq = self._sequence()
            if seq == 0:  # no ban was ever set on this region
                self._seen = 0
                return
            if seq < self._seen or self._seen < 0 or seq - self._seen > RING - 16:
                found = []
                for addr, offset in self.table.records():
                    until = _HEAD.unpack_from(mm, offset)[0]
                    if until:
                        found.append((addr, until))
            else:
                found = []
                base = self.seq_at + _SEQ.size
                for index in range(self._seen, seq):
                    at = base + (index % RING) * _RING_ENTRY.size
                    key, until = _RING_ENTRY.unpack_from(mm, at)
                    found.append((decode_key(key), until))
            self._seen = seq
        for addr, until in found:
            if until > now:
                self._remember(addr, until, now)
