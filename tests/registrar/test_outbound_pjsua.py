"""pjsua2 with SIP outbound (RFC 5626) and GRUU (RFC 5627) straight to sipfleet: two
flows of one instance (two accounts, two TCP connections, reg-id 1 and 2), the 200 the
phone gets, check-sync reaching the device once, and a flow whose connection closes.

(pjsua2 2.15 puts reg-id and +sip.instance on its TCP/TLS Contacts only — over UDP it
registers without them — so a dead UDP flow is tested with hand-written SIP in
test_path_outbound.py.)"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from tests.support.phones import new_phone
from tests.support.pjsua import INSTANCE, PjPhone, poll
from tests.support.sip_client import REALM

pytestmark = pytest.mark.pjsua


async def _poll_while(task: asyncio.Future[Any]) -> Any:
    """pjsua2 answers only while polled: poll until the task is done."""
    while not task.done():
        await asyncio.to_thread(poll, 0.05)
    return task.result()


async def test_pjsua_outbound_two_flows_gruu_and_a_closed_flow(
    pool: asyncpg.Pool[Any], start_sip: Any, customer_id: str
) -> None:
    phone = await new_phone(pool, customer_id)
    sip = await start_sip(keepalive_interval=600)
    host, port = sip.address("tcp")
    registrar = f"sip:{host}:{port}"
    one = PjPhone(
        phone.username, phone.password, registrar, transport="tcp", outbound_reg_id=1,
        id_host=REALM, local_ip="127.0.1.21",
    )  # fmt: skip
    two = PjPhone(
        phone.username, phone.password, registrar, transport="tcp", outbound_reg_id=2,
        id_host=REALM, local_ip="127.0.1.22",
    )  # fmt: skip
    try:
        assert await asyncio.to_thread(one.register, 8.0) == 200
        ok = one.account.messages[-1]
        assert "Require: outbound" in ok and "Flow-Timer: 600" in ok
        gruu = f'pub-gruu="sip:{phone.username}@{REALM};gr={INSTANCE.strip("<>")}"'
        assert gruu in ok
        assert await asyncio.to_thread(two.register, 8.0) == 200
        flows = sorted(
            (b.reg_id, b.source_ip, b.instance_id) for b in sip.service.bindings_of(phone.id)
        )
        assert flows == [(1, "127.0.1.21", INSTANCE), (2, "127.0.1.22", INSTANCE)]
        assert gruu in two.account.messages[-1]  # the same GRUU: one instance
        by_reg = {b.reg_id: b.contact for b in sip.service.bindings_of(phone.id)}
        # check-sync goes to the device's newest flow (reg-id 2), then to the next while
        # none answers — pjsua2 drops an out-of-dialog NOTIFY it has no module for
        # without an answer, so here both flows are tried, one after the other
        task = asyncio.ensure_future(
            sip.service.check_sync_notifier.check_sync(phone.id, reboot=False, timeout=1.0)
        )
        outcomes = await _poll_while(task)
        assert [(o.contact, o.outcome) for o in outcomes] == [
            (by_reg[2], "timeout"), (by_reg[1], "timeout"),
        ]  # fmt: skip
        # flow 2's connection closes: its binding is dropped, check-sync takes flow 1 only
        assert await asyncio.to_thread(two.drop_connections, "127.0.1.22") == 1
        for _ in range(40):
            if len(sip.service.bindings_of(phone.id)) == 1:
                break
            await asyncio.sleep(0.05)
        assert [b.reg_id for b in sip.service.bindings_of(phone.id)] == [1]
        task = asyncio.ensure_future(
            sip.service.check_sync_notifier.check_sync(phone.id, reboot=False, timeout=1.0)
        )
        outcomes = await _poll_while(task)
        assert [o.contact for o in outcomes] == [by_reg[1]]
        assert phone.id in sip.service.online_phones()
    finally:
        await asyncio.to_thread(one.close)
        await asyncio.to_thread(two.close)
