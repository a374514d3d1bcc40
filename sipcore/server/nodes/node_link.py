"""What one node of several sharing a database (hosts, or worker processes of one host)
needs from the others: forgetting a binding another node took over, and check-sync for a
phone whose flow another node holds.

- Binding moved: a phone's REGISTER reached another node (NAT rebinding, or the kernel
  handed the new source port to another worker); that node upserted the row with its
  own node id, and the trigger of migration 0010 notifies `sipfleet_binding_moved` (with
  the contact and Call-ID, or their MD5 hashes when they are too long for a payload). The
  node that held the binding drops it from memory at once — without writing (the row is
  the new node's) and without announcing the phone offline (it is online, elsewhere) —
  so it neither probes that flow any more nor expires the row under the new node.
- check-sync: only the node holding a binding can send over its flow (a TCP connection
  or the NAT mapping of a UDP source port). `check_sync` asks the database which node
  holds each contact, sends locally what is ours and asks the others over
  `sipfleet_node_request`; each answers on `sipfleet_node_reply` with its contacts'
  outcomes. Contacts of a node that does not answer in time are reported as "timeout".
  The flows of one outbound instance (RFC 5626) held by several nodes are one device: only
  the node of its newest flow sends to it (the others are told to skip the instance), so
  the phone gets one NOTIFY; that node tries its own other flows if the newest is dead.
- Adoption: a node id no longer running (a host restarted with fewer workers) leaves
  bindings nobody loads; `adopt` moves them to this node and into its memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import logging
import secrets
from collections.abc import Awaitable, Sequence
from typing import Any, Protocol

import asyncpg

from db import node_requests as queries
from db.errors import DB_ERRORS
from sipcore.location import Binding
from sipcore.server.context import ContactOutcome
from sipcore.server.registrar.binding_rows import binding_of
from sipcore.server.registrar.bindings import BindingTable
from sipcore.server.registrar.check_sync import CHECK_SYNC_TIMEOUT


class LocalCheckSync(Protocol):
    """NOTIFY check-sync to the phone's devices this node holds (`SipService.check_sync`)."""

    def __call__(
        self, phone_id: str, *, reboot: bool, skip_instances: frozenset[str] = ...
    ) -> Awaitable[list[ContactOutcome]]: ...


log = logging.getLogger(__name__)

REPLY_MARGIN = 2.0  # seconds beyond the remote node's own check-sync timeout
WATCH_INTERVAL = 5.0  # how often the LISTEN connection is checked (and replaced if lost)
MAX_REPLY_CONTACTS = 20  # a reply must fit one NOTIFY payload
_DB_ERRORS = DB_ERRORS


