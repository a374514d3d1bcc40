"""How bindings begin on this node other than by REGISTER, and how they end.

- `load`: after a start (or crash) the bindings this node holds are read back from
  PostgreSQL.
- `tick`: expired bindings are removed and written (`phone.expired`), and every
  ORPHAN_SWEEP_INTERVAL seconds bindings no live node expired (their node is gone) are
  removed from PostgreSQL.
- `revoke_phone`: credentials changed or the phone was deleted — every binding goes at
  once.
- `connection_closed` / `flow_failed`: an RFC 5626 outbound flow straight from the phone
  that dies (its connection closed, or the keep-alive found it dead) takes its bindings
  with it (`phone.unreachable`); requests to the instance then take its other flows.

Every change goes through the `BindingTable` (flows, probe history, announcements) and
the write-behind queue.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import asyncpg

from db import bindings as binding_queries
from db import phone_status as status_queries
from db.phone_status import EventWrite, StatusWrite
from sipcore import metrics
from sipcore.location import Binding
from sipcore.server.registrar.binding_rows import binding_of, event_row, status_row, utc
from sipcore.server.registrar.bindings import BindingTable, Flow
from sipcore.server.registrar.writer import WriteBehind, WriteFailed, WriteJob
from sipcore.server.transport.connections import Connection

log = logging.getLogger(__name__)

ORPHAN_SWEEP_INTERVAL = 30.0
ORPHAN_GRACE = 30.0  # the owning node's own sweeper goes first


class BindingLifecycle:
    """Loading, expiry, orphan sweep, revocation and dead flows of this node's bindings."""

    def __init__(
        self, pool: asyncpg.Pool[Any], node_id: str, table: BindingTable, writer: WriteBehind
    ) -> None:
        self._pool = pool
        self._node_id = node_id
        self._table = table
        self._writer = writer
        self._next_orphan_sweep = 0.0
        self._tasks: set[asyncio.Task[None]] = set()

    async def load(self) -> None:
        """Bindings from PostgreSQL (after a restart or crash) back into memory."""
        loaded = 0
        async with self._pool.acquire() as conn:
            async for page in binding_queries.load_binding_pages(conn, self._node_id or None):
                loaded += len(page)
                for item in page:
                    self._table.put(binding_of(item))
            await status_queries.offline_without_bindings(conn)
        log.info("bindings loaded: %d", loaded)

    # --- expiry ---------------------------------------------------------------------------

    async def tick(self, now: float) -> None:
        """Once per sweep interval: expire bindings, count them, sweep orphans."""
        expired = self._table.pop_expired(now)
        if expired:
            await self._expired(expired)
        self._table.count()
        if now >= self._next_orphan_sweep:
            self._next_orphan_sweep = now + ORPHAN_SWEEP_INTERVAL
            await self._sweep_orphans(now)

    async def _expired(self, expired: Sequence[Binding]) -> None:
        table = self._table
        by_phone: dict[str, list[Binding]] = {}
        for item in expired:
            by_phone.setdefault(item.phone_id, []).append(item)
        statuses: list[StatusWrite] = []
        events: list[EventWrite] = []
        for phone_id, items in by_phone.items():
            customer = table.customer_of(phone_id)
            events.extend(event_row("phone.expired", customer, item) for item in items)
            remaining = table.location.bindings_of(phone_id)
            statuses.append(status_row(phone_id, remaining, None, None))
        metrics.BINDINGS_EXPIRED.inc(len(expired))
        job = WriteJob(
            expirations=tuple((item.phone_id, item.contact) for item in expired),
            statuses=tuple(statuses),
            events=tuple(events),
        )
        try:
            await self._writer.submit(job)
        except WriteFailed:
            log.warning(
                "expiry of %d bindings not recorded; the database will catch up", len(expired)
            )
        table.announce_gone(expired)

    async def _sweep_orphans(self, now: float) -> None:
        """Bindings no live node expired (their node is gone): removed from PostgreSQL
        ORPHAN_GRACE seconds after expiry, with `phone.expired` and the status row."""
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                gone = await binding_queries.delete_expired_bindings(conn, utc(now - ORPHAN_GRACE))
                if not gone:
                    return
                phones = sorted({item.phone_id for item in gone})
                await status_queries.offline_if_unbound(conn, phones)
                events = [
                    event_row("phone.expired", self._table.customer_of(item.phone_id),
                              binding_of(item))
                    for item in gone
                ]  # fmt: skip
                await status_queries.append_events(conn, events)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("orphan binding sweep failed: %s", exc)
            return
        log.info("removed %d expired bindings of other or former nodes", len(gone))

    # --- revocation -------------------------------------------------------------------------

    def revoke_phone(self, phone_id: str) -> None:
        """Credentials changed or phone deleted: drop every binding at once."""
        removed = self._table.remove_phone(phone_id)
        status = status_row(phone_id, [], None, None)
        self._submit_later(WriteJob(drop_phones=(phone_id,), statuses=(status,)))
        log.info(
            "credentials changed or phone deleted: %d bindings dropped",
            len(removed),
            extra={"phone": phone_id},
        )

    # --- dead flows -------------------------------------------------------------------------

    def connection_closed(self, connection: Connection) -> None:
        """A stream closed: its bindings cannot be reached until they re-register; its
        outbound flows' bindings are dropped at once (RFC 5626 §6: requests to the
        instance then take its other flows)."""
        if self._table.connection_has_bindings(connection):
            log.info(
                "%s connection %s:%d with bindings closed", connection.transport, *connection.remote
            )
            self.flow_failed((connection.transport, *connection.remote))

    def flow_failed(self, flow: Flow) -> None:
        """The outbound bindings of a dead flow (a closed connection, a UDP flow the
        keep-alive found dead) are removed, recorded with `phone.unreachable`."""
        for phone_id, gone in self._table.take_outbound_flow(flow).items():
            self._drop(phone_id, gone)

    def _drop(self, phone_id: str, gone: list[Binding]) -> None:
        table = self._table
        customer = table.customer_of(phone_id)
        contacts = tuple(item.contact for item in gone)
        table.apply(phone_id, table.extension_of(phone_id), (), contacts)
        remaining = table.location.bindings_of(phone_id)
        job = WriteJob(  # as an expiry: only rows this node still holds (not one the
            # phone has since registered through another worker or node)
            expirations=tuple((phone_id, contact) for contact in contacts),
            statuses=(status_row(phone_id, remaining, None, None),),
            events=tuple(event_row("phone.unreachable", customer, item) for item in gone),
        )
        log.info("outbound flow failed: %d bindings dropped", len(gone), extra={"phone": phone_id})
        self._submit_later(job)

    def _submit_later(self, job: WriteJob) -> None:
        task = asyncio.get_running_loop().create_task(self._submit_quietly(job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _submit_quietly(self, job: WriteJob) -> None:
        try:
            await self._writer.submit(job)
        except WriteFailed:
            log.warning("could not record a binding change; it will be retried by expiry")
