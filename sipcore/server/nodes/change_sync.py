"""Read-your-writes for in-memory phone state: change barriers over LISTEN/NOTIFY.

The SIP directory and the file server's records are copies of PostgreSQL rows, kept
current by notifications. A notification arrives a moment after the writing transaction
commits, so without more an API call could answer "done" while a worker still decides
by the old row: a new phone's first REGISTER refused as an unknown user, a reset
password still accepted, a deleted phone still fetching its file.

A barrier closes that window. After its change commits, the writer (`ChangeBarrier`)
lists the members connected now (`db.change_sync.members`: every node on the database),
sends a barrier request on `sipfleet_sync`, and waits until each member acknowledged it.
PostgreSQL delivers a session's notifications in commit order, so a member
(`SyncMember`) sees the change before the request, and it acknowledges only once it has
applied everything received before it. A member that joins later loaded its state after
the change. A member that cannot answer (a node stuck or partitioned from the database)
makes the writer give up after `timeout` seconds and say so in the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable
from typing import Any

import asyncpg

from db import change_sync
from db.errors import DB_ERRORS

log = logging.getLogger(__name__)

_DB_ERRORS = DB_ERRORS
# tokens per acknowledgement: a NOTIFY payload holds at most 8,000 bytes
_TOKENS_PER_ACK = 400


class SyncMember:
    """The barrier side of one in-memory copy: `busy()` says whether changes received
    are still being applied; the owner calls `settled()` when it has caught up."""

    def __init__(self, pool: asyncpg.Pool[Any], kind: str, busy: Callable[[], bool]) -> None:
        self._pool = pool
        self.name = f"{kind}-{secrets.token_hex(6)}"
        self._busy = busy
        self._tokens: list[str] = []  # requests received, not yet known to be applied
        self._ready: list[str] = []  # requests to acknowledge
        self._flush: asyncio.Task[None] | None = None

    async def join(self, conn: asyncpg.Connection[Any]) -> None:
        """Listen for barrier requests on `conn`, the owner's listening connection (after
        its own LISTENs, so nothing it must apply can come after a request it answers)."""
        await conn.add_listener(change_sync.SYNC_CHANNEL, self._requested)
        await change_sync.join(conn, self.name)

    async def leave(self, conn: asyncpg.Connection[Any]) -> None:
        with contextlib.suppress(*_DB_ERRORS):
            await conn.remove_listener(change_sync.SYNC_CHANNEL, self._requested)
        if self._flush is not None:
            self._flush.cancel()

    def _requested(self, _conn: Any, _pid: int, _channel: str, token: str) -> None:
        self._tokens.append(token)
        if not self._busy():
            self.settled()

    def settled(self) -> None:
        """Everything received so far is applied: acknowledge the requests received so
        far (not those that arrive while the acknowledgement is on its way: changes
        received with them may still be being applied)."""
        if not self._tokens:
            return
        self._ready.extend(self._tokens)
        self._tokens.clear()
        if self._flush is None or self._flush.done():
            self._flush = asyncio.get_running_loop().create_task(self._acknowledge())

    async def _acknowledge(self) -> None:
        while self._ready:
            tokens = self._ready[:_TOKENS_PER_ACK]
            del self._ready[:_TOKENS_PER_ACK]
            try:
                async with self._pool.acquire() as conn:
                    await change_sync.acknowledge(conn, self.name, tokens)
            except _DB_ERRORS as exc:  # the writer times out and says so
                log.warning("cannot acknowledge %d change barriers: %s", len(tokens), exc)


class _Waiting:
    __slots__ = ("done", "expected")

    def __init__(self, expected: set[str]) -> None:
        self.expected = expected
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()


class ChangeBarrier:
    """The writer's side: `await wait()` after a commit returns once every member of
    every node has applied it (True), or after `timeout` seconds (False, logged).

    The acknowledgements arrive on a listening connection; when the database drops it
    (a restart, a fail-over) the next `wait` listens again on a new one first."""

    def __init__(self, pool: asyncpg.Pool[Any], *, timeout: float = 2.0) -> None:
        self._pool = pool
        self.timeout = timeout
        self._started = False
        self._listener: asyncpg.Connection[Any] | None = None
        self._listening = asyncio.Lock()
        self._waiting: dict[str, _Waiting] = {}

    async def start(self) -> None:
        await self._listen()
        self._started = True

    async def _listen(self) -> None:
        conn = await self._pool.acquire()
        try:
            await conn.add_listener(change_sync.SYNC_ACK_CHANNEL, self._acknowledged)
            conn.add_termination_listener(self._lost)
        except BaseException:
            with contextlib.suppress(*_DB_ERRORS):
                await self._pool.release(conn)
            raise
        self._listener = conn

    def _lost(self, conn: Any) -> None:
        if self._listener is conn:
            self._listener = None
            log.warning("change barriers: acknowledgement connection lost; listening again "
                        "on the next change")  # fmt: skip

    async def stop(self) -> None:
        self._started = False
        for waiting in self._waiting.values():
            if not waiting.done.done():
                waiting.done.set_result(None)
        if self._listener is not None:
            conn, self._listener = self._listener, None
            conn.remove_termination_listener(self._lost)
            with contextlib.suppress(*_DB_ERRORS):
                await conn.remove_listener(change_sync.SYNC_ACK_CHANNEL, self._acknowledged)
            with contextlib.suppress(*_DB_ERRORS):
                await self._pool.release(conn)

    def _acknowledged(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        member, *tokens = payload.split(" ")
        for token in tokens:
            waiting = self._waiting.get(token)
            if waiting is None:
                continue
            waiting.expected.discard(member)
            if not waiting.expected and not waiting.done.done():
                waiting.done.set_result(None)

    async def wait(self) -> bool:
        if not self._started:
            return True  # not started (a test app without the component)
        if self._listener is None:
            async with self._listening:
                try:
                    if self._listener is None:
                        await self._listen()
                        log.warning("change barriers: listening again")
                except _DB_ERRORS as exc:
                    log.warning("change barrier not sent: %s", exc)
                    return False
        token = secrets.token_hex(8)
        try:
            async with self._pool.acquire() as conn:
                expected = await change_sync.members(conn)
                if not expected:
                    return True
                waiting = self._waiting[token] = _Waiting(expected)
                await change_sync.request(conn, token)
        except _DB_ERRORS as exc:
            self._waiting.pop(token, None)
            log.warning("change barrier not sent: %s", exc)
            return False
        try:
            await asyncio.wait_for(asyncio.shield(waiting.done), self.timeout)
            return True
        except TimeoutError:
            log.warning(
                "change not confirmed within %.1f s by %d in-memory copies: %s",
                self.timeout,
                len(waiting.expected),
                ", ".join(sorted(waiting.expected)),
            )
            return False
        finally:
            self._waiting.pop(token, None)
