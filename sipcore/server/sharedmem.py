"""Memory shared by the worker processes of one node, for limits that must hold for the
node rather than for each process: failed-authentication counts and bans
(`sipcore.server.registrar.limiter`) and the unknown-MAC scan throttle
(`provisioning.fileserver.throttle`).
With `workers = 2` and per-process counts an attacker had twice the budget, and a ban held
on the worker that set it only.

With `workers` > 1 the supervisor creates each region once (`Region.create`: an anonymous
memory file, memfd) before it starts the workers and hands every worker its descriptor
along with the listening sockets; the worker registers it (`use_regions`) and the code
that needs it asks for it by name (`region`). A restarted worker attaches the same
region, so nothing is lost. Any other process (one serving alone, a test) gets a private
region of the same layout, and the code above does not know the difference.

A region holds an `AddressTable`: fixed-size records keyed by an address (its text, up to
`KEY_MAX` bytes; a longer key by its hash), in buckets of `WAYS` records chosen by the
key's CRC-32. A full bucket gives up its least recently touched record, so the memory is
fixed and a flood of new addresses cannot grow it (it only forgets the oldest). After the
table, `extra` bytes are the user's (the ban log). Changes are made holding the region's
lock: an fcntl record lock on the memory file, which the kernel releases when its holder
dies, so a killed worker cannot wedge the others. Readers that can live with a value a
moment old read without it.
"""

from __future__ import annotations

import fcntl
import hashlib
import mmap
import os
import struct
import zlib
from collections.abc import Iterator
from types import TracebackType

KEY_SIZE = 48  # one length byte and up to KEY_MAX bytes of the address
KEY_MAX = KEY_SIZE - 1
WAYS = 8  # records per bucket
_STAMP = struct.Struct("=d")  # the record's last touch (wall-clock or monotonic seconds)
_HEADER = struct.Struct("=8sIIII")  # magic, record size, buckets, extra size, reserved
HEADER_SIZE = 64
MAGIC = b"sfshm\x00\x00\x01"
RECORD_HEAD = KEY_SIZE + _STAMP.size

_inherited: dict[str, int] = {}


def use_regions(descriptors: dict[str, int]) -> None:
    """Regions (name → descriptor) this process got from its supervisor."""
    _inherited.update(descriptors)


def region(name: str, size: int) -> Region:
    """The node's region `name` when the supervisor gave one (of at least `size` bytes),
    else a private one of `size` bytes."""
    fd = _inherited.get(name)
    if fd is not None:
        shared = Region.attach(fd)
        if len(shared) >= size:
            return shared
        shared.close()
    return Region.private(size)


