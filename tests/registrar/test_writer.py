"""The group-commit writer against a real PostgreSQL: what a batch leaves in the tables,
in which order jobs apply, how a failed batch is reported and that the writer gives its
leased connection back (the `pool` fixture fails a test that leaves one acquired)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from db import bindings as binding_queries
from db import phone_status as status_queries
from db.bindings import StoredBinding
from db.phone_status import EventWrite, StatusWrite
from sipcore.server.registrar.writer import WriteBehind, WriteFailed, WriteJob
from tests.support.phones import new_phone

NODE = "node-a"
EXPIRES = datetime(2030, 1, 1, tzinfo=UTC)


def binding(phone_id: str, contact: str = "sip:a@10.0.0.1", **changes: Any) -> StoredBinding:
    values: dict[str, Any] = dict(
        phone_id=phone_id, contact=contact, call_id="c1@10.0.0.1", cseq=1, expires_at=EXPIRES,
        q=None, transport="udp", source_ip="10.0.0.1", source_port=5060,
        local_ip="192.168.1.2", user_agent="Phone/1.0", instance_id=None, reg_id=None,
        node=NODE,
    )  # fmt: skip
    values.update(changes)
    return StoredBinding(**values)


def status(phone_id: str, **changes: Any) -> StatusWrite:
    values: dict[str, Any] = dict(
        phone_id=phone_id, online=True, expires_at=EXPIRES, local_ip="192.168.1.2",
        public_ip="10.0.0.1", user_agent="Phone/1.0", transport="udp",
    )  # fmt: skip
    values.update(changes)
    return StatusWrite(**values)


async def stored(pool: asyncpg.Pool[Any], phone_id: str) -> dict[str, StoredBinding]:
    async with pool.acquire() as conn:
        return {item.contact: item for item in await binding_queries.phone_bindings(conn, phone_id)}


async def test_submit_nowait_resolves_once_committed(
    pool: asyncpg.Pool[Any], customer_id: str
) -> None:
    phone = await new_phone(pool, customer_id)
    writer = WriteBehind(pool, limit=100, node=NODE)
    writer.start()
    heard: list[str] = []

    def hear(*args: Any) -> None:
        heard.append(args[3])

    async with pool.acquire() as listener:
        await listener.add_listener("sipfleet_events", hear)
        try:
            event = EventWrite(
                type="phone.registered", phone_id=phone.id, customer_id=customer_id,
                details={"contact": "sip:a@10.0.0.1"},
            )  # fmt: skip
            future = writer.submit_nowait(
                WriteJob(
                    upserts=(binding(phone.id),), statuses=(status(phone.id),), events=(event,)
                )
            )
            await future
            assert (await stored(pool, phone.id))["sip:a@10.0.0.1"] == binding(phone.id)
            async with pool.acquire() as conn:
                row = await status_queries.phone_status(conn, phone.id)
                ids = [r["id"] for r in await conn.fetch("SELECT id FROM events WHERE type = $1", "phone.registered")]  # fmt: skip
            assert row is not None and row.online and row.expires_at == EXPIRES
            assert row.user_agent == "Phone/1.0" and row.public_ip == "10.0.0.1"
            assert len(ids) == 1
            while not heard:  # the notification arrives after the commit
                await asyncio.sleep(0.01)
            assert heard == [str(ids[0])]
        finally:
            await writer.stop()
            await listener.remove_listener("sipfleet_events", hear)


async def test_later_jobs_win_within_and_across_batches(
    pool: asyncpg.Pool[Any], customer_id: str
) -> None:
    phone = await new_phone(pool, customer_id)
    other = await new_phone(pool, customer_id)
    writer = WriteBehind(pool, limit=100, node=NODE)
    writer.start()
    try:
        await writer.submit(
            WriteJob(
                upserts=(
                    binding(phone.id, "sip:a@h"),
                    binding(phone.id, "sip:b@h"),
                    binding(other.id, "sip:x@h", node="node-b"),
                    binding(other.id, "sip:y@h"),
                ),
                statuses=(status(phone.id),),
            )
        )
        # queued together: they fold into one batch, applied in submission order
        futures = [
            writer.submit_nowait(WriteJob(upserts=(binding(phone.id, "sip:a@h", cseq=2),))),
            writer.submit_nowait(WriteJob(removals=((phone.id, "sip:b@h"),))),
            writer.submit_nowait(WriteJob(upserts=(binding(phone.id, "sip:a@h", cseq=3),))),
            # an expiry removes only what this node holds: x moved to node-b
            writer.submit_nowait(
                WriteJob(expirations=((other.id, "sip:x@h"), (other.id, "sip:y@h")))
            ),
            writer.submit_nowait(
                WriteJob(statuses=(status(phone.id, user_agent=None, local_ip=None),))
            ),
        ]
        await asyncio.gather(*futures)
        mine = await stored(pool, phone.id)
        assert list(mine) == ["sip:a@h"] and mine["sip:a@h"].cseq == 3
        assert list(await stored(pool, other.id)) == ["sip:x@h"]
        async with pool.acquire() as conn:
            row = await status_queries.phone_status(conn, phone.id)
        assert row is not None and row.user_agent == "Phone/1.0"  # None keeps the last known
        assert row.local_ip == "192.168.1.2"
        # a phone dropped then registered again in one batch keeps only the new binding
        futures = [
            writer.submit_nowait(WriteJob(drop_phones=(phone.id,))),
            writer.submit_nowait(WriteJob(upserts=(binding(phone.id, "sip:c@h"),))),
        ]
        await asyncio.gather(*futures)
        assert list(await stored(pool, phone.id)) == ["sip:c@h"]
    finally:
        await writer.stop()


async def test_refresh_rewrites_the_row_and_moves_the_expiry(
    pool: asyncpg.Pool[Any], customer_id: str
) -> None:
    phone = await new_phone(pool, customer_id)
    writer = WriteBehind(pool, limit=100, node=NODE)
    writer.start()
    try:
        later = EXPIRES + timedelta(hours=1)
        await writer.submit(WriteJob(upserts=(binding(phone.id),), statuses=(status(phone.id),)))
        for cseq in (2, 3):
            await writer.submit(
                WriteJob(
                    upserts=(binding(phone.id, cseq=cseq, expires_at=later),),
                    statuses=(status(phone.id, expires_at=later),),
                )
            )
        # the phone moved to another port: the whole row follows
        moved = binding(phone.id, cseq=4, expires_at=later, source_port=5070, node="node-b")
        await writer.submit(WriteJob(upserts=(moved,), statuses=(status(phone.id),)))
        assert (await stored(pool, phone.id))["sip:a@10.0.0.1"] == moved
        async with pool.acquire() as conn:
            row = await status_queries.phone_status(conn, phone.id)
        assert row is not None and row.expires_at == EXPIRES
    finally:
        await writer.stop()


async def test_a_refused_row_fails_its_own_request_only(
    pool: asyncpg.Pool[Any], customer_id: str
) -> None:
    """A batch of good requests with bad ones among them — a CSeq out of the column's
    range (refused by asyncpg's encoder) and a NUL character in a User-Agent (refused by
    PostgreSQL itself): the good ones commit, each bad one fails alone as rejected, and
    the writer goes on."""
    phones = [await new_phone(pool, customer_id) for _ in range(6)]
    writer = WriteBehind(pool, limit=100, node=NODE)
    writer.start()
    try:
        bad = {1: {"cseq": 2**40}, 4: {"user_agent": "Phone\x00/1.0"}}
        futures = [
            writer.submit_nowait(
                WriteJob(
                    upserts=(binding(phone.id, "sip:a@h", **bad.get(n, {})),),
                    statuses=(status(phone.id),),
                )
            )
            for n, phone in enumerate(phones)
        ]
        outcomes = await asyncio.gather(*futures, return_exceptions=True)
        for n, outcome in enumerate(outcomes):
            if n in bad:
                assert isinstance(outcome, WriteFailed) and outcome.rejected, outcome
                assert await stored(pool, phones[n].id) == {}
            else:
                assert outcome is None, outcome
                assert list(await stored(pool, phones[n].id)) == ["sip:a@h"]
        await writer.submit(WriteJob(upserts=(binding(phones[1].id, "sip:a@h"),)))
        assert list(await stored(pool, phones[1].id)) == ["sip:a@h"]
        assert writer.pending == 0
    finally:
        await writer.stop()


async def test_stop_writes_what_is_queued(pool: asyncpg.Pool[Any], customer_id: str) -> None:
    phones = [await new_phone(pool, customer_id) for _ in range(3)]
    writer = WriteBehind(pool, limit=100, node=NODE, max_batch=1)
    writer.start()
    futures = [writer.submit_nowait(WriteJob(upserts=(binding(p.id),))) for p in phones]
    await writer.stop()
    assert all(future.done() and future.exception() is None for future in futures)
    for phone in phones:
        assert list(await stored(pool, phone.id)) == ["sip:a@10.0.0.1"]


async def test_a_refresh_is_narrow_only_while_the_row_is_as_we_wrote_it(
    pool: asyncpg.Pool[Any], customer_id: str
) -> None:
    phone = await new_phone(pool, customer_id)
    first = binding(phone.id)
    later = EXPIRES + timedelta(hours=1)
    refreshed = binding(phone.id, cseq=2, expires_at=later)
    async with pool.acquire() as conn:
        # nothing to refresh yet: handed back for a whole-row write
        assert (await binding_queries.write_batch(conn, refreshes=[first])).bindings == [first]
        assert (await binding_queries.write_batch(conn, upserts=[first])).bindings == []
        assert (await binding_queries.write_batch(conn, refreshes=[refreshed])).bindings == []
        assert (await binding_queries.phone_bindings(conn, phone.id)) == [refreshed]
        # a new Call-ID (SIPp, some phones): still a refresh, the row takes it
        recalled = binding(phone.id, call_id="c2@10.0.0.1", cseq=1, expires_at=later)
        assert (await binding_queries.write_batch(conn, refreshes=[recalled])).bindings == []
        assert (await binding_queries.phone_bindings(conn, phone.id)) == [recalled]
        # another column moved: not a refresh
        moved = binding(phone.id, cseq=3, expires_at=later, source_port=5070)
        assert (await binding_queries.write_batch(conn, refreshes=[moved])).bindings == [moved]
        # written by someone else (another node's upsert, the keep-alive flag) since
        await binding_queries.upsert_bindings(conn, [binding(phone.id, node="node-b", cseq=3)])
        assert (await binding_queries.write_batch(conn, refreshes=[refreshed])).bindings == [
            refreshed
        ]
        assert (await binding_queries.write_batch(conn, upserts=[first])).bindings == []
        await binding_queries.set_unreachable(conn, phone.id, first.contact, False)
        assert (await binding_queries.write_batch(conn, refreshes=[refreshed])).bindings == [
            refreshed
        ]


async def test_the_writer_falls_back_to_whole_rows_when_a_refresh_misses(
    pool: asyncpg.Pool[Any], customer_id: str
) -> None:
    phone = await new_phone(pool, customer_id)
    writer = WriteBehind(pool, limit=100, node=NODE)
    writer.start()
    try:
        await writer.submit(WriteJob(upserts=(binding(phone.id),)))
        # another node took the binding, then it comes back here unchanged
        async with pool.acquire() as conn:
            await binding_queries.upsert_bindings(conn, [binding(phone.id, node="node-b")])
        back = binding(phone.id, cseq=5)
        await writer.submit(WriteJob(upserts=(back,)))
        assert (await stored(pool, phone.id))[back.contact] == back
        # deleted behind the writer's back (another node's orphan sweep): written again
        async with pool.acquire() as conn:
            await binding_queries.delete_phone_bindings(conn, phone.id)
        again = binding(phone.id, cseq=6)
        await writer.submit(WriteJob(upserts=(again,), statuses=(status(phone.id),)))
        assert (await stored(pool, phone.id))[again.contact] == again
    finally:
        await writer.stop()


async def test_a_status_refresh_moves_the_expiry_only_while_the_row_is_ours(
    pool: asyncpg.Pool[Any], customer_id: str
) -> None:
    phone = await new_phone(pool, customer_id)
    later = EXPIRES + timedelta(hours=1)
    async with pool.acquire() as conn:
        first = status(phone.id)
        assert status_queries.status_shape(first) is not None
        assert status_queries.status_shape(status(phone.id, user_agent=None)) is None
        assert (await binding_queries.write_batch(conn, status_refreshes=[first])).statuses == [
            first
        ]
        assert not await binding_queries.write_batch(conn, statuses=[first])
        moved = status(phone.id, expires_at=later)
        assert not await binding_queries.write_batch(conn, status_refreshes=[moved])
        row = await status_queries.phone_status(conn, phone.id)
        assert row is not None and row.expires_at == later and row.online
        # gone offline since (the expiry sweep, the API): the refresh is a whole write
        await status_queries.offline_if_unbound(conn, [phone.id])
        missed = await binding_queries.write_batch(conn, status_refreshes=[moved])
        assert missed.statuses == [moved]
        await status_queries.upsert_status(
            conn, phone_id=phone.id, online=True, expires_at=later, local_ip=None,
            public_ip=None, user_agent="Other/2", transport=None,
        )  # fmt: skip
        assert (await binding_queries.write_batch(conn, status_refreshes=[moved])).statuses
    writer = WriteBehind(pool, limit=100, node=NODE)
    writer.start()
    try:  # through the writer: the missed refresh is written whole
        await writer.submit(WriteJob(statuses=(moved,)))
        async with pool.acquire() as conn:
            row = await status_queries.phone_status(conn, phone.id)
        assert row is not None and row.user_agent == "Phone/1.0" and row.expires_at == later
    finally:
        await writer.stop()


async def test_submit_then_is_told_the_outcome_in_submission_order(
    pool: asyncpg.Pool[Any], customer_id: str
) -> None:
    """The registrar's path: callbacks run after the commit (the rows are there when they
    run), in order, with None; a request whose row the database refuses is told
    WriteFailed while the rest of its batch commits; a callback that raises does not stop
    the others or the writer."""
    phone = await new_phone(pool, customer_id)
    writer = WriteBehind(pool, limit=100, node=NODE)
    writer.start()
    told: list[tuple[str, WriteFailed | None]] = []
    done = asyncio.Event()

    def then(name: str, last: bool) -> Any:
        def record(failure: WriteFailed | None) -> None:
            told.append((name, failure))
            if last:
                done.set()
            if name == "raises":
                raise RuntimeError("a broken callback")

        return record

    try:
        writer.submit_then(WriteJob(upserts=(binding(phone.id, "sip:a@h"),)), then("a", False))
        writer.submit_then(WriteJob(upserts=(binding(phone.id, "sip:b@h"),)), then("raises", False))
        writer.submit_then(WriteJob(upserts=(binding(phone.id, "sip:c@h"),)), then("c", True))
        await asyncio.wait_for(done.wait(), 10)
        assert told == [
            ("a", None),
            ("raises", None),
            ("c", None),
        ]
        assert sorted(await stored(pool, phone.id)) == ["sip:a@h", "sip:b@h", "sip:c@h"]

        told.clear()
        done.clear()
        writer.submit_then(WriteJob(upserts=(binding(phone.id, "sip:d@h"),)), then("d", False))
        writer.submit_then(
            WriteJob(upserts=(binding(phone.id, "sip:e@h", cseq=2**40),)), then("e", True)
        )  # one batch: d commits, e is refused
        await asyncio.wait_for(done.wait(), 10)
        assert [name for name, _ in told] == ["d", "e"]
        assert told[0][1] is None
        assert isinstance(told[1][1], WriteFailed) and told[1][1].rejected
        assert "sip:d@h" in await stored(pool, phone.id)
        assert "sip:e@h" not in await stored(pool, phone.id)
    finally:
        await writer.stop()


@pytest.mark.parametrize(("gather", "most_batches"), [(0.25, 1), (0.0, None)])
async def test_the_gather_window_groups_requests_arriving_apart_into_one_commit(
    pool: asyncpg.Pool[Any], customer_id: str, gather: float, most_batches: int | None
) -> None:
    """Group commit under light load: five REGISTERs arriving 10 ms apart share one commit
    when the writer gathers for 250 ms; with no window each is committed as it comes (the
    first alone, as nothing else is queued yet)."""
    phone = await new_phone(pool, customer_id)
    writer = WriteBehind(pool, limit=100, node=NODE, gather=gather)
    writer.start()
    try:
        waiting = []
        for n in range(5):
            waiting.append(
                writer.submit_nowait(WriteJob(upserts=(binding(phone.id, f"sip:{n}@h"),)))
            )
            await asyncio.sleep(0.01)
        await asyncio.wait_for(asyncio.gather(*waiting), 10)
        assert len(await stored(pool, phone.id)) == 5
        assert writer.committed == 5
        if most_batches is not None:
            assert writer.batches <= most_batches
        else:
            assert writer.batches >= 2
    finally:
        await writer.stop()


async def test_two_writers_on_the_same_rows_in_opposite_orders_do_not_deadlock(
    pool: asyncpg.Pool[Any], customer_id: str
) -> None:
    """Two writers (two nodes, or two workers of one) commit batches touching the same
    phones' bindings and statuses, submitted in opposite orders. Each writes its rows in
    key order, so neither holds a row lock the other needs while waiting for one the
    other holds: every job commits (a deadlock would fail one batch's jobs)."""
    phones = [await new_phone(pool, customer_id) for _ in range(300)]
    writers = [WriteBehind(pool, limit=1000, node=node) for node in ("node-a", "node-b")]
    for writer in writers:
        writer.start()
    try:
        for cseq in range(1, 6):
            futures = [
                writer.submit_nowait(
                    WriteJob(
                        upserts=(binding(phone.id, "sip:a@h", cseq=cseq, node=writer._node),),
                        statuses=(status(phone.id),),
                    )
                )
                for writer, order in zip(writers, (phones, phones[::-1]), strict=True)
                for phone in order
            ]
            outcomes = await asyncio.gather(*futures, return_exceptions=True)
            failed = [outcome for outcome in outcomes if outcome is not None]
            assert failed == [], failed[:3]
    finally:
        for writer in writers:
            await writer.stop()
