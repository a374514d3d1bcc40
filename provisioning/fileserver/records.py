"""Phone records held in memory by MAC, so a repeat fetch reads nothing from the database.

A fetch needs one record per MAC (`db.provisioning.phones_for_mac`: the phone, its model,
side panel, extension, customer, resolved key targets and rejection flag). Reading it was
a quarter of a warm fetch's CPU; here it is read once and kept until PostgreSQL says it
changed:
- `sipfleet_phones` (migration 0003/0006) carries a phone id: that phone's MAC is dropped;
- `sipfleet_prov` (migration 0008) carries `'*'` (catalogue, customers, extensions, groups,
  queues, phone inserts/moves: everything dropped) or a MAC (its rejection flag changed).
The cache is only used while its listener connection is up (`TemplateStore` owns that
connection and calls `activate`/`deactivate`): before the listener is in place and after
it is lost nothing is cached, and losing it drops everything, since changes may have
been missed.

A read racing an invalidation must not put the old record back: every invalidation bumps
`generation`, and a record read before the bump is served but not kept (`put(token=…)`).

Each entry also keeps the bodies rendered from it (by file and template generation), so a
hit costs neither the render cache's key (a tuple of every rendered column) nor a render.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from db import provisioning as prov_db
from db.provisioning import PROV_ALL, ProvisionedPhone

_SYNC = "sync:"


@dataclass(slots=True)
class Entry:
    """One MAC's records and what was made from them (dropped with them)."""

    phones: tuple[ProvisionedPhone, ...]
    bodies: dict[Hashable, Any] = field(default_factory=dict)


class PhoneRecords:
    def __init__(self, max_entries: int = 200_000) -> None:
        self.max_entries = max_entries
        self.active = False
        self.generation = 0
        self._by_mac: dict[str, Entry] = {}
        self._mac_of: dict[str, str] = {}  # phone id -> MAC, for `sipfleet_phones`
        self._syncs: dict[str, asyncio.Future[None]] = {}
        self._sync_ids = itertools.count(1)
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._by_mac)

    def get(self, mac: str) -> Entry | None:
        found = self._by_mac.get(mac)
        if found is None:
            self.misses += 1
        else:
            self.hits += 1
        return found

    def put(self, mac: str, phones: Sequence[ProvisionedPhone], *, token: int) -> Entry:
        """An entry for records read when `generation` was `token`; kept only if nothing
        was invalidated since (and the cache is active). Unknown MACs are not kept: a new
        phone would announce only its id, which no entry maps yet."""
        entry = Entry(tuple(phones))
        if not self.active or token != self.generation or not phones:
            return entry
        if len(self._by_mac) >= self.max_entries:
            self.clear()
            return entry
        self._by_mac[mac] = entry
        for phone in phones:
            self._mac_of[phone.id] = mac
        return entry

    def _drop(self, mac: str) -> None:
        entry = self._by_mac.pop(mac, None)
        if entry is not None:
            for phone in entry.phones:
                self._mac_of.pop(phone.id, None)

    def clear(self) -> None:
        self.generation += 1
        self._by_mac.clear()
        self._mac_of.clear()

    def phone_changed(self, phone_id: str) -> None:
        """`sipfleet_phones`: a phone row changed (or was deleted)."""
        self.generation += 1
        mac = self._mac_of.get(phone_id)
        if mac is not None:
            self._drop(mac)

    def prov_notified(self, payload: str) -> None:
        """`sipfleet_prov`: `'*'`, a MAC, or one of our own `sync` markers."""
        if payload.startswith(_SYNC):
            waiter = self._syncs.pop(payload, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
            return
        if payload == PROV_ALL:
            self.clear()
            return
        self.generation += 1
        self._drop(payload)

    def activate(self) -> None:
        self.clear()
        self.active = True

    def deactivate(self) -> None:
        """The listener is gone: changes may be missed, so nothing is served from memory."""
        self.active = False
        self.clear()
        for waiter in self._syncs.values():
            if not waiter.done():
                waiter.set_result(None)
        self._syncs.clear()

    async def sync(self, pool: asyncpg.Pool[Any]) -> None:
        """Return once every change committed before the call has reached this cache
        (tests, and anyone who must see their own write on the next fetch)."""
        if not self.active:
            return
        marker = f"{_SYNC}{id(self)}:{next(self._sync_ids)}"
        waiter = asyncio.get_running_loop().create_future()
        self._syncs[marker] = waiter
        async with pool.acquire() as conn:
            await prov_db.notify_prov(conn, marker)
        await waiter
