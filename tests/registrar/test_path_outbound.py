"""Path (RFC 3327), outbound (RFC 5626) and public GRUU (RFC 5627) at the registrar,
with hand-written SIP over real sockets: the exact headers of the 200 and of the
requests sipfleet then sends to the phone."""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

import asyncpg

from tests.support.phones import new_phone
from tests.support.sip_client import REALM, SipClient

INSTANCE = "<urn:uuid:00000000-0000-1000-8000-00a0c91e6bf6>"
LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)


async def check_sync(sip: Any, phone_id: str, *clients: SipClient) -> list[Any]:
    """Run check-sync while the clients answer what reaches them."""
    task = asyncio.ensure_future(
        sip.service.check_sync_notifier.check_sync(phone_id, reboot=False, timeout=1.5)
    )
    while not task.done():
        await asyncio.gather(*(client.receive(timeout=0.1) for client in clients))
    return list(task.result())


async def test_path_from_a_trusted_proxy_is_stored_echoed_and_routed(
    pool: asyncpg.Pool[Any], start_sip: Any, customer_id: str
) -> None:
    phone = await new_phone(pool, customer_id)
    sip = await start_sip(trusted_proxies=LOOPBACK)
    edge = await SipClient(server=sip.address("udp")).open()  # plays the edge proxy
    try:
        hop = f"<sip:127.0.0.1:{edge.local_port};lr;received=sip:192.0.2.7:5062>"
        contact = "<sip:phone@192.0.2.7:5062>"
        ok = await edge.register(phone.username, phone.password, contact=contact,
            extra=f"Path: {hop}\r\nSupported: path",
        )  # fmt: skip
        assert ok is not None and ok.status == 200, ok
        assert ok.all("Path") == [hop]  # RFC 3327 §5.3: echoed
        (binding,) = sip.service.bindings_of(phone.id)
        assert binding.path == hop
        async with pool.acquire() as conn:
            stored = await conn.fetchval("SELECT path FROM bindings WHERE phone_id = $1", phone.id)
        assert stored == hop
        # another node (or this one after a restart) loads it with the binding
        other = await start_sip(trusted_proxies=LOOPBACK)
        assert [b.path for b in other.service.bindings_of(phone.id)] == [hop]
        # check-sync goes to the first hop, with the Path as its Route set
        outcomes = await check_sync(sip, phone.id, edge)
        assert [(o.status, o.outcome) for o in outcomes] == [(200, "ok")]
        notify = edge.requests[-1]
        assert notify.method == "NOTIFY"
        assert notify.uri == "sip:phone@192.0.2.7:5062"
        assert notify.all("Route") == [hop]
        # a refresh without Supported: path keeps the Path, and the 200 does not echo it
        again = await edge.register(
            phone.username, phone.password, contact=contact, extra=f"Path: {hop}"
        )
        assert again is not None and again.status == 200
        assert again.all("Path") == []
        assert sip.service.bindings_of(phone.id)[0].path == hop
        again = await edge.register(phone.username, phone.password, contact=contact,
            extra=f"Path: {hop}\r\nSupported: path",
        )  # fmt: skip
        assert again is not None and again.all("Path") == [hop]
        # the same phone straight, without Path: the binding loses it
        direct = await edge.register(phone.username, phone.password, contact=contact)
        assert direct is not None and direct.status == 200
        assert sip.service.bindings_of(phone.id)[0].path is None
    finally:
        edge.close()


async def test_path_from_an_untrusted_peer_or_unreadable_is_refused(
    pool: asyncpg.Pool[Any], start_sip: Any, customer_id: str
) -> None:
    phone = await new_phone(pool, customer_id)
    sip = await start_sip(trusted_proxies=(ipaddress.ip_network("127.0.0.2/32"),))
    async with SipClient(server=sip.address("udp")) as client:
        refused = await client.register(
            phone.username, phone.password, extra="Path: <sip:198.51.100.1;lr>"
        )
        assert refused is not None and refused.status == 403
        assert sip.service.bindings_of(phone.id) == []
    sip = await start_sip(trusted_proxies=LOOPBACK)
    async with SipClient(server=sip.address("udp")) as client:
        bad = await client.register(phone.username, phone.password, extra="Path: <mailto:x@y>")
        assert bad is not None and bad.status == 400
        assert sip.service.bindings_of(phone.id) == []
        # Require: path is an extension the registrar supports (no 420)
        ok = await client.register(phone.username, phone.password,
            extra="Path: <sip:127.0.0.1:5999;lr>\r\nRequire: path",
        )  # fmt: skip
        assert ok is not None and ok.status == 200, ok


