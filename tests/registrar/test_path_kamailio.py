"""Through a real SIP proxy: a phone registers to sipfleet through Kamailio (a minimal
loose-routing proxy, kamailio_path.cfg, that adds Path with ;received), and sipfleet's
check-sync NOTIFY and keep-alive OPTIONS to that phone go through the proxy and reach it,
although the phone registered a Contact nobody can reach directly; so do the NOTIFYs of
a subscription made through the proxy, which does not record-route; and pjsua2 with
outbound over TCP through the proxy (Path with ;ob) answers the keep-alives."""

from __future__ import annotations

import asyncio
import ipaddress
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from sipcore.server.presence.service import PresenceConfig, PresenceService
from tests.support import factories
from tests.support.phones import new_phone
from tests.support.processes import free_port
from tests.support.sip_client import REALM, SipClient

KAMAILIO = shutil.which("kamailio") or shutil.which("/usr/sbin/kamailio")
CONFIG = Path(__file__).with_name("kamailio_path.cfg")
PROXY_IP = "127.0.0.9"

pytestmark = pytest.mark.skipif(KAMAILIO is None, reason="kamailio is not installed")


class Proxy:
    def __init__(self, run_dir: Path, sipfleet: tuple[str, int]) -> None:
        assert KAMAILIO is not None
        self.port = free_port()
        self.log_path = run_dir / "kamailio.log"
        command = [
            KAMAILIO, "-f", str(CONFIG), "-DD", "-E", "-m", "32", "-M", "8",
            "-Y", str(run_dir), "-P", str(run_dir / "kamailio.pid"),
            "-A", f"LISTEN_IP={PROXY_IP}", "-A", f"LISTEN_PORT={self.port}",
            "-A", f'SIPFLEET="sip:{sipfleet[0]}:{sipfleet[1]}"', "-A", f'SIPFLEET_IP="{sipfleet[0]}"',
            "-A", f"SIPFLEET_PORT={sipfleet[1]}",
        ]  # fmt: skip
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


async def _started(proxy: Proxy) -> None:
    """Kamailio is up once it answers an OPTIONS (its 404: no Route, not a REGISTER)."""
    async with SipClient(server=(PROXY_IP, proxy.port)) as probe:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if proxy.process.poll() is not None:
                raise AssertionError(f"kamailio exited:\n{proxy.log()}")
            probe.send(
                (
                    f"OPTIONS sip:{PROXY_IP}:{proxy.port} SIP/2.0\r\n"
                    f"Via: SIP/2.0/UDP 127.0.0.1:{probe.local_port};branch=z9hG4bK{time.monotonic_ns()}\r\n"
                    "Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=p\r\n"
                    f"To: <sip:{PROXY_IP}>\r\nCall-ID: {time.monotonic_ns()}@probe\r\n"
                    "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
                ).encode()
            )
            if await probe.receive(timeout=0.3) is not None:
                return
        raise AssertionError(f"kamailio did not answer:\n{proxy.log()}")


async def test_requests_to_a_phone_registered_through_kamailio_take_its_path(
    pool: asyncpg.Pool[Any], start_sip: Any, customer_id: str, tmp_path: Path
) -> None:
    phone = await new_phone(pool, customer_id)
    sip = await start_sip(
        trusted_proxies=(ipaddress.ip_network(f"{PROXY_IP}/32"),), keepalive_interval=1
    )
    proxy = Proxy(tmp_path, sip.address("udp"))
    client: SipClient | None = None
    try:
        await _started(proxy)
        client = await SipClient(server=(PROXY_IP, proxy.port)).open()
        contact = "<sip:phone@192.0.2.9:5060>"  # TEST-NET: reachable only through the Path
        ok = await client.register(
            phone.username, phone.password, contact=contact, extra="Supported: path"
        )
        assert ok is not None and ok.status == 200, (ok, proxy.log())
        (path,) = ok.all("Path")  # the proxy's Path, echoed
        assert f"@{PROXY_IP}:{proxy.port};lr;received=" in path, path
        (binding,) = sip.service.bindings_of(phone.id)
        assert binding.path == path and binding.source_ip == PROXY_IP
        # check-sync: sipfleet -> Kamailio (Route from the Path) -> the phone's address
        task = asyncio.ensure_future(
            sip.service.check_sync_notifier.check_sync(phone.id, reboot=True, timeout=3.0)
        )
        while not task.done():
            await client.receive(timeout=0.1)
        assert [(o.status, o.outcome) for o in task.result()] == [(200, "ok")], proxy.log()
        notify = next(r for r in client.requests if r.method == "NOTIFY")
        assert notify.uri == "sip:phone@192.0.2.9:5060"  # the Contact as Request-URI
        assert notify.h("Event") == "check-sync;reboot=true"
        assert notify.all("Route") == []  # the proxy consumed its own Route
        vias = notify.values("Via")
        assert len(vias) == 2 and f"{PROXY_IP}:{proxy.port}" in vias[0]  # via the proxy
        # keep-alive OPTIONS take the same way, and the phone's answers keep it reachable
        for _ in range(40):
            await client.receive(timeout=0.1)
            if any(r.is_request and r.method == "OPTIONS" for r in client.requests):
                break
        options = next(r for r in client.requests if r.method == "OPTIONS")
        assert options.uri == "sip:phone@192.0.2.9:5060"
        assert f"{PROXY_IP}:{proxy.port}" in options.values("Via")[0]
        for _ in range(20):
            await client.receive(timeout=0.1)
            if sip.service.keepalive.rtt(phone.id, binding.contact) is not None:
                break
        assert sip.service.keepalive.rtt(phone.id, binding.contact) is not None
        assert phone.id in sip.service.online_phones()
    finally:
        if client is not None:
            client.close()
        proxy.stop()


