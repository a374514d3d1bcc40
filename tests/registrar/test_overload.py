"""Overload control end to end: a SIP service forced into full overload (a lag threshold
no real wait stays under, so it admits no new work at all) refuses a fresh REGISTER with 503 + Retry-After before any digest
work, while an authenticated REGISTER (its challenge came earlier, here from another node
sharing the nonce key) is still served and its retransmission still absorbed."""

from __future__ import annotations

import os
from typing import Any

import asyncpg

from sipcore import metrics
from sipcore.overload import RETRY_AFTER_MAX, RETRY_AFTER_MIN
from tests.support.phones import new_phone
from tests.support.sip_client import REALM, SipClient
from tests.support.waiting import wait_until


def shed(method: str) -> float:
    value = metrics.REGISTRY.get_sample_value(
        "sipfleet_sip_overload_shed_total", {"method": method}
    )
    return value or 0.0


async def test_overloaded_refuses_new_work_and_finishes_paid_work(
    pool: asyncpg.Pool[Any], start_sip: Any, customer_id: str
) -> None:
    phone = await new_phone(pool, customer_id)
    calm = await start_sip()
    busy = await start_sip(overload_lag=1e-9)  # every measured wait is above this
    # every sample lags, so the admitted share of new requests falls to 0 and stays there
    await wait_until(lambda: busy.service.overload.admit == 0.0, timeout=30.0)
    assert busy.service.overload.active
    assert not calm.service.overload.active
    assert metrics.REGISTRY.get_sample_value("sipfleet_sip_overload") == 1
    async with SipClient(server=busy.address("udp")) as client:
        before = shed("REGISTER")
        client.send(client.register_bytes(phone.username))
        refused = await client.receive()
        assert refused is not None and refused.status == 503
        retry = refused.h("Retry-After")
        assert retry is not None and RETRY_AFTER_MIN <= int(retry) <= RETRY_AFTER_MAX
        assert refused.all("WWW-Authenticate") == []
        assert shed("REGISTER") == before + 1

        # The first half answered by a calm node, the second half by the busy one.
        client.server = calm.address("udp")
        challenge = await client.challenge(phone.username)
        assert challenge.status == 401
        auth = client.credentials(challenge, phone.username, phone.password)
        client.server = busy.address("udp")
        second = client.register_bytes(phone.username, authorization=auth)
        client.send(second)
        ok = await client.receive()
        assert ok is not None and ok.status == 200
        assert busy.service.online_phones() == {phone.id}
        client.send(second)  # a retransmission: the stored 200, not a 503
        again = await client.receive()
        assert again is not None and again.status == 200
        assert shed("REGISTER") == before + 1

        # Other new requests without credentials are refused the same way.
        options_before = shed("OPTIONS")
        port = client.local_port
        client.send(
            (
                f"OPTIONS sip:{REALM} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{os.urandom(6).hex()};rport\r\n"
                f"Max-Forwards: 70\r\nFrom: <sip:probe@{REALM}>;tag=1\r\n"
                f"To: <sip:{REALM}>\r\nCall-ID: {os.urandom(8).hex()}\r\n"
                "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
            ).encode()
        )
        options = await client.receive()
        assert options is not None and options.status == 503
        assert options.h("Retry-After") is not None
        assert shed("OPTIONS") == options_before + 1
