"""pjsua2 with SIP outbound (RFC 5626) and GRUU (RFC 5627) straight to sipfleet: two
flows of one instance (two accounts, two TCP connections, reg-id 1 and 2), the 200 the
phone gets, check-sync reaching the device once, and a flow whose connection closes.

(pjsua2 2.15 puts reg-id and +sip.instance on its TCP/TLS Contacts only — over UDP it
registers without them — so a dead UDP flow is tested with hand-written SIP in
test_path_outbound.py.)"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from typing import Any

import asyncpg
import pjsua2 as pj
import psutil
import pytest

from tests.registrar.conftest import new_phone
from tests.registrar.sipclient import REALM
from tests.registrar.sipphone import TRANSPORT_TYPES, endpoint, poll

pytestmark = pytest.mark.pjsua

INSTANCE = "<urn:uuid:5f0c1a2e-7d0b-4c4e-9d7a-3a1b2c3d4e5f>"


class _Account(pj.Account):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.codes: list[int] = []
        self.messages: list[str] = []

    def onRegState(self, prm: Any) -> None:
        self.codes.append(int(prm.code))
        self.messages.append(str(prm.rdata.wholeMsg))


class OutboundPhone:
    """A pjsua2 account with sipOutboundUse on its own transport; `proxy` (a SIP URI)
    puts an outbound proxy in front of the registrar."""

    def __init__(
        self,
        username: str,
        password: str,
        registrar: str,
        *,
        transport: str,
        reg_id: int,
        local_ip: str = "127.0.0.1",
        proxy: str | None = None,
    ) -> None:
        ep = endpoint()
        tp_config = pj.TransportConfig()
        tp_config.boundAddress = local_ip
        tp_config.publicAddress = local_ip
        self.transport_id = ep.transportCreate(TRANSPORT_TYPES[transport], tp_config)
        self.local_port = int(ep.transportGetInfo(self.transport_id).localName.split(":")[-1])
        config = pj.AccountConfig()
        config.idUri = f"sip:{username}@{REALM}"
        suffix = "" if transport == "udp" else f";transport={transport}"
        config.regConfig.registrarUri = f"{registrar}{suffix}"
        config.regConfig.registerOnAdd = False
        config.regConfig.timeoutSec = 300
        config.regConfig.retryIntervalSec = 0
        config.regConfig.firstRetryIntervalSec = 0
        if proxy is not None:
            config.sipConfig.proxies.append(f"{proxy}{suffix}")
        config.sipConfig.transportId = self.transport_id
        config.natConfig.viaRewriteUse = 0
        config.natConfig.contactRewriteUse = 0
        config.natConfig.sdpNatRewriteUse = 0
        config.natConfig.sipOutboundUse = 1
        config.natConfig.sipOutboundInstanceId = INSTANCE
        config.natConfig.sipOutboundRegId = str(reg_id)
        config.natConfig.udpKaIntervalSec = 0
        config.presConfig.publishEnabled = False
        header = pj.SipHeader()  # pjsua2 has no GRUU switch: ask for it by header
        header.hName = "Supported"
        header.hValue = "gruu"
        config.regConfig.headers.append(header)
        config.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", username, 0, password))
        self.account = _Account()
        self.account.create(config)

    def register(self, timeout: float = 8.0) -> int | None:
        ep = endpoint()
        before = len(self.account.codes)
        self.account.setRegistration(True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ep.libHandleEvents(10)
            if len(self.account.codes) > before:
                return self.account.codes[-1]
        return None

    def drop_connections(self, local_ip: str) -> int:
        """Shut down the phone's TCP connections from `local_ip` at the socket (as a
        NAT or a dead link would end them); pjsua2 gives no handle to them."""
        dropped = 0
        for conn in psutil.Process().net_connections(kind="tcp"):
            if conn.laddr and conn.laddr.ip == local_ip and conn.raddr and conn.fd >= 0:
                with socket.socket(fileno=os.dup(conn.fd)) as sock:
                    sock.shutdown(socket.SHUT_RDWR)
                dropped += 1
        poll(0.1)
        return dropped

    def close(self) -> None:
        ep = endpoint()
        with contextlib.suppress(pj.Error):
            self.account.shutdown()
        poll(0.05)
        with contextlib.suppress(pj.Error):
            ep.transportClose(self.transport_id)
        poll(0.05)


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
    one = OutboundPhone(
        phone.username, phone.password, registrar, transport="tcp", reg_id=1, local_ip="127.0.1.21"
    )
    two = OutboundPhone(
        phone.username, phone.password, registrar, transport="tcp", reg_id=2, local_ip="127.0.1.22"
    )
    try:
        assert await asyncio.to_thread(one.register) == 200
        ok = one.account.messages[-1]
        assert "Require: outbound" in ok and "Flow-Timer: 600" in ok
        gruu = f'pub-gruu="sip:{phone.username}@{REALM};gr={INSTANCE.strip("<>")}"'
        assert gruu in ok
        assert await asyncio.to_thread(two.register) == 200
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
            sip.service.client.check_sync(phone.id, reboot=False, timeout=1.0)
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
            sip.service.client.check_sync(phone.id, reboot=False, timeout=1.0)
        )
        outcomes = await _poll_while(task)
        assert [o.contact for o in outcomes] == [by_reg[1]]
        assert phone.id in sip.service.online_phones()
    finally:
        await asyncio.to_thread(one.close)
        await asyncio.to_thread(two.close)