def _outbound_contact(client: SipClient, reg_id: int) -> str:
    return (
        f"<sip:phone@127.0.0.1:{client.local_port};transport=tcp;ob>"
        f';+sip.instance="{INSTANCE}";reg-id={reg_id}'
    )


async def _dropped(sip: Any, phone_id: str, count: int) -> None:
    for _ in range(50):
        if len(sip.service.bindings_of(phone_id)) == count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(sip.service.bindings_of(phone_id))


async def test_outbound_flows_gruu_and_a_failed_flow(
    pool: asyncpg.Pool[Any], start_sip: Any, customer_id: str
) -> None:
    phone = await new_phone(pool, customer_id)
    sip = await start_sip(keepalive_interval=600)
    first = await SipClient(server=sip.address("tcp"), transport="tcp").open()
    second = await SipClient(server=sip.address("tcp"), transport="tcp").open()
    try:
        extra = "Supported: outbound, path, gruu"
        ok1 = await first.register(
            phone.username, phone.password, contact=_outbound_contact(first, 1), extra=extra
        )
        assert ok1 is not None and ok1.status == 200, ok1
        assert ok1.h("Require") == "outbound"  # RFC 5626 §6
        assert ok1.h("Flow-Timer") == "600"
        gruu = f"sip:{phone.username}@{REALM};gr={INSTANCE.strip('<>')}"
        (line,) = ok1.all("Contact")
        assert f'pub-gruu="{gruu}"' in line and f'+sip.instance="{INSTANCE}"' in line
        ok2 = await second.register(phone.username, phone.password, contact=_outbound_contact(second, 2),
            extra=extra,
        )  # fmt: skip
        assert ok2 is not None and ok2.status == 200
        # two flows, one device: both listed, both with the same (stable) GRUU
        lines = ok2.all("Contact")
        assert len(lines) == 2 and all(f'pub-gruu="{gruu}"' in item for item in lines)
        flows = sorted((b.reg_id, b.source_port) for b in sip.service.bindings_of(phone.id))
        assert flows == [(1, first.local_port), (2, second.local_port)]
        # check-sync reaches the device once, over its newest flow
        outcomes = await check_sync(sip, phone.id, first, second)
        assert [(o.status, o.outcome) for o in outcomes] == [(200, "ok")]
        assert [len(first.requests), len(second.requests)] == [0, 1]
        # the second flow's connection closes: its binding goes at once, the other stays
        second.close()
        await _dropped(sip, phone.id, 1)
        assert sip.service.bindings_of(phone.id)[0].reg_id == 1
        async with pool.acquire() as conn:
            rows = await conn.fetch("SELECT reg_id FROM bindings WHERE phone_id = $1", phone.id)
            events = await conn.fetchval(
                "SELECT count(*) FROM events WHERE phone_id = $1 AND type = 'phone.unreachable'",
                phone.id,
            )
        assert [row["reg_id"] for row in rows] == [1] and events == 1
        outcomes = await check_sync(sip, phone.id, first)
        assert [(o.status, o.outcome) for o in outcomes] == [(200, "ok")]
        assert len(first.requests) == 1
        # the same (instance, reg-id) under another Contact URI replaces that flow's binding
        moved = (
            f"<sip:moved@127.0.0.1:{first.local_port};transport=tcp;ob>"
            f';+sip.instance="{INSTANCE}";reg-id=1'
        )
        ok3 = await first.register(phone.username, phone.password, contact=moved, extra=extra)
        assert ok3 is not None and ok3.status == 200
        assert [b.contact for b in sip.service.bindings_of(phone.id)] == [
            f"sip:moved@127.0.0.1:{first.local_port};transport=tcp;ob"
        ]
    finally:
        first.close()
        second.close()


