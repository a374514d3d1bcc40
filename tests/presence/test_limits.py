"""Subscription limits over real sockets: per subscriber phone and per watched extension,
held against a burst of concurrent SUBSCRIBEs; and the pure check."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from sipcore.presence.subscription import SubscriptionError, check_limits


async def stored(server: Any) -> int:
    async with server.pool.acquire() as conn:
        count: int = await conn.fetchval("SELECT count(*) FROM presence_subscriptions")
    return count


async def test_a_burst_of_subscribes_stops_at_the_phone_limit(start_server: Any) -> None:
    server = await start_server()  # subscriptions_per_phone: the default, 50
    watcher = await server.phone("102")
    answers = await asyncio.gather(
        *(watcher.subscribe(number, expires=600) for number in ("101", "103") * 30)
    )
    statuses = [response.status for response, _ in answers]
    assert statuses.count(200) == 50 and statuses.count(403) == 10
    assert {r.first for r, _ in answers if r.status == 403} == {
        "SIP/2.0 403 Too Many Subscriptions"
    }
    assert len(server.presence.subs) == 50
    assert await stored(server) == 50
    # an unsubscribe frees a place; the phone's in-dialog refreshes are never refused
    accepted = [sub for response, sub in answers if response.status == 200]
    assert (await watcher.resubscribe(accepted[0], 600)).status == 200
    assert (await watcher.subscribe("101"))[0].status == 403
    assert (await watcher.resubscribe(accepted[1], 0)).status == 200
    assert (await watcher.subscribe("101"))[0].status == 200
    assert len(server.presence.subs) == 50


async def test_watchers_of_one_extension_are_limited(start_server: Any) -> None:
    server = await start_server(max_per_phone=5, max_per_resource=4)
    phones = [await server.phone(None) for _ in range(3)]
    answers = await asyncio.gather(*(phone.subscribe("101") for phone in phones for _ in range(2)))
    statuses = sorted(response.status for response, _ in answers)
    assert statuses == [200, 200, 200, 200, 403, 403]
    assert {r.first for r, _ in answers if r.status == 403} == {"SIP/2.0 403 Too Many Watchers"}
    watched = server.presence.watched[server.extensions["101"]]
    assert len(watched.subs) == 4
    # another extension is not affected, nor the first phone's own limit reached
    assert (await phones[0].subscribe("103"))[0].status == 200
    assert await stored(server) == 5


def test_check_limits() -> None:
    check_limits(of_phone=49, of_resource=199, max_per_phone=50, max_per_resource=200)
    with pytest.raises(SubscriptionError) as phone:
        check_limits(of_phone=50, of_resource=0, max_per_phone=50, max_per_resource=200)
    assert (phone.value.status, phone.value.reason) == (403, "Too Many Subscriptions")
    with pytest.raises(SubscriptionError) as resource:
        check_limits(of_phone=0, of_resource=200, max_per_phone=50, max_per_resource=200)
    assert (resource.value.status, resource.value.reason) == (403, "Too Many Watchers")
