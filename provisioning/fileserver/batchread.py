"""Reading the records of the MACs the cache misses, many in one query.

When a building's phones boot at once, every fetch misses the record cache (`records.py`)
and each would read its own record: a query per phone, each with its round trip, its
statement in PostgreSQL and its turn on one of the file server's leased connections.
Misses that arrive while a read is in flight wait for the next one, which reads them all
(`phones_for_macs`: one statement for up to `max_batch` MACs). Alone, a miss is read at
once, as before. At most `readers` reads are in flight (the connections the file server
leases); the records are kept in the cache under the generation they were read at, as a
single read does (`PhoneRecords.put`).
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from db import provisioning as prov_db
from provisioning.fileserver.lease import ConnectionLease
from provisioning.fileserver.records import Entry, PhoneRecords

# A read the database does not answer in this time fails (the fetch gets 503 + Retry-After)
# rather than waiting out the pool's 30 s command timeout, long past the phone's own
# time-out (a network partition to PostgreSQL: nothing refused, nothing answered).
READ_TIMEOUT = 5.0


class BatchedRecordReader:
    def __init__(
        self,
        records: PhoneRecords,
        lease: ConnectionLease,
        *,
        readers: int = 2,
        max_batch: int = 200,
    ) -> None:
        self._records = records
        self._lease = lease
        self._readers = max(1, readers)
        self._max_batch = max_batch
        self._pending: dict[str, list[asyncio.Future[Entry]]] = {}
        self._running: set[asyncio.Task[None]] = set()
        self.reads = 0  # queries made (tests, benchmarks)

    async def read(self, mac: str) -> Entry:
        """The MAC's records, read from the database (with whatever else is waiting)."""
        future: asyncio.Future[Entry] = asyncio.get_running_loop().create_future()
        self._pending.setdefault(mac, []).append(future)
        if len(self._running) < self._readers:
            task = asyncio.ensure_future(self._drain())
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        return await future

    async def _drain(self) -> None:
        while self._pending:
            macs = list(itertools.islice(self._pending, self._max_batch))
            batch = {mac: self._pending.pop(mac) for mac in macs}
            token = self._records.generation
            try:
                async with self._lease.connection() as conn:
                    found = await prov_db.phones_for_macs(conn, macs, timeout=READ_TIMEOUT)
            except Exception as exc:  # every fetch of the batch sees the failure
                _fail(batch, exc)
                continue
            finally:
                self.reads += 1
            for mac, waiters in batch.items():
                entry = self._records.put(mac, found.get(mac, ()), token=token)
                for future in waiters:
                    if not future.done():  # a fetch whose client went away is cancelled
                        future.set_result(entry)


def _fail(batch: dict[str, list[asyncio.Future[Any]]], exc: Exception) -> None:
    for waiters in batch.values():
        for future in waiters:
            if not future.done():
                future.set_exception(exc)