async def test_notifies_of_a_subscription_through_kamailio_take_the_path(
    pool: asyncpg.Pool[Any], start_sip: Any, customer_id: str, tmp_path: Path
) -> None:
    async with pool.acquire() as conn:
        await factories.extension(conn, customer_id, "101")
        watcher = await factories.phone(conn, customer_id)
    sip = await start_sip(trusted_proxies=(ipaddress.ip_network(f"{PROXY_IP}/32"),))
    await sip.service.directory.refresh(watcher.id)
    presence = PresenceService(
        sip=sip.service,
        pool=pool,
        config=PresenceConfig(
            realm=REALM, node="test-node", min_expires=1, max_expires=3600,
            default_expires=3600, notify_min_interval=0.0,
        ),
    )  # fmt: skip
    await presence.start()
    proxy = Proxy(tmp_path, sip.address("udp"))
    endpoint: SipClient | None = None
    try:
        await _started(proxy)
        endpoint = await SipClient(
            watcher.username, watcher.password, (PROXY_IP, proxy.port)
        ).open()
        registered = await endpoint.register()
        assert registered.status == 200, proxy.log()
        assert sip.service.bindings_of(watcher.id)[0].path is not None
        subscribed, _ = await endpoint.subscribe("101")
        assert subscribed.status == 200, proxy.log()
        assert subscribed.h("record-route") is None  # no route set from the proxy
        notify = await endpoint.next_notify()
        vias = notify.headers["via"]
        assert len(vias) == 2 and f"{PROXY_IP}:{proxy.port}" in vias[0], vias  # via the proxy
        assert "route" not in notify.headers  # the proxy consumed the Route from the Path
    finally:
        if endpoint is not None:
            endpoint.close()
        await presence.stop()
        proxy.stop()


@pytest.mark.pjsua
async def test_pjsua_with_outbound_over_tcp_through_kamailio(
    pool: asyncpg.Pool[Any], start_sip: Any, customer_id: str, tmp_path: Path
) -> None:
    """pjsua2 registers over TCP to the proxy with outbound; the proxy's Path has ;ob, so
    the reg-id counts, and sipfleet's keep-alive OPTIONS reach pjsua2 through the proxy
    (over the phone's own TCP connection to it) and are answered."""
    from tests.support.pjsua import INSTANCE, PjPhone, poll

    phone = await new_phone(pool, customer_id)
    sip = await start_sip(
        trusted_proxies=(ipaddress.ip_network(f"{PROXY_IP}/32"),), keepalive_interval=1
    )
    proxy = Proxy(tmp_path, sip.address("udp"))
    pj_phone: Any = None
    try:
        await _started(proxy)
        pj_phone = PjPhone(
            phone.username, phone.password, f"sip:{REALM}", transport="tcp", outbound_reg_id=1,
            id_host=REALM, local_ip="127.0.1.31", proxy=f"sip:{PROXY_IP}:{proxy.port};lr",
        )  # fmt: skip
        assert await asyncio.to_thread(pj_phone.register, 8.0) == 200, proxy.log()
        ok = pj_phone.account.messages[-1]
        assert "Require: outbound" in ok and "Path: <sip:edge@" in ok, ok
        (binding,) = sip.service.bindings_of(phone.id)
        assert binding.reg_id == 1 and binding.instance_id == INSTANCE
        assert binding.path is not None and ";ob" in binding.path
        assert "transport%3dtcp" in binding.path.lower()  # (escaped) the phone's TCP flow
        keepalive = sip.service.keepalive
        for _ in range(80):  # pjsua2 answers the OPTIONS while polled
            await asyncio.to_thread(poll, 0.05)
            if keepalive.rtt(phone.id, binding.contact) is not None:
                break
        assert keepalive.rtt(phone.id, binding.contact) is not None, proxy.log()
    finally:
        if pj_phone is not None:
            await asyncio.to_thread(pj_phone.close)
        proxy.stop()
