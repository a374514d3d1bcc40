"""Inputs the fuzz bench (bench/fuzz/fuzz.py) found to end in a traceback, each sent over
a real socket to the SIP service started in-process: the service answers or drops them
and logs no traceback (nor an exception of a task never retrieved)."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
from typing import Any

import pytest

from sipcore.message import SipRequest
from sipcore.server.context import RequestContext
from tests.support.phones import new_phone
from tests.support.sip_client import REALM, SipClient


def _subscribe(local: tuple[str, int], to_params: str) -> bytes:
    lines = [
        f"SUBSCRIBE sip:101@{REALM} SIP/2.0",
        f"Via: SIP/2.0/UDP {local[0]}:{local[1]};branch=z9hG4bK{os.urandom(5).hex()};rport",
        "Max-Forwards: 70",
        f"From: <sip:someone@{REALM}>;tag=1",
        f"To: <sip:101@{REALM}>{to_params}",
        f"Call-ID: {os.urandom(6).hex()}@fuzz",
        "CSeq: 1 SUBSCRIBE",
        f"Contact: <sip:someone@{local[0]}:{local[1]}>",
        "Event: dialog",
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def test_unanswerable_request_in_a_handler_task_is_dropped_without_traceback(
    start_sip: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A SUBSCRIBE whose To header has a tag and then a broken parameter: the handler's
    challenge cannot be built (the To cannot be parsed), and neither could the 400 for it
    — the error escaped the handler's task ("Task exception was never retrieved")."""
    sip = await start_sip()
    service = sip.service

    async def handler(request: SipRequest, ctx: RequestContext) -> Any:
        return (await service.authenticate(request, ctx)).response

    service.register_method("SUBSCRIBE", handler)
    client = await SipClient(server=sip.address("udp")).open()
    dropped_before = service.dropped
    try:
        with caplog.at_level(logging.DEBUG):
            local = ("127.0.0.1", client.local_port)
            client.send(_subscribe(local, ";tag=x;;"))
            assert await client.receive(timeout=1) is None  # nothing can answer it
            await asyncio.sleep(0.2)
            gc.collect()  # a task's unretrieved exception is reported when it is freed
            await asyncio.sleep(0)
            client.send(_subscribe(local, ""))  # the service still answers the next one
            answer = await client.receive()
            assert answer is not None and answer.status == 401
        assert service.dropped == dropped_before + 1  # counted as bad input
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    finally:
        client.close()


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("1..2.3", 200),  # a host name to the URI grammar, but three dots and digits
        ("1.2.3.", 200),
        (".1.2.3", 400),  # refused by the URI grammar
        ("\u0661.\u0662.\u0663.\u0664", 400),
        ("1.\u00b2.3.4", 400),
    ],
)
async def test_contact_host_almost_dotted_quad_is_answered_without_traceback(
    pool: Any,
    start_sip: Any,
    customer_id: str,
    host: str,
    status: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A REGISTER whose Contact host has three dots and digits around them, but an empty
    part: the phone's local address check raised ValueError (int('')) and the REGISTER
    got a 500 with a traceback."""
    phone = await new_phone(pool, customer_id)
    sip = await start_sip()
    async with SipClient(server=sip.address("udp")) as client:
        with caplog.at_level(logging.INFO):
            contact = f"<sip:{phone.username}@{host}:5060>"
            answer = await client.register(phone.username, phone.password, contact=contact)
        assert answer is not None and answer.status == status
        if status == 200:
            [binding] = sip.service.bindings_of(phone.id)
            assert binding.local_ip == "127.0.0.1"  # not the Contact's: the Via's
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


async def test_a_binding_with_a_long_contact_moves_between_nodes(
    pool: Any, start_sip: Any, customer_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A phone's binding whose Contact is longer than a NOTIFY payload may be (8,000
    bytes) moves to another node: the move trigger's pg_notify failed, which failed the
    whole group commit — every REGISTER of that batch, any phone — and stalled the writer.
    Now the notification names the contact by its hash and the old node still forgets it."""
    from sipcore.server.nodes.node_link import NodeLink

    phone = await new_phone(pool, customer_id)
    first = await start_sip(node_id="node-a")
    second = await start_sip(node_id="node-b")
    links = [
        NodeLink(sip.service.bindings, sip.service.check_sync, pool, node)
        for sip, node in ((first, "node-a"), (second, "node-b"))
    ]
    for link in links:
        await link.start()
    clients = []
    try:
        for sip in (first, second):  # the same phone, the same flow's Contact, each node
            client = await SipClient(server=sip.address("udp")).open()
            clients.append(client)
            if len(clients) == 1:
                contact = f"<sip:{phone.username}@127.0.0.1:{client.local_port};x={'a' * 9000}>"
            with caplog.at_level(logging.INFO):
                answer = await client.register(phone.username, phone.password, contact=contact)
            assert answer is not None and answer.status == 200
        deadline = asyncio.get_running_loop().time() + 5
        while first.service.bindings_of(phone.id):  # the old node forgets it
            assert asyncio.get_running_loop().time() < deadline, "node-a kept the binding"
            await asyncio.sleep(0.05)
        assert links[0].moved == 1
        assert len(second.service.bindings_of(phone.id)) == 1
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    finally:
        for client in clients:
            client.close()
        for link in links:
            await link.stop()


@pytest.mark.parametrize(("reg_id", "status"), [("2147483647", 200), ("2147483648", 400)])
async def test_a_reg_id_beyond_its_range_is_a_bad_request(
    pool: Any,
    start_sip: Any,
    customer_id: str,
    reg_id: str,
    status: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """reg-id is 1 to 2**31-1 (RFC 5626 §4.2): a ten-digit one above that reached the
    database's integer column and failed the whole group commit (any phone's REGISTERs in
    the batch: 503)."""
    phone = await new_phone(pool, customer_id)
    sip = await start_sip()
    async with SipClient(server=sip.address("udp")) as client:
        contact = (
            f'{client.contact};+sip.instance="<urn:uuid:00000000-0000-0000-0000-000000000001>"'
            f";reg-id={reg_id}"
        )
        with caplog.at_level(logging.INFO):
            answer = await client.register(phone.username, phone.password, contact=contact)
        assert answer is not None and answer.status == status
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
