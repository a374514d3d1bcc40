"""A real Kamailio edge (deploy/edge/kamailio.cfg) in front of two `sipfleet serve` nodes
of two workers each on one PostgreSQL, with pjsua2 phones that reach only the edge and
sit behind a NAT (their Contact and Via name a private address that is not theirs):

- they register through the edge, and both nodes' APIs show them online with their own
  address (the edge is a trusted proxy), spread over the two nodes by the edge;
- a BLF watcher on one node sees the call state of a phone registered on the other, its
  NOTIFYs coming back through the edge;
- reprovision, asked of either node, reaches a phone through the edge (the Path the edge
  put in its REGISTER);
- a node killed with kill -9: its phones move to the other node on their next refresh
  (the edge fails over), no acknowledged binding is lost, and the watcher subscribed on
  the dead node subscribes anew and goes on seeing call state.

Registrations last 20 s (min_expires lowered to 10) so that the refreshes after the kill
come within the test's half minute."""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import psutil
import pytest

from tests.support import factories
from tests.support.kamailio import KAMAILIO, Edge, die_with_parent, start_edge
from tests.support.processes import SipfleetProcess, start_sipfleet
from tests.support.sip_client import Msg, SipClient, Subscription, tag_of
from tests.support.workers import ADMIN_TOKEN, Http, RebindingPhone

pytestmark = [
    pytest.mark.skipif(KAMAILIO is None, reason="kamailio is not installed (Debian: kamailio)"),
    pytest.mark.pjsua,
]

EDGE_IP = "127.0.0.5"
PHONES = 4  # two per node (pjsua2 aborts the process beyond 8 accounts: keep a margin)
SITES = 2
EXPIRES = 20


async def _node(tmp_path: Path, name: str, database_url: str) -> SipfleetProcess:
    env = {
        "SIPFLEET_WORKERS": "2",
        "SIPFLEET_DATABASE_URL": database_url,
        "SIPFLEET_ADMIN_TOKEN": ADMIN_TOKEN,
        "SIPFLEET_TRUSTED_PROXIES": f"{EDGE_IP}/32",
        "SIPFLEET_MIN_EXPIRES": "10",
        # keep-alive probes of phones are not what this test is about
        "SIPFLEET_KEEPALIVE_INTERVAL": "0",
    }
    # from the test's own thread (blocking for the start): see die_with_parent
    return start_sipfleet(
        tmp_path / name, env=env, sip_transports=("udp",), workers=None,
        preexec_fn=die_with_parent,
    )  # fmt: skip


@pytest.fixture
async def fleet(
    tmp_path: Path, database_url: str
) -> AsyncIterator[tuple[SipfleetProcess, SipfleetProcess, Edge]]:
    nodes: list[SipfleetProcess] = []
    edge: Edge | None = None
    try:
        nodes.append(await _node(tmp_path, "a", database_url))
        nodes.append(await _node(tmp_path, "b", database_url))
        edge = start_edge(
            tmp_path / "edge", [("127.0.0.1", n.sip_port) for n in nodes],
            ip=EDGE_IP, defines={"FR_TIMER": "1500", "DS_PING_INTERVAL": "1"},
        )  # fmt: skip
        yield nodes[0], nodes[1], edge
    finally:
        if edge is not None:
            edge.stop()
        for node in nodes:
            _kill_tree(node)
        for node in nodes:
            assert "Traceback" not in node.log(), node.log()


