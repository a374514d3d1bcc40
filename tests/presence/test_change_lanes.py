"""The presence change's fast lane equals the locking path, on the real database.

`StateSync.change` of a watched extension first tries one compare-and-set round trip
(`_change_fast`: apply to the state in memory, store if the stored sequence is still
ours); `changes.commit_change` locks the row and applies to what is stored. Two
extensions get the same long random sequence of changes — one through `StateSync.change`
(watched, so the fast lane), the other through `commit_change` only — and after every
change both give the same answer (a new state or None) and store the same state with the
same sequence number."""

from __future__ import annotations

import random
from typing import Any

import asyncpg

from db import presence as pdb
from sipcore.presence.dialog_info import DIALOG_STATES, DIRECTIONS, Dialog
from sipcore.presence.mwi import Voicemail
from sipcore.presence.pidf import PresenceDoc
from sipcore.presence.state import (
    CallUpdate,
    Change,
    ExtensionState,
    SetOnline,
    SetPresence,
    SetVoicemail,
    state_from_json,
)
from sipcore.server.presence.changes import commit_change
from sipcore.server.presence.model import Watched
from sipcore.server.presence.sync import StateSync
from sipcore.server.presence.table import SubscriptionTable
from sipcore.server.presence.tasks import Tasks
from tests.support import factories


class StatesApplied:
    """The notifier's part the sync uses: a new state replaces the watched one."""

    def __init__(self, table: SubscriptionTable) -> None:
        self.table = table

    def apply_state(self, state: ExtensionState) -> None:
        watched = self.table.watched.get(state.extension_id)
        if watched is not None:
            watched.state = state


def random_change(rng: random.Random) -> Change:
    kind = rng.randrange(4)
    if kind == 0:
        return SetOnline(online=rng.random() < 0.6)
    if kind == 1:
        call_id = rng.choice([None, "c1", "c2", "c3"])
        return CallUpdate(
            dialog=Dialog(
                id=call_id or "line",
                state=rng.choice(DIALOG_STATES),
                direction=rng.choice([None, *DIRECTIONS]),
                call_id=call_id,
                remote=rng.choice([None, "sip:200@example.com"]),
            )
        )
    if kind == 2:
        presence = None
        if rng.random() < 0.7:
            presence = PresenceDoc(
                basic=rng.choice(["open", "closed"]),
                note=rng.choice([None, "lunch"]),
                dnd=rng.random() < 0.3,
            )
        return SetPresence(presence=presence)
    return SetVoicemail(voicemail=Voicemail(new=rng.randrange(3), old=rng.randrange(3)))


async def stored(pool: asyncpg.Pool[Any], extension_id: str) -> tuple[int, Any]:
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT seq, state FROM presence_state WHERE extension_id = $1", extension_id
        )
    assert row is not None
    return row["seq"], row["state"]


def without_id(state: ExtensionState | None) -> Any:
    return None if state is None else (state.seq, state.online, state.calls, state.ended,
                                       state.ended_ids, state.presence, state.voicemail)  # fmt: skip


async def test_fast_lane_equals_the_locking_path(pool: asyncpg.Pool[Any]) -> None:
    async with pool.acquire() as conn:
        customer = await factories.customer(conn)
        refs = []
        for number in ("201", "202"):
            extension_id = await factories.extension(conn, customer, number)
            found = await pdb.extension_by_id(conn, extension_id)
            assert found is not None
            refs.append(found)
    watched_ref, plain_ref = refs
    table = SubscriptionTable(max_per_phone=10, max_per_resource=10)
    applied = StatesApplied(table)
    tasks = Tasks()
    sync = StateSync(pool=pool, table=table, notifier=applied, tasks=tasks)  # type: ignore[arg-type]

    first: list[ExtensionState] = []
    for ref in refs:  # both rows created the same way, then one is watched
        async with pool.acquire() as conn, conn.transaction():
            state = await commit_change(conn, ref, SetOnline(online=False))
        assert state is None or state.seq >= 0
        first.append(state or ExtensionState(extension_id=ref.id))
    seq, state_json = await stored(pool, watched_ref.id)
    table.watched[watched_ref.id] = Watched(
        number=watched_ref.number,
        customer_id=customer,
        state=state_from_json(watched_ref.id, seq, state_json),
    )
    fast_answers = 0
    change_fast = sync._change_fast

    async def counted(*args: Any) -> ExtensionState | None:
        nonlocal fast_answers
        answer = await change_fast(*args)
        fast_answers += answer is not None
        return answer

    sync._change_fast = counted  # type: ignore[method-assign]

    rng = random.Random(20261207)
    for step in range(300):
        change = random_change(rng)
        fast = await sync.change(watched_ref, change)
        async with pool.acquire() as conn, conn.transaction():
            locked = await commit_change(conn, plain_ref, change)
        assert without_id(fast) == without_id(locked), (step, change)
        assert await stored(pool, watched_ref.id) == await stored(pool, plain_ref.id), step
    assert fast_answers > 50  # the lane was taken, not just its fall-back
    await tasks.stop(5.0)