async def test_reg_id_through_an_edge_without_ob(
    pool: asyncpg.Pool[Any], start_sip: Any, customer_id: str
) -> None:
    phone = await new_phone(pool, customer_id)
    sip = await start_sip(trusted_proxies=LOOPBACK)
    async with SipClient(server=sip.address("udp")) as edge:
        contact = f'<sip:phone@192.0.2.7:5062>;+sip.instance="{INSTANCE}";reg-id=1'
        path = f"Path: <sip:127.0.0.1:{edge.local_port};lr>"
        # the phone asks for outbound, the edge does not do it: the reg-id is ignored, and
        # the 200 without Require: outbound tells the phone (no 439, RFC 5626 §11.6)
        ok = await edge.register(phone.username, phone.password, contact=contact,
            extra=f"{path}\r\nSupported: outbound",
        )  # fmt: skip
        assert ok is not None and ok.status == 200 and ok.h("Require") is None
        (binding,) = sip.service.bindings_of(phone.id)
        assert binding.reg_id is None and not binding.outbound
        # with ;ob on the edge's Path URI it counts
        ob = f"Path: <sip:127.0.0.1:{edge.local_port};lr;ob>\r\nSupported: outbound"
        ok = await edge.register(phone.username, phone.password, contact=contact, extra=ob)
        assert ok is not None and ok.status == 200 and ok.h("Require") == "outbound"
        assert sip.service.bindings_of(phone.id)[0].reg_id == 1


async def test_dead_udp_outbound_flow_is_dropped_by_the_keepalive(
    pool: asyncpg.Pool[Any], start_sip: Any, customer_id: str
) -> None:
    phone = await new_phone(pool, customer_id)
    sip = await start_sip(keepalive_interval=1, keepalive_max_missed=1)
    async with SipClient(server=sip.address("udp")) as client:
        contact = (
            f'<sip:phone@127.0.0.1:{client.local_port};ob>;+sip.instance="{INSTANCE}";reg-id=1'
        )
        ok = await client.register(
            phone.username, phone.password, contact=contact, extra="Supported: outbound"
        )
        assert ok is not None and ok.status == 200
        client.answer_requests = False  # the flow dies: OPTIONS go unanswered
        for _ in range(60):
            await client.receive(timeout=0.1)
            if not sip.service.bindings_of(phone.id):
                break
        assert sip.service.bindings_of(phone.id) == []
        assert any(r.is_request and r.method == "OPTIONS" for r in client.requests)


async def test_reg_id_through_a_proxy_without_path(
    pool: asyncpg.Pool[Any], start_sip: Any, customer_id: str
) -> None:
    """A REGISTER relayed by a proxy that adds no Path (two Vias): that hop keeps no flow
    for the phone, so its reg-id does not count (RFC 5626 §6)."""
    phone = await new_phone(pool, customer_id)
    sip = await start_sip(trusted_proxies=LOOPBACK)
    async with SipClient(server=sip.address("udp")) as relay:
        contact = f'<sip:phone@127.0.0.1:5099>;+sip.instance="{INSTANCE}";reg-id=1'
        below = "Via: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bKphone1;rport=5099"
        ok = await relay.register(phone.username, phone.password, contact=contact,
            extra=f"{below}\r\nSupported: outbound",
        )  # fmt: skip
        assert ok is not None and ok.status == 200 and ok.h("Require") is None
        assert [b.reg_id for b in sip.service.bindings_of(phone.id)] == [None]
        # and its refresh (the refresh lane) keeps it so
        ok = await relay.register(phone.username, phone.password, contact=contact, extra=below)
        assert ok is not None and ok.status == 200
        assert [b.reg_id for b in sip.service.bindings_of(phone.id)] == [None]


