"""Registrations drive presence in batches: many phones registering at once (a boot storm)
commit their extensions' online state together, and the result is what one change at a
time would give — per extension, online when any of its phones has a binding."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.support.presence import basic


async def _stored(server: Any) -> dict[str, tuple[int, bool]]:
    async with server.pool.acquire() as conn:
        rows = await conn.fetch("SELECT extension_id, seq, state FROM presence_state")
    return {row["extension_id"]: (row["seq"], bool(row["state"].get("online"))) for row in rows}


async def _events(server: Any) -> list[dict[str, Any]]:
    async with server.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT details FROM events WHERE type = 'presence.changed' ORDER BY id"
        )
    return [row["details"] for row in rows]


async def _until(check: Any, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "presence never settled"
        await asyncio.sleep(0.05)


async def test_simultaneous_registrations_commit_each_extension_once(start_server: Any) -> None:
    server = await start_server()
    ext = server.extensions
    # two phones on 101, one each on 102 and 103, all registering in the same instant
    phones = [
        await server.phone("101", local_ip="127.0.1.21"),
        await server.phone("101", local_ip="127.0.1.22"),
        await server.phone("102", local_ip="127.0.1.23"),
        await server.phone("103", local_ip="127.0.1.24"),
    ]
    answers = await asyncio.gather(*(phone.register(expires=300) for phone in phones))
    assert [answer.status for answer in answers] == [200] * 4

    async def all_online() -> bool:
        stored = await _stored(server)
        if not all(stored.get(ext[n], (0, False))[1] for n in ("101", "102", "103")):
            return False
        # the events are written after the commit (off the watchers' path): wait for them
        return len([e for e in await _events(server) if e["online"]]) >= 3

    await _until(all_online)
    events = await _events(server)
    # 101's second phone changes nothing: one change per extension
    assert sorted(e["extension"] for e in events if e["online"]) == ["101", "102", "103"]
    assert all(isinstance(e["seq"], int) and e["seq"] >= 1 for e in events)

    # one of 101's phones leaves: 101 stays online (its other phone has a binding)
    assert (await phones[0].register(expires=0)).status == 200
    await asyncio.sleep(0.3)
    stored = await _stored(server)
    assert stored[ext["101"]][1] is True
    # the other leaves too, and 102 at the same time: both go offline
    left = await asyncio.gather(phones[1].register(expires=0), phones[2].register(expires=0))
    assert [answer.status for answer in left] == [200, 200]

    async def both_offline() -> bool:
        stored = await _stored(server)
        if stored[ext["101"]][1] or stored[ext["102"]][1]:
            return False
        return len([e for e in await _events(server) if not e["online"]]) >= 2

    await _until(both_offline)
    assert (await _stored(server))[ext["103"]][1] is True
    offline = [e["extension"] for e in await _events(server) if not e["online"]]
    assert sorted(offline) == ["101", "102"]


async def test_a_watcher_sees_the_batched_change(start_server: Any) -> None:
    server = await start_server()
    watcher = await server.phone("102", local_ip="127.0.1.31")
    desks = [await server.phone("101", local_ip=f"127.0.1.{32 + i}") for i in range(3)]
    assert (await watcher.subscribe("101", event="presence"))[0].status == 200
    assert basic(await watcher.next_notify()) == "closed"
    answers = await asyncio.gather(*(desk.register(expires=300) for desk in desks))
    assert [answer.status for answer in answers] == [200] * 3
    assert basic(await watcher.next_notify()) == "open"
    await watcher.no_notify(0.3)  # three phones online: one change of 101, not three