def _kill_tree(node: SipfleetProcess, sig: str = "term") -> None:
    """Stop a node: SIGTERM (clean), or kill -9 of the supervisor and every worker."""
    if sig == "term":
        node.stop()
        return
    try:
        tree = psutil.Process(node.process.pid)
        processes = [tree, *tree.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    node.process.wait()
    psutil.wait_procs(processes, timeout=5)


def _site_ip(site: int) -> str:
    return f"127.0.1.{10 + site}"


@contextlib.contextmanager
def _phones(edge: Edge) -> Iterator[Any]:
    """pjsua2 phones on 127.0.1.x whose Contact and Via say 10.9.0.x (a NAT in front of
    them): only the edge can find them, by where their packets come from. Sites are NATs,
    each one address (127.0.1.<10 + site>) whose phones share one UDP port (pjsua2 allows
    few transports per process). The pjsua2 endpoint is polled by a task of the test's
    event loop, so refreshes run by themselves."""
    from tests.support.pjsua import SharedTransport  # pjsua2 is imported late

    phones = SharedTransport((edge.ip, edge.port), retry_seconds=2)
    try:
        for site in range(SITES):
            phones.add_transport(_site_ip(site), public_address=f"10.9.0.{10 + site}")
        yield phones
    finally:
        phones.close()


@contextlib.contextmanager
def _closing(endpoints: list[SipClient]) -> Iterator[None]:
    try:
        yield
    finally:
        for endpoint in endpoints:
            endpoint.close()


async def _bindings(pool: asyncpg.Pool[Any]) -> dict[str, tuple[str, str | None, Any]]:
    """phone id -> (node, path, expires_at) of its unexpired binding."""
    rows = await pool.fetch(
        "SELECT phone_id, node, path, expires_at FROM bindings WHERE expires_at > now()"
    )
    return {r["phone_id"]: (r["node"] or "", r["path"], r["expires_at"]) for r in rows}


def _port_of(node_id: str) -> int:
    """The SIP port in a node id (`<host>|udp:127.0.0.1:<port>|w<i>`)."""
    found = re.search(r":(\d+)(?:,|\||$)", node_id)
    assert found, node_id
    return int(found.group(1))


async def _status(node: SipfleetProcess, phone_id: str) -> dict[str, Any]:
    status, body, _ = await Http(node.base_url).request("GET", f"/api/pbx/sipphone/{phone_id}")
    assert status == 200, body
    return dict(body["status"])


async def _in_dialog_subscribe(watcher: SipClient, sub: Subscription, ok: Msg, expires: int) -> Msg:
    """A refresh as RFC 3261 §12.2 sends it: to the node's Contact, along the Record-Route
    (the edge)."""
    sub.cseq += 1
    target = (ok.h("contact") or "").strip("<>").split(">")[0]
    routes = ok.all("record-route")
    headers = [*(f"Route: {r}" for r in routes), f"Event: {sub.event}",
               f"Contact: {watcher.contact}", f"Expires: {expires}",
               "Accept: application/dialog-info+xml"]  # fmt: skip
    response = await watcher.request(
        "SUBSCRIBE", target, headers, call_id=sub.call_id, from_tag=sub.from_tag,
        to_uri=sub.target, to_tag=sub.to_tag, cseq=sub.cseq,
    )  # fmt: skip
    sub.cseq = int(response.h("x-cseq") or sub.cseq)
    return response


async def _push(node: SipfleetProcess, customer: str, number: str, state: str, call: str) -> None:
    body = {"state": state, "callId": call, "customer": customer}
    status, answer, _ = await Http(node.base_url).request("POST", f"/api/presence/{number}", body)
    assert status == 200, answer


async def _create_phones(
    pool: asyncpg.Pool[Any], node: SipfleetProcess, count: int, edge: Edge | None = None
) -> tuple[str, list[str], list[dict[str, Any]]]:
    """(customer, numbers, phones): Yealinks created through the API, each with its own
    extension (101, 102, …), ip OPEN: `count` of them, or with `edge`, as many as it
    takes for `count` of them to be hashed half to each node (the edge's hash of the
    username decides, as it will for their REGISTERs)."""
    async with pool.acquire() as conn:
        customer = await factories.customer(conn, f"Edge {secrets.token_hex(3)}")
        model = await factories.model_id(conn, "yealink-t54w")
    numbers: list[str] = []
    created: list[dict[str, Any]] = []
    slots = {0: 0, 1: 0}
    for attempt in range(64):
        if len(created) == count:
            break
        number = str(101 + attempt)
        async with pool.acquire() as conn:
            extension = await factories.extension(conn, customer, number)
        body = {"customer": customer, "extension": extension, "sipPhoneModel": model,
                "macAddress": "001565" + secrets.token_hex(3).upper()}  # fmt: skip
        status, phone, _ = await Http(node.base_url).request("PUT", "/api/pbx/sipphone", body)
        assert status == 201, phone
        if edge is not None:
            slot = await asyncio.to_thread(edge.slot, phone["username"])
            if slots[slot] == count // 2:
                continue
            slots[slot] += 1
        numbers.append(number)
        created.append(phone)
    assert len(created) == count, slots
    return customer, numbers, created


async def test_phones_behind_nat_through_the_edge_survive_a_node_killed(
    fleet: tuple[SipfleetProcess, SipfleetProcess, Edge], pool: asyncpg.Pool[Any]
) -> None:
    node_a, node_b, edge = fleet
    by_port = {node_a.sip_port: node_a, node_b.sip_port: node_b}
    customer, numbers, created = await _create_phones(pool, node_a, PHONES, edge)

    watchers: list[SipClient] = []
    with _phones(edge) as phones, _closing(watchers):
        for index, phone in enumerate(created):
            phones.add(
                phone["username"], phone["password"], transport_id=phones.transports[index % SITES],
                expires=EXPIRES, user_agent="Yealink SIP-T54W 96.86.0.100",
            )  # fmt: skip
        phones.start_pump()

        # 1. every phone registers through the edge; both nodes see it online, at the
        # address its packets came from (not the edge's, not the one it wrote)
        assert await phones.register_all() == [200] * PHONES, edge.log()[-3000:]
        bindings = await _bindings(pool)
        assert set(bindings) == {p["_id"] for p in created}
        on = {p["_id"]: by_port[_port_of(bindings[p["_id"]][0])] for p in created}
        assert {n.sip_port for n in on.values()} == {node_a.sip_port, node_b.sip_port}, (
            "the edge put every phone on one node"
        )
        for index, phone in enumerate(created):
            for node in (node_a, node_b):
                status = await _status(node, phone["_id"])
                assert status["online"] is True, status
                assert status["publicIpAddress"] == _site_ip(index % SITES), status

        # 2. BLF: a watcher (a phone's credentials and address — the IP gate locked the
        # phone to it — so the edge hashes it to that phone's node) subscribed on node A
        # to a phone registered on node B
        x = next(i for i, p in enumerate(created) if on[p["_id"]] is node_a)
        y = next(i for i, p in enumerate(created) if on[p["_id"]] is node_b)
        watcher = await SipClient(created[x]["username"], created[x]["password"], edge.address,
                                 local_ip=_site_ip(x % SITES)).open()  # fmt: skip
        watchers.append(watcher)
        ok, sub = await watcher.subscribe(numbers[y], event="dialog", expires=600)
        assert ok.status == 200, ok.first
        assert ok.h("record-route"), "the edge did not record-route the SUBSCRIBE"
        assert f":{node_a.sip_port}" in (ok.h("contact") or "")
        await watcher.next_notify(timeout=3.0)
        await _push(node_b, customer, numbers[y], "confirmed", "call-1")
        confirmed = await watcher.notify_until(
            lambda m: m.dialog_states == ["confirmed"], 3.0, "dialog"
        )
        assert confirmed.h("call-id") == sub.call_id

        # 3. node A dies (kill -9, every process of it)
        node_a_uri, node_b_uri = (f"sip:127.0.0.1:{n.sip_port}" for n in (node_a, node_b))
        assert {uri: flags[0] for uri, flags in edge.states().items()} == {
            node_a_uri: "A",
            node_b_uri: "A",
        }  # both active
        killed_at = time.monotonic()
        moved = [p["_id"] for p in created if on[p["_id"]] is node_a]
        await asyncio.to_thread(_kill_tree, node_a, "kill")

        # the edge's OPTIONS probes find it silent: marked down within a few seconds
        while not edge.states()[node_a_uri].startswith("I"):
            assert time.monotonic() < killed_at + 8, edge.states()
            await asyncio.sleep(0.2)
        assert edge.states()[node_b_uri].startswith("A")

        # its phones are still online: their bindings were committed before their 200
        for phone_id in moved:
            assert (await _status(node_b, phone_id))["online"] is True

        # on their next refresh (due at most EXPIRES - 5 s after registering) the edge
        # sends them to node B
        deadline = killed_at + EXPIRES + 5
        while time.monotonic() < deadline:
            bindings = await _bindings(pool)
            if all(
                pid in bindings and _port_of(bindings[pid][0]) == node_b.sip_port for pid in moved
            ):
                break
            await asyncio.sleep(0.5)
        bindings = await _bindings(pool)
        assert set(bindings) == {p["_id"] for p in created}, "an acknowledged binding was lost"
        assert {_port_of(bindings[pid][0]) for pid in bindings} == {node_b.sip_port}, bindings
        accounts = list(phones.accounts.values())
        assert all(a.codes[-1] == 200 for a in accounts), [a.codes for a in accounts]
        for phone in created:
            assert (await _status(node_b, phone["_id"]))["online"] is True

        # 4. presence goes on: the watcher's refresh to the dead node is refused by the
        # edge (481: that subscription is gone), so it subscribes anew — on node B
        refreshed = await _in_dialog_subscribe(watcher, sub, ok, 600)
        assert refreshed.status in (408, 481), refreshed.first
        again, sub2 = await watcher.subscribe(numbers[y], event="dialog", expires=600)
        assert again.status == 200, again.first
        assert f":{node_b.sip_port}" in (again.h("contact") or "")
        first = await watcher.notify_until(lambda m: m.h("call-id") == sub2.call_id, 3.0)
        assert first.dialog_states == ["confirmed"]  # the call that is still up
        await _push(node_b, customer, numbers[y], "terminated", "call-1")
        ended = await watcher.notify_until(
            lambda m: m.h("call-id") == sub2.call_id and m.dialog_states == ["terminated"],
            3.0, "dialog",
        )  # fmt: skip
        assert tag_of(ended.h("from")) == tag_of(again.h("to"))  # the new dialog


async def test_reprovision_reaches_a_phone_behind_nat_through_the_edge(
    fleet: tuple[SipfleetProcess, SipfleetProcess, Edge], pool: asyncpg.Pool[Any]
) -> None:
    """Reprovision asked of each node, for phones registered on each node: the node that
    holds the binding sends check-sync along the Path the edge put into the REGISTER, and
    the edge relays it to where the REGISTER came from; the Contact the phone wrote
    (10.9.0.x) leads nowhere. (pjsua2 leaves an out-of-dialog NOTIFY unanswered, so these
    phones are hand-written ones that answer check-sync as desk phones do.)"""
    node_a, node_b, edge = fleet
    _, _, created = await _create_phones(pool, node_a, 4)
    phones = []
    try:
        for index, phone in enumerate(created):
            sip = RebindingPhone(
                phone["username"], phone["password"], edge.address,
                local_ip=f"127.0.1.{60 + index}",
            )  # fmt: skip
            await sip.open()
            sip.contact_address = (f"10.9.0.{60 + index}", sip.local[1])
            assert await sip.register_status(attempts=20, timeout=5.0) == 200
            phones.append(sip)
        bindings = await _bindings(pool)
        holders = {_port_of(bindings[p["_id"]][0]) for p in created}
        for phone, sip in zip(created, phones, strict=True):
            node, path, _ = bindings[phone["_id"]]
            assert path and f"{edge.ip}:{edge.node_port};" in path, (node, path)
            for asked in (node_a, node_b):
                before = len(sip.received_notifies)
                status, body, _ = await Http(asked.base_url).request(
                    "POST", f"/api/phones/{phone['macAddress']}/reprovision"
                )
                assert status == 200, body
                [result] = body["results"]
                assert [c["outcome"] for c in result["contacts"]] == ["ok"], (result, path)
                assert len(sip.received_notifies) == before + 1
                notify = sip.received_notifies[-1]
                assert notify.first.startswith("NOTIFY sip:")
                assert notify.headers["event"] == ["check-sync"]
        # whichever node held it, and whichever node was asked
        assert len(holders) in (1, 2)
    finally:
        for sip in phones:
            sip.close()