class NodeLink:
    """One per SIP service; `start` before use, `stop` at shutdown."""

    def __init__(
        self,
        bindings: BindingTable,
        local_check_sync: LocalCheckSync,
        pool: asyncpg.Pool[Any],
        node: str,
    ) -> None:
        self.bindings = bindings
        self._local_check_sync = local_check_sync
        self.pool = pool
        self.node = node
        self.moved = 0  # bindings dropped because another node took them over
        self._conn: Any = None
        self._pending: dict[str, asyncio.Future[list[ContactOutcome]]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._watch: asyncio.Task[None] | None = None

    # --- life cycle -------------------------------------------------------------------

    async def start(self) -> None:
        await self._listen()
        self._watch = asyncio.get_running_loop().create_task(self._watch_forever())

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for future in self._pending.values():
            future.cancel()
        self._pending.clear()
        await self._unlisten()

    async def _listen(self) -> None:
        conn = await queries.listen_connection(self.pool)
        try:
            await conn.add_listener(queries.BINDING_MOVED_CHANNEL, self._on_moved)
            await conn.add_listener(queries.REQUEST_CHANNEL, self._on_request)
            await conn.add_listener(queries.REPLY_CHANNEL, self._on_reply)
        except BaseException:
            await conn.close()
            raise
        self._conn = conn

    async def _unlisten(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        with contextlib.suppress(*_DB_ERRORS):
            await conn.close(timeout=2)

    async def _watch_forever(self) -> None:
        """LISTEN again on a fresh connection if the database dropped ours (moves notified
        meanwhile are missed: those bindings expire or are re-registered as usual)."""
        while True:
            await asyncio.sleep(WATCH_INTERVAL)
            if self._conn is not None and not self._conn.is_closed():
                continue
            await self._unlisten()
            try:
                await self._listen()
            except _DB_ERRORS as exc:
                log.warning("node link: LISTEN failed, retrying: %s", exc)
            else:
                log.warning("node link: LISTEN re-established")

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- a binding moved to another node ----------------------------------------------

    def _on_moved(self, conn: Any, pid: int, channel: str, payload: str) -> None:
        try:
            data = json.loads(payload)
            if data.get("old") != self.node:
                return
            phone_id, cseq = str(data["phone"]), int(data.get("cseq") or 0)
            if "contact" in data:
                current = self.bindings.location.binding(phone_id, str(data["contact"]))
                same_call = current is not None and current.call_id == data.get("callId")
            else:  # too long for a payload: named by their hashes (migration 0015)
                current = _by_hash(self.bindings.location.bindings_of(phone_id), data["contactMd5"])
                same_call = current is not None and _md5(current.call_id) == data["callIdMd5"]
        except (ValueError, KeyError, TypeError):
            log.warning("node link: unreadable binding-moved notification")
            return
        if current is None:
            return
        if same_call and current.cseq > cseq:
            return  # the phone came back here since: ours is the newer registration
        self.forget(current)

    def forget(self, binding: Binding) -> None:
        """Drop a binding from memory only: no write, no offline announcement."""
        self.bindings.forget(binding)
        self.moved += 1
        log.debug(
            "binding moved to another node", extra={"phone": binding.phone_id, "node": self.node}
        )

    # --- adopting the bindings of node ids no longer running ---------------------------

    async def adopt(self, prefix: str, running: Sequence[str]) -> int:
        """Take over the bindings of node ids starting with `prefix` not in `running`."""
        async with self.pool.acquire() as conn:
            stored = await queries.adopt_bindings(conn, self.node, prefix, running)
        for item in stored:
            binding = dataclasses.replace(binding_of(item), node=self.node)
            self.bindings.apply(item.phone_id, None, (binding,), ())
        if stored:
            log.info("adopted %d bindings of node ids no longer running", len(stored))
        return len(stored)

    # --- check-sync across nodes ------------------------------------------------------

    async def check_sync(self, phone_id: str, *, reboot: bool) -> list[ContactOutcome]:
        """NOTIFY check-sync to every registered contact of the phone, whichever node of
        this database holds it; same answer shape as `SipService.check_sync`."""
        try:
            async with self.pool.acquire() as conn:
                held = await queries.phone_binding_nodes(conn, phone_id)
        except _DB_ERRORS as exc:
            log.warning("check-sync: bindings not readable, sending locally only: %s", exc)
            held = []
        owner = instance_owners(held)
        others: dict[str, list[queries.HeldBinding]] = {}
        for item in held:
            if item.node is None or item.node == self.node:
                continue
            if item.instance_id is None or owner.get(item.instance_id, item.node) == item.node:
                others.setdefault(item.node, []).append(item)
        skip_here = frozenset(key for key, node in owner.items() if node != self.node)
        local = self._local_check_sync(phone_id, reboot=reboot, skip_instances=skip_here)
        asks = [
            self._ask(node, phone_id, reboot, items, [k for k, n in owner.items() if n != node])
            for node, items in others.items()
        ]
        results = await asyncio.gather(local, *asks)
        mine = results[0]
        seen = {item.contact for item in mine}
        out = list(mine)
        for remote in results[1:]:
            out.extend(item for item in remote if item.contact not in seen)
        return out

    async def _ask(
        self,
        node: str,
        phone_id: str,
        reboot: bool,
        held: list[queries.HeldBinding],
        skip: list[str],
    ) -> list[ContactOutcome]:
        request_id = secrets.token_hex(8)
        future: asyncio.Future[list[ContactOutcome]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        message: dict[str, Any] = {
            "id": request_id, "node": node, "phone": phone_id, "reboot": reboot,
        }  # fmt: skip
        if skip:
            message["skip"] = skip
        try:
            async with self.pool.acquire() as conn:
                await queries.notify(conn, queries.REQUEST_CHANNEL, message)
            return await asyncio.wait_for(future, CHECK_SYNC_TIMEOUT + REPLY_MARGIN)
        except (TimeoutError, *_DB_ERRORS):
            log.warning("check-sync: node %s did not answer", node, extra={"phone": phone_id})
            return [
                ContactOutcome(
                    contact=item.contact, transport=item.transport, status=None, outcome="timeout"
                )
                for item in held
            ]
        finally:
            self._pending.pop(request_id, None)

    def _on_request(self, conn: Any, pid: int, channel: str, payload: str) -> None:
        try:
            data = json.loads(payload)
            if data.get("node") != self.node:
                return
            request_id, phone_id, reboot = str(data["id"]), str(data["phone"]), bool(data["reboot"])
            skip = frozenset(str(item) for item in data.get("skip") or ())
        except (ValueError, KeyError, TypeError):
            log.warning("node link: unreadable node request")
            return
        self._spawn(self._answer(request_id, phone_id, reboot, skip))

    async def _answer(
        self, request_id: str, phone_id: str, reboot: bool, skip: frozenset[str]
    ) -> None:
        outcomes = await self._local_check_sync(phone_id, reboot=reboot, skip_instances=skip)
        contacts = [dataclasses.asdict(item) for item in outcomes[:MAX_REPLY_CONTACTS]]
        for item in contacts:
            item["outcome"] = str(item["outcome"])[:200]
        try:
            async with self.pool.acquire() as conn:
                await queries.notify(
                    conn, queries.REPLY_CHANNEL, {"id": request_id, "contacts": contacts}
                )
        except (ValueError, *_DB_ERRORS) as exc:
            log.warning("check-sync: answer to another node not sent: %s", exc)

    def _on_reply(self, conn: Any, pid: int, channel: str, payload: str) -> None:
        try:
            data = json.loads(payload)
            future = self._pending.get(str(data.get("id")))
            if future is None or future.done():
                return
            outcomes = [ContactOutcome(**item) for item in data["contacts"]]
        except (ValueError, KeyError, TypeError):
            log.warning("node link: unreadable node reply")
            return
        future.set_result(outcomes)


def instance_owners(held: Sequence[queries.HeldBinding]) -> dict[str, str | None]:
    """For each outbound instance among a phone's bindings, the node holding its newest
    flow (latest expiry): the one node that sends it check-sync."""
    newest: dict[str, queries.HeldBinding] = {}
    for item in held:
        if item.instance_id is None or item.reg_id is None:
            continue
        best = newest.get(item.instance_id)
        if best is None or _expiry(item) > _expiry(best):
            newest[item.instance_id] = item
    return {key: item.node for key, item in newest.items()}


def _expiry(item: queries.HeldBinding) -> float:
    return item.expires_at.timestamp() if item.expires_at is not None else 0.0


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def _by_hash(bindings: list[Binding], contact_md5: object) -> Binding | None:
    """The binding whose contact has this MD5 (PostgreSQL's md5() of the text)."""
    for binding in bindings:
        if _md5(binding.contact) == contact_md5:
            return binding
    return None
