"""`RequestSender`, the I/O side of the client transactions (RFC 3261 §17.1.2), on a fake
flow: it carries out the sans-IO machine's effects (Timer E resends the same bytes over
the same flow, Timer F ends the wait with None), matches answers on their raw bytes for
`start()` and hands the parsed response to `send()`. No sockets, no database."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sipcore.message import SipRequest, SipResponse, build_request, make_response, new_via
from sipcore.parser import parse_message
from sipcore.server.context import RequestContext
from sipcore.server.transport.client import RequestSender
from sipcore.server.transport.connections import Address, Connection, ConnectionTable

T1, T2 = 0.04, 0.16


class Flow(Connection):
    """A connection that records what is sent over it (or fails, when told to)."""

    def __init__(self, transport: str = "udp") -> None:
        self.transport = transport
        self.remote = ("10.0.0.5", 5060)
        self.local = ("0.0.0.0", 5060)
        self.sent: list[tuple[bytes, Address | None]] = []
        self.fail = False

    def send(self, data: bytes, address: Address | None = None) -> None:
        if self.fail:
            raise OSError("network is unreachable")
        self.sent.append((data, address))


class Sink:
    def on_message(self, connection: Connection, data: bytes, source: Address) -> None: ...

    def on_bad_input(self, transport: str) -> None: ...

    def on_connection_closed(self, connection: Connection) -> None: ...


@pytest.fixture
def table() -> Iterator[ConnectionTable]:
    connections = ConnectionTable(total=10)
    yield connections
    connections.close_all()


def sender(table: ConnectionTable) -> RequestSender:
    return RequestSender(
        connections=table, listeners=lambda: None, sink=Sink(), t1=T1, t2=T2,
        via_host="sipfleet.test", tcp_idle_timeout=30.0,
    )  # fmt: skip


def notify_bytes(client: RequestSender, flow: Flow, branch: str) -> bytes:
    return (
        f"NOTIFY sip:phone@10.0.0.5 SIP/2.0\r\nVia: {client.via_prefix(flow)}{branch};rport\r\n"
        "From: <sip:sipfleet.test>;tag=a\r\nTo: <sip:phone@10.0.0.5>;tag=b\r\n"
        "Call-ID: c1\r\nCSeq: 7 NOTIFY\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def answer(data: bytes, status: int) -> bytes:
    request = parse_message(data)
    assert isinstance(request, SipRequest)
    return make_response(request, status, to_tag="p").to_bytes()


async def test_lean_transaction_retransmits_until_its_answer(table: ConnectionTable) -> None:
    client, flow = sender(table), Flow()
    statuses: list[int | None] = []
    branch = client.new_branch()
    data = notify_bytes(client, flow, branch)
    assert b"Via: SIP/2.0/UDP sipfleet.test:5060;branch=" in data  # a wildcard-bound socket
    client.start("NOTIFY", branch, data, flow, ("10.0.0.5", 5060), statuses.append)
    await asyncio.sleep(T1 * 5)  # Timer E: at T1, then 3*T1 (next: 7*T1)
    assert flow.sent == [(data, ("10.0.0.5", 5060))] * 3
    assert client.on_response_bytes(answer(data, 100))  # a provisional answer: waits on
    assert statuses == []
    final = answer(data, 200)
    assert client.on_response_bytes(final)
    assert statuses == [200]
    assert not client.on_response_bytes(final)  # nothing running: the full parse drops it
    second = client.new_branch()
    client.start("NOTIFY", second, notify_bytes(client, flow, second), flow, None, print)
    assert client.on_response_bytes(final)  # a late copy: ours by its branch, dropped
    other = final.replace(branch.encode(), b"z9hG4bKnotours")
    assert not client.on_response_bytes(other)  # not ours: the full parse decides
    assert statuses == [200]
    client.cancel_all()
    await asyncio.sleep(T1 * 4)
    assert len(flow.sent) == 4  # nothing after the answer (and the second one's first)


async def test_timer_f_and_a_failed_retransmission_end_with_none(
    table: ConnectionTable,
) -> None:
    client = sender(table)
    quiet, broken = Flow(), Flow()
    heard: dict[str, int | None] = {}

    def hear(name: str) -> Callable[[int | None], None]:
        return lambda status: heard.__setitem__(name, status)

    for name, flow in (("quiet", quiet), ("broken", broken)):
        client.start("OPTIONS", client.new_branch(), b"x", flow, None, hear(name), 5 * T1)
    broken.fail = True
    await asyncio.sleep(T1 * 1.8)
    assert heard == {"broken": None}  # its first retransmission failed
    await asyncio.sleep(T1 * 5)
    assert heard == {"broken": None, "quiet": None}  # Timer F = the timeout given
    assert len(quiet.sent) == 3  # 0, T1, 3*T1 (then F at 5*T1)


async def test_send_gets_the_parsed_response(table: ConnectionTable) -> None:
    client, flow = sender(table), Flow()
    ctx = RequestContext(
        transport="udp", source_ip="10.0.0.5", source_port=5062, local_ip="0.0.0.0",
        local_port=5060, connection=flow, received_at=0.0,
    )  # fmt: skip
    request = build_request(
        "OPTIONS", "sip:phone@10.0.0.5", via=new_via("UDP", "placeholder"),
        from_="<sip:sipfleet.test>;tag=a", to="<sip:phone@10.0.0.5>", call_id="o1", cseq=1,
    )  # fmt: skip
    task = asyncio.ensure_future(client.send(request, ctx, 1.0))
    await asyncio.sleep(0.001)
    (data, address), *_ = flow.sent
    assert address == ("10.0.0.5", 5062)
    sent = parse_message(data)
    assert sent.top_via().host == "sipfleet.test"  # our Via replaces the request's
    reply = answer(data, 200)
    assert not client.on_response_bytes(reply)  # its caller wants the whole message
    parsed = parse_message(reply)
    assert isinstance(parsed, SipResponse)
    client.on_response(parsed)
    assert await task == parsed


async def test_cancel_all_cancels_waiting_sends(table: ConnectionTable) -> None:
    client, flow = sender(table), Flow()
    ctx: Any = RequestContext(
        transport="udp", source_ip="10.0.0.5", source_port=5062, local_ip="10.0.0.1",
        local_port=5060, connection=flow, received_at=0.0,
    )  # fmt: skip
    request = build_request(
        "OPTIONS", "sip:phone@10.0.0.5", via=new_via("UDP", "placeholder"),
        from_="<sip:sipfleet.test>;tag=a", to="<sip:phone@10.0.0.5>", call_id="o2", cseq=1,
    )  # fmt: skip
    task = asyncio.ensure_future(client.send(request, ctx, 1.0))
    await asyncio.sleep(0.001)
    client.cancel_all()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(T1 * 2)
    assert len(flow.sent) == 1  # nothing retransmitted after