async def test_flows_of_one_instance_on_two_nodes_get_one_check_sync(
    pool: asyncpg.Pool[Any], start_sip: Any, customer_id: str
) -> None:
    """Two TCP flows of one instance reach two nodes (workers): check-sync asked of either
    node is sent once, by the node of the newest flow, and the other flow stays quiet."""
    from sipcore.server.nodes.node_link import NodeLink

    phone = await new_phone(pool, customer_id)
    nodes = [await start_sip(node_id="node-a"), await start_sip(node_id="node-b")]
    links = [
        NodeLink(sip.service.bindings, sip.service.check_sync, pool, node)
        for sip, node in zip(nodes, ("node-a", "node-b"), strict=True)
    ]
    for link in links:
        await link.start()
    clients = [await SipClient(server=sip.address("tcp"), transport="tcp").open() for sip in nodes]
    try:
        for reg_id, client in enumerate(clients, 1):  # flow 2, on node-b, is the newest
            ok = await client.register(phone.username, phone.password, contact=_outbound_contact(client, reg_id),
                extra="Supported: outbound", expires=300 + reg_id * 100,
            )  # fmt: skip
            assert ok is not None and ok.status == 200
        for asked in links:  # whichever node the API asks
            for client in clients:
                client.requests.clear()
            task = asyncio.ensure_future(asked.check_sync(phone.id, reboot=False))
            while not task.done():
                await asyncio.gather(*(client.receive(timeout=0.1) for client in clients))
            assert [(o.status, o.outcome) for o in task.result()] == [(200, "ok")]
            assert [len(client.requests) for client in clients] == [0, 1]
    finally:
        for client in clients:
            client.close()
        for link in links:
            await link.stop()


async def test_gruu_only_for_an_instance_that_is_a_plain_urn(
    pool: asyncpg.Pool[Any], start_sip: Any, customer_id: str
) -> None:
    phone = await new_phone(pool, customer_id)
    sip = await start_sip()
    async with SipClient(server=sip.address("udp")) as client:
        odd = f'{client.contact};+sip.instance="<urn:uuid:a b\\"c>"'
        ok = await client.register(phone.username, phone.password, contact=odd,
                            extra="Supported: gruu")  # fmt: skip
        assert ok is not None and ok.status == 200
        (line,) = ok.all("Contact")
        assert "pub-gruu" not in line and "+sip.instance" not in line
        # without Supported: gruu, none either
        plain = f'{client.contact};+sip.instance="{INSTANCE}"'
        ok = await client.register(phone.username, phone.password, contact=plain)
        assert ok is not None and "pub-gruu" not in ok.all("Contact")[0]


async def test_keepalive_through_an_edge_over_tcp_is_an_options(
    pool: asyncpg.Pool[Any], start_sip: Any, customer_id: str
) -> None:
    """Through an edge over TCP the connection is the edge's, not the phone's: the phone
    is probed with an OPTIONS through the edge (over that connection, Route from the
    Path), and its answers are what keep it reachable."""
    phone = await new_phone(pool, customer_id)
    sip = await start_sip(trusted_proxies=LOOPBACK, keepalive_interval=1)
    async with SipClient(server=sip.address("tcp"), transport="tcp") as edge:
        hop = f"<sip:127.0.0.1:{edge.local_port};transport=tcp;lr;received=sip:192.0.2.8:5070>"
        contact = "<sip:phone@192.0.2.8:5070;transport=tcp>"
        ok = await edge.register(
            phone.username, phone.password, contact=contact, extra=f"Path: {hop}"
        )
        assert ok is not None and ok.status == 200
        (binding,) = sip.service.bindings_of(phone.id)
        keepalive = sip.service.keepalive
        for _ in range(40):
            await edge.receive(timeout=0.1)
            if keepalive.rtt(phone.id, binding.contact) is not None:
                break
        options = [r for r in edge.requests if r.method == "OPTIONS"]
        assert options and options[0].all("Route") == [hop]
        assert options[0].uri == "sip:phone@192.0.2.8:5070;transport=tcp"
        assert keepalive.rtt(phone.id, binding.contact) is not None