class Region:
    """A mapped memory region, shared (a memfd's descriptor, lockable) or private."""

    __slots__ = ("fd", "mm", "shared")

    def __init__(self, mm: mmap.mmap, fd: int | None) -> None:
        self.mm = mm
        self.fd = fd
        self.shared = fd is not None

    @classmethod
    def create(cls, name: str, size: int) -> Region:
        """A new shareable region (its descriptor is handed to worker processes)."""
        fd = os.memfd_create(f"sipfleet-{name}", os.MFD_CLOEXEC)
        try:
            os.ftruncate(fd, size)
            mm = mmap.mmap(fd, size)
        except OSError:
            os.close(fd)
            raise
        return cls(mm, fd)

    @classmethod
    def attach(cls, fd: int) -> Region:
        return cls(mmap.mmap(fd, os.fstat(fd).st_size), fd)

    @classmethod
    def private(cls, size: int) -> Region:
        return cls(mmap.mmap(-1, size), None)

    def __len__(self) -> int:
        return len(self.mm)

    def __enter__(self) -> Region:
        if self.fd is not None:
            fcntl.lockf(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.fd is not None:
            fcntl.lockf(self.fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Unmap (the descriptor of a shared region stays: it is the process's)."""
        self.mm.close()


def encode_key(address: str) -> bytes:
    """The record key of an address: length byte, text, zero padding (KEY_SIZE bytes)."""
    raw = address.encode("utf-8", "replace")
    if len(raw) > KEY_MAX or not raw:
        raw = b"#" + hashlib.blake2b(raw, digest_size=16).hexdigest().encode()
    return bytes((len(raw),)) + raw + bytes(KEY_MAX - len(raw))


def decode_key(key: bytes) -> str:
    return key[1 : 1 + key[0]].decode("utf-8", "replace")


class AddressTable:
    """Records of `payload` bytes keyed by address in a region (see the module)."""

    __slots__ = ("_table", "buckets", "extra", "mm", "record_size", "region")

    def __init__(self, region: Region, *, payload: int, buckets: int, extra: int = 0) -> None:
        self.region = region
        self.mm = region.mm
        self.record_size = _round8(RECORD_HEAD + payload)
        self.buckets = buckets
        self.extra = HEADER_SIZE  # offset of the user's `extra` bytes
        self._table = HEADER_SIZE + _round8(extra)
        needed = self.size(payload=payload, buckets=buckets, extra=extra)
        if len(region) < needed:
            raise ValueError(f"region of {len(region)} bytes, {needed} needed")
        header = _HEADER.pack(MAGIC, self.record_size, buckets, extra, 0)
        with region:
            current = bytes(self.mm[: _HEADER.size])
            if current[:8] != MAGIC:
                self.mm[: _HEADER.size] = header
            elif current != header:
                raise ValueError("region laid out for other settings")

    @staticmethod
    def size(*, payload: int, buckets: int, extra: int = 0) -> int:
        return HEADER_SIZE + _round8(extra) + buckets * WAYS * _round8(RECORD_HEAD + payload)

    @staticmethod
    def buckets_for(capacity: int) -> int:
        return max(1, -(-capacity // WAYS))

    def _bucket(self, key: bytes) -> int:
        return self._table + (zlib.crc32(key) % self.buckets) * WAYS * self.record_size

    def find(self, key: bytes) -> int:
        """The offset of the key's record payload, or -1. Without the lock the answer may
        be a moment old (and the record may be reused before it is read)."""
        start = self._bucket(key)
        end = start + WAYS * self.record_size
        mm = self.mm
        at = mm.find(key, start, end)
        while at >= 0:
            if (at - start) % self.record_size == 0:
                return at + RECORD_HEAD
            at = mm.find(key, at + 1, end)
        return -1

    def add(self, key: bytes, now: float) -> tuple[int, bool]:
        """(payload offset, created) of the key's record, taking the bucket's empty or
        least recently touched one (zeroed) when it has none. Hold the lock."""
        found = self.find(key)
        if found >= 0:
            return found, False
        start = self._bucket(key)
        mm = self.mm
        size = self.record_size
        chosen = start
        oldest = float("inf")
        for offset in range(start, start + WAYS * size, size):
            if mm[offset] == 0:
                chosen = offset
                break
            stamp = _STAMP.unpack_from(mm, offset + KEY_SIZE)[0]
            if stamp < oldest:
                oldest, chosen = stamp, offset
        mm[chosen : chosen + size] = key + _STAMP.pack(now) + bytes(size - RECORD_HEAD)
        return chosen + RECORD_HEAD, True

    def touch(self, payload_offset: int, now: float) -> None:
        _STAMP.pack_into(self.mm, payload_offset - _STAMP.size, now)

    def remove(self, payload_offset: int) -> None:
        start = payload_offset - RECORD_HEAD
        self.mm[start : start + self.record_size] = bytes(self.record_size)

    def records(self) -> Iterator[tuple[str, int]]:
        """(address, payload offset) of every record in use."""
        mm = self.mm
        size = self.record_size
        end = self._table + self.buckets * WAYS * size
        for offset in range(self._table, end, size):
            length = mm[offset]
            if length:
                yield (
                    mm[offset + 1 : offset + 1 + length].decode("utf-8", "replace"),
                    offset + RECORD_HEAD,
                )

    def __len__(self) -> int:
        return sum(1 for _ in self.records())


def _round8(value: int) -> int:
    return (value + 7) // 8 * 8
