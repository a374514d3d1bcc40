"""Event: presence (PIDF) driven by registrations and PUBLISH, message-summary, per-UA
dialog-info shapes, and NOTIFY coalescing — against the in-process SIP service."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.support.presence import basic, manager_token, push
from tests.support.sip_client import pidf_body


async def test_presence_follows_registration(start_server: Any) -> None:
    server = await start_server()
    watcher = await server.phone("102")
    desk = await server.phone("101", local_ip="127.0.1.5")
    response, _ = await watcher.subscribe("101", event="presence")
    assert response.status == 200
    first = await watcher.next_notify()
    assert first.h("content-type") == "application/pidf+xml"
    assert basic(first) == "closed"
    assert (await desk.register(expires=300)).status == 200
    online = await watcher.next_notify()
    assert basic(online) == "open"
    assert (await desk.register(expires=0)).status == 200
    offline = await watcher.next_notify()
    assert basic(offline) == "closed"


async def test_published_presence_and_dnd(start_server: Any) -> None:
    server = await start_server()
    watcher = await server.phone("102")
    desk = await server.phone("101", local_ip="127.0.1.6")
    await desk.register(expires=300)
    await watcher.subscribe("101", event="presence")
    assert basic(await watcher.next_notify()) == "open"
    own = f"sip:{desk.username}@sipfleet.test"
    response = await desk.publish(own, "presence", pidf_body(own, note="In a meeting", busy=True))
    assert response.status == 200
    etag = response.h("sip-etag")
    assert etag and response.h("expires") == "300"
    dnd = await watcher.next_notify()
    assert b"In a meeting" in dnd.body and b"<rpid:busy/>" in dnd.body
    # refresh: no body, new entity tag, no change seen by watchers
    refreshed = await desk.publish(own, "presence", b"", etag=etag, expires=600)
    assert refreshed.status == 200 and refreshed.h("sip-etag") not in (None, etag)
    await watcher.no_notify(0.2)
    # the old entity tag is no longer valid
    assert (await desk.publish(own, "presence", b"", etag=etag)).status == 412
    # removal: the published note goes away
    removed = await desk.publish(own, "presence", b"", etag=refreshed.h("sip-etag"), expires=0)
    assert removed.status == 200
    back = await watcher.next_notify()
    assert b"In a meeting" not in back.body and basic(back) == "open"


async def test_bad_publishes(start_server: Any) -> None:
    server = await start_server()
    desk = await server.phone("101")
    own = f"sip:{desk.username}@sipfleet.test"
    assert (await desk.publish(own, "conference", b"x")).status == 489
    assert (await desk.publish(own, "presence", b"<nope")).status == 400
    assert (
        await desk.publish(own, "presence", pidf_body(own), content_type="text/plain")
    ).status == 415
    assert (await desk.publish(own, "presence", b"")).status == 400
    assert (await desk.publish(own, "presence", b"", etag="doesnotexist")).status == 412
    assert (await desk.publish("sip:102@sipfleet.test", "presence", pidf_body(own))).status == 403
    assert (await desk.publish("sip:999@sipfleet.test", "dialog", b"x")).status in (400, 404, 415)
    async with server.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM presence_publications") == 0


async def test_pbx_publishes_dialog_state(start_server: Any) -> None:
    server = await start_server()
    watcher = await server.phone("102")
    pbx = await server.phone(None)
    await watcher.subscribe("101")
    await watcher.next_notify()
    body = (
        b'<?xml version="1.0"?><dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" '
        b'version="0" state="full" entity="sip:101@sipfleet.test">'
        b'<dialog id="d1" call-id="pbx-1" direction="recipient"><state>early</state></dialog>'
        b"</dialog-info>"
    )
    response = await pbx.publish("sip:101@sipfleet.test", "dialog", body, expires=60)
    assert response.status == 200
    assert (await watcher.next_notify()).dialog_states == ["early"]
    confirmed = body.replace(b"<state>early</state>", b"<state>confirmed</state>")
    response = await pbx.publish("sip:101@sipfleet.test", "dialog", confirmed,
                                 etag=response.h("sip-etag"), expires=60)  # fmt: skip
    assert response.status == 200
    assert (await watcher.next_notify()).dialog_states == ["confirmed"]
    # the PBX removes its publication: the call it described ends
    gone = await pbx.publish("sip:101@sipfleet.test", "dialog", b"", etag=response.h("sip-etag"),
                             expires=0)  # fmt: skip
    assert gone.status == 200
    assert (await watcher.next_notify()).dialog_states == ["terminated"]


async def test_body_shape_per_subscriber(start_server: Any) -> None:
    server = await start_server()
    yealink = await server.phone("102", user_agent="Yealink SIP-T46S 66.86.0.15")
    spa = await server.phone("103", user_agent="Linksys/SPA962-6.1.5(a)")
    plain = await server.phone("103", user_agent="snom D785/10.1.159.12")
    token = await manager_token(server)
    for endpoint in (yealink, spa, plain):
        await endpoint.subscribe("101")
    idle = [await e.next_notify() for e in (yealink, spa, plain)]
    assert [m.dialog_states for m in idle] == [["terminated"], [], []]
    await push(server, token, "101", state="confirmed", callId="a")
    await push(server, token, "101", state="early", callId="b")
    await asyncio.sleep(0.2)
    last = {}
    for name, endpoint in (("yealink", yealink), ("spa", spa), ("plain", plain)):
        while not endpoint.notifies.empty():
            last[name] = endpoint.notifies.get_nowait()
    assert last["yealink"].dialog_states == ["confirmed", "early"]
    assert last["plain"].dialog_states == ["confirmed", "early"]
    assert last["spa"].dialog_states == ["confirmed"]  # one <dialog> only


async def test_message_summary(start_server: Any) -> None:
    server = await start_server()
    watcher = await server.phone("101")
    token = await manager_token(server)
    await watcher.subscribe("101", event="message-summary")
    first = await watcher.next_notify()
    assert b"Messages-Waiting: no" in first.body
    await push(server, token, "101", voicemail={"new": 3, "old": 4})
    lit = await watcher.next_notify()
    assert b"Messages-Waiting: yes" in lit.body and b"Voice-Message: 3/4" in lit.body


async def test_coalescing_keeps_last_state(start_server: Any) -> None:
    server = await start_server(notify_min_interval=0.3)
    watcher = await server.phone("102")
    token = await manager_token(server)
    await watcher.subscribe("101")
    await watcher.next_notify()
    start = time.monotonic()
    for n in range(6):
        await push(server, token, "101", state="early", callId=f"burst-{n}")
        await push(server, token, "101", state="terminated", callId=f"burst-{n}")
    await push(server, token, "101", state="confirmed", callId="final")
    await asyncio.sleep(0.9)
    got = []
    while not watcher.notifies.empty():
        got.append(watcher.notifies.get_nowait())
    elapsed = time.monotonic() - start
    # 13 changes: at most one NOTIFY per 0.3 s (plus the first), and the last state wins
    assert 1 <= len(got) <= int(elapsed / 0.3) + 2
    assert got[-1].dialog_states == ["confirmed"]
    assert b"final" in got[-1].body
    cseqs = [m.cseq for m in got]
    assert cseqs == sorted(cseqs)


async def test_publication_expires(start_server: Any) -> None:
    server = await start_server()
    watcher = await server.phone("102")
    desk = await server.phone("101")
    await desk.register(expires=300)
    await watcher.subscribe("101", event="presence")
    await watcher.next_notify()
    own = f"sip:{desk.username}@sipfleet.test"
    response = await desk.publish(own, "presence", pidf_body(own, note="Back soon"), expires=1)
    assert response.status == 200 and response.h("expires") == "1"
    assert b"Back soon" in (await watcher.next_notify()).body
    expired = await watcher.next_notify(timeout=3.5)  # the sweeper removes it within ~1 s
    assert b"Back soon" not in expired.body and basic(expired) == "open"
    async with server.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM presence_publications") == 0


async def test_burst_keeps_order_and_ends_right(start_server: Any) -> None:
    server = await start_server()
    token = await manager_token(server)
    watchers = [await server.phone("102") for _ in range(5)]
    for watcher in watchers:
        await watcher.subscribe("101")
        await watcher.next_notify()
    states = ["confirmed", "terminated"] * 10
    await asyncio.gather(*(push(server, token, "101", state=s) for s in states[:1]))
    for state in states[1:]:
        await push(server, token, "101", state=state)
    await asyncio.sleep(0.5)
    for watcher in watchers:
        got = []
        while not watcher.notifies.empty():
            got.append(watcher.notifies.get_nowait())
        assert got, "no NOTIFY"
        assert [m.cseq for m in got] == sorted({m.cseq for m in got})
        assert [m.version for m in got] == sorted({m.version for m in got})
        assert got[-1].dialog_states == ["terminated"]
