"""Rendered per-MAC files, cached by everything they are rendered from.

A repeat fetch is served from the in-memory records (`records.py`), which keep their own
bodies; this cache serves a record read again from the database that has not changed in
what is rendered (after a coarse `sipfleet_prov` drop, the gate's lock of an OPEN phone,
or with the records not cached), saving the rendering (Jinja2 plus building the context
and decrypting the password), the largest part of a cold fetch's CPU. The key is the
record as read — every column that is rendered and every resolved soft-key target,
dict-valued columns by their `repr` — plus the file asked for and the custom-template
generation, so nothing that changes a config body can hit a stale entry, with or without
a `version` bump. Bounded
LRU: `max_entries` bodies of a few kilobytes each (16,384 ≈ 60 MB at worst): a fleet of
that size re-fetching on schedule renders nothing twice.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from typing import Any

from db.provisioning import ProvisionedPhone

# The gate's and the rejection's columns decide whether a body is served, not what it holds;
# `version` moves with them (the gate's lock bumps it) and every rendered column is in the key.
_NOT_RENDERED = frozenset({"ip_mode", "ip_countries", "ip_address", "rejected", "version"})
_FIELDS = tuple(f.name for f in dataclasses.fields(ProvisionedPhone) if f.name not in _NOT_RENDERED)


def _hashable(value: Any) -> Hashable:
    return repr(value) if isinstance(value, dict | list) else value


def phone_key(phones: Sequence[ProvisionedPhone]) -> tuple[Hashable, ...]:
    return tuple(_hashable(getattr(p, name)) for p in phones for name in _FIELDS)


class RenderCache:
    def __init__(self, max_entries: int = 16384) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable) -> Any:
        found = self._entries.get(key)
        if found is None:
            self.misses += 1
            return None
        self.hits += 1
        self._entries.move_to_end(key)
        return found

    def put(self, key: Hashable, value: Any) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()
