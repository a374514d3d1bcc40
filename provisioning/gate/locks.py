"""The first-contact locks of OPEN phones, committed in groups.

A fleet that boots after a power cut locks every phone at once: each first REGISTER or
fetch of an OPEN phone switches it to LOCKED on its address, and the answer waits for
that commit (so of two racing addresses exactly one wins). One transaction per phone
made the database's commit rate, and the pool's connections, the limit of a boot storm.
Here every lock asked for while the previous group commits goes into the next group: one
transaction locks them all (`db.ip_policy.lock_open_phones`) and records their
`phone.ip_locked` events, so the commits per second stay few however many phones arrive.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import asyncpg

from db.ip_policy import lock_open_phones
from db.phone_status import EventWrite, append_events


@dataclass(frozen=True, slots=True, kw_only=True)
class LockRequest:
    phone_id: str
    address: str
    event: EventWrite  # `phone.ip_locked`, recorded only when this request locks


class LockWriter:
    """`await lock(request)`: the phone's new version when this request locked it, None
    when the phone was not OPEN any more (or another request for it in the same group
    won): re-read its policy and decide again. Raises the database's error."""

    def __init__(self, pool: asyncpg.Pool[Any]) -> None:
        self._pool = pool
        self._queued: list[tuple[LockRequest, asyncio.Future[int | None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def lock(self, request: LockRequest) -> int | None:
        future: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._queued.append((request, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # the rest of this turn's requests join the group
        while self._queued:
            group, self._queued = self._queued, []
            try:
                versions = await self._commit(group)
            except Exception as exc:
                for _, future in group:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for request, future in group:
                if not future.done():
                    future.set_result(versions.pop(request.phone_id, None))

    async def _commit(
        self, group: list[tuple[LockRequest, asyncio.Future[int | None]]]
    ) -> dict[str, int]:
        first: dict[str, LockRequest] = {}
        for request, _ in group:
            first.setdefault(request.phone_id, request)  # later ones re-read and decide
        async with self._pool.acquire() as conn, conn.transaction():
            versions = await lock_open_phones(
                conn, {phone_id: item.address for phone_id, item in first.items()}
            )
            await append_events(conn, [first[phone_id].event for phone_id in versions])
        return versions
