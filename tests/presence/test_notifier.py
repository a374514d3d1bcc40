"""SUBSCRIBE/NOTIFY against the real SIP service in-process, real UDP sockets, real
PostgreSQL; the watcher is a hand-written SIP endpoint doing digest auth."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.support.presence import manager_token, push


async def test_dialog_watcher_sees_trying_confirmed_terminated(start_server: Any) -> None:
    server = await start_server()
    watcher = await server.phone("102")
    token = await manager_token(server)
    response, _ = await watcher.subscribe("101", expires=600)
    assert response.status == 200
    assert response.h("expires") == "600"
    first = await watcher.next_notify()
    assert first.h("event") == "dialog"
    assert first.h("subscription-state").startswith("active;expires=")
    assert first.h("content-type") == "application/dialog-info+xml"
    assert first.dialog_states == [] and first.version == 0
    seen = []
    for state in ("trying", "confirmed", "terminated"):
        await push(server, token, "101", state=state, direction="recipient",
                   remote="sip:0301234567@pbx.example", callId="call-77")  # fmt: skip
        notify = await watcher.next_notify()
        seen.append((notify.dialog_states, notify.version, notify.cseq))
        assert b"sip:0301234567@pbx.example" in notify.body
        assert b'call-id="call-77"' in notify.body
    assert [item[0] for item in seen] == [["trying"], ["confirmed"], ["terminated"]]
    assert [item[1] for item in seen] == [1, 2, 3]
    assert [item[2] for item in seen] == sorted(item[2] for item in seen)
    # a late `early` of the ended call changes nothing and notifies nobody
    late = await push(server, token, "101", state="early", callId="call-77")
    assert late["applied"] is False
    await watcher.no_notify(0.3)


async def test_bad_subscribes(start_server: Any) -> None:
    server = await start_server()
    watcher = await server.phone("102")
    response, _ = await watcher.subscribe("101", event="conference")
    assert response.status == 489
    assert "dialog" in (response.h("allow-events") or "")
    response, _ = await watcher.subscribe("101", event="dialog", accept="application/pidf+xml")
    assert response.status == 406
    response, _ = await watcher.subscribe("999")
    assert response.status == 404
    async with server.pool.acquire() as conn:
        from tests.support import factories

        other = await factories.customer(conn, "Other")
        await factories.extension(conn, other, "555")
    response, _ = await watcher.subscribe("555")
    assert response.status == 404
    response, _ = await watcher.subscribe("101", expires=-1)
    assert response.status in (400, 423)
    await watcher.no_notify(0.2)
    assert server.presence.subs == {}


async def test_refresh_unsubscribe_and_expiry(start_server: Any) -> None:
    server = await start_server()
    watcher = await server.phone("102")
    _, sub = await watcher.subscribe("101", expires=600)
    await watcher.next_notify()
    response = await watcher.resubscribe(sub, 120)
    assert response.status == 200 and response.h("expires") == "120"
    refreshed = await watcher.next_notify()
    assert refreshed.h("subscription-state") in ("active;expires=120", "active;expires=119")
    response = await watcher.resubscribe(sub, 0)
    assert response.status == 200
    final = await watcher.next_notify()
    assert final.h("subscription-state").startswith("terminated")
    assert (await watcher.resubscribe(sub, 60)).status == 481  # the dialog is gone
    assert server.presence.subs == {}
    # expiry: a 2-second subscription ends with reason=timeout
    _, short = await watcher.subscribe("101", expires=2)
    assert (await watcher.next_notify()).h("subscription-state") == "active;expires=2"
    ended = await watcher.next_notify(timeout=4)
    assert ended.h("subscription-state") == "terminated;reason=timeout"
    assert (await watcher.resubscribe(short, 60)).status == 481


async def test_481_from_watcher_ends_subscription(start_server: Any) -> None:
    server = await start_server()
    watcher = await server.phone("102")
    token = await manager_token(server)
    _, sub = await watcher.subscribe("101")
    await watcher.next_notify()
    watcher.notify_status = 481
    await push(server, token, "101", state="early", callId="c1")
    await watcher.next_notify()
    await asyncio.sleep(0.1)
    assert server.presence.subs == {}
    await push(server, token, "101", state="confirmed", callId="c1")
    await watcher.no_notify(0.3)
    watcher.notify_status = 200
    assert (await watcher.resubscribe(sub, 60)).status == 481


@pytest.mark.parametrize("style", ["compact", "loose", "provisional"])
async def test_notify_answers_in_any_valid_form_complete_the_transaction(
    start_server: Any, style: str
) -> None:
    """The NOTIFY's 200 OK is matched on its raw bytes first; unusual forms must still
    complete it (or the next change would wait for Timer F and the subscription end)."""
    server = await start_server()
    watcher = await server.phone("102")
    watcher.answer_style = style
    token = await manager_token(server)
    await watcher.subscribe("101")
    await watcher.next_notify()
    for state in ("early", "confirmed", "terminated"):
        await push(server, token, "101", state=state, callId="c1")
        notify = await watcher.notify_until(lambda m, s=state: s in m.dialog_states)
        assert state in notify.dialog_states
    assert len(server.presence.subs) == 1


async def test_unauthenticated_subscribe_is_challenged(start_server: Any) -> None:
    server = await start_server()
    watcher = await server.phone("102")
    watcher.password = "x" * 32
    response, _ = await watcher.subscribe("101")
    assert response.status in (401, 403)
    assert server.presence.subs == {}


async def test_unanswered_notify_ends_subscription_after_timer_f(start_server: Any) -> None:
    server = await start_server()  # T1 = 0.1 s here, so Timer F = 6.4 s
    watcher = await server.phone("102")
    token = await manager_token(server)
    await watcher.subscribe("101")
    await watcher.next_notify()
    watcher.notify_status = 0
    await push(server, token, "101", state="early", callId="c1")
    first = await watcher.next_notify()
    assert first.dialog_states == ["early"]
    assert server.presence.subs
    deadline = asyncio.get_running_loop().time() + 9
    while server.presence.subs and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.2)
    assert server.presence.subs == {}
    async with server.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM presence_subscriptions") == 0


async def test_tcp_watcher_gets_notifies_over_its_connection(start_server: Any) -> None:
    server = await start_server()
    watcher = await server.phone("102", transport="tcp")
    token = await manager_token(server)
    response, _ = await watcher.subscribe("101")
    assert response.status == 200
    first = await watcher.next_notify()
    assert first.h("via").startswith("SIP/2.0/TCP")
    await push(server, token, "101", state="confirmed", callId="t1")
    assert (await watcher.next_notify()).dialog_states == ["confirmed"]


async def test_lost_listen_connection_is_reestablished(start_server: Any) -> None:
    from db import presence as pdb
    from sipcore.presence.dialog_info import Dialog
    from sipcore.presence.state import CallUpdate
    from sipcore.server.presence.service import commit_change

    server = await start_server()
    watcher = await server.phone("102")
    await watcher.subscribe("101")
    await watcher.next_notify()
    pid = server.presence._listen_conn.get_server_pid()
    async with server.pool.acquire() as conn:
        assert await conn.fetchval("SELECT pg_terminate_backend($1)", pid)
        # another node commits a change while this node is not listening
        ext = (await pdb.extensions_by_number(conn, "101", None))[0]
        async with conn.transaction():
            new = await commit_change(
                conn, ext, CallUpdate(dialog=Dialog(id="o1", call_id="o1", state="early"))
            )
        assert new is not None
    notify = await watcher.next_notify(timeout=3)  # reloaded once LISTEN is back
    assert notify.dialog_states == ["early"]
