"""pjsua2 (the PJSIP user agent) as real SIP phones in tests: accounts that register,
publish their presence and watch buddies (BLF), with SIP outbound (RFC 5626) when asked.

pjsua2 allows one `Endpoint` per process, so it is a module-level singleton created on
first use, under a lock, with `threadCnt=0` (every callback runs inside
`libHandleEvents`, which `poll` and `wait` call) and the null audio device (no sound card
here); each thread that touches it is registered with pjlib first. A `PjPhone` has its
own transport bound to `local_ip` (e.g. 127.0.1.5), so tests can make phones come from
distinct loopback addresses; `SharedTransport` puts several accounts on one transport
(one source address and port: phones behind one NAT).

    phone = PjPhone(username, password, "sip:127.0.0.1:5060", local_ip="127.0.1.5")
    assert phone.register(timeout=5) == 200
    phone.unregister()
    phone.close()

Not thread-safe: use from the test's thread (async tests: call it directly, it blocks
for at most `timeout`; run the server in a subprocess or another thread's loop, or
call through `asyncio.to_thread`). pjsua2 aborts the process beyond a few transports
and accounts: close what you open.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import pjsua2 as pj
import psutil

from tests.support.sip_client import REALM

INSTANCE = "<urn:uuid:5f0c1a2e-7d0b-4c4e-9d7a-3a1b2c3d4e5f>"  # +sip.instance of outbound phones

_lock = threading.RLock()
_endpoint: pj.Endpoint | None = None

TRANSPORT_TYPES = {
    "udp": pj.PJSIP_TRANSPORT_UDP,
    "tcp": pj.PJSIP_TRANSPORT_TCP,
    "tls": pj.PJSIP_TRANSPORT_TLS,
}


def endpoint() -> pj.Endpoint:
    """The process's one pjsua2 Endpoint, created and started on first use."""
    global _endpoint
    with _lock:
        if _endpoint is None:
            ep = pj.Endpoint()
            ep.libCreate()
            config = pj.EpConfig()
            config.uaConfig.threadCnt = 0
            config.uaConfig.mainThreadOnly = False
            config.logConfig.level = 0
            config.logConfig.consoleLevel = 0
            config.medConfig.noVad = True
            ep.libInit(config)
            ep.audDevManager().setNullDev()
            ep.libStart()
            _endpoint = ep
        _register_thread(_endpoint)
        return _endpoint


def _register_thread(ep: pj.Endpoint) -> None:
    # Ask pjlib, not a set of idents: Python reuses thread idents for new threads.
    if not ep.libIsThreadRegistered():
        ep.libRegisterThread(f"py-{threading.get_ident()}")


def poll(seconds: float) -> None:
    """Let pjsua2 run its timers and callbacks for about `seconds`."""
    ep = endpoint()
    deadline = time.monotonic() + seconds
    while True:
        ep.libHandleEvents(10)
        if time.monotonic() >= deadline:
            return


def wait(condition: Callable[[], Any], timeout: float) -> bool:
    """Poll pjsua2 until `condition()` holds (True) or `timeout` seconds pass (False)."""
    ep = endpoint()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ep.libHandleEvents(10)
        if condition():
            return True
    return False


class Account(pj.Account):  # type: ignore[misc]
    """An account that keeps every registration outcome: code and the whole response."""

    def __init__(self) -> None:
        super().__init__()
        self.codes: list[int] = []
        self.messages: list[str] = []

    @property
    def last_code(self) -> int | None:
        return self.codes[-1] if self.codes else None

    def onRegState(self, prm: Any) -> None:
        self.codes.append(int(prm.code))
        try:
            self.messages.append(str(prm.rdata.wholeMsg))
        except Exception:  # no response (a time-out): no message
            self.messages.append("")


class Buddy(pj.Buddy):  # type: ignore[misc]
    """A watched buddy; its presence state is read inside pjsua2's callback and kept."""

    def __init__(self) -> None:
        super().__init__()
        self.events = 0
        self.status: int | None = None
        self.note = ""
        self.activity: int | None = None
        self.sub_state: int | None = None

    def onBuddyState(self) -> None:
        info = self.getInfo()
        self.status = int(info.presStatus.status)
        self.note = str(info.presStatus.note)
        self.activity = int(info.presStatus.activity)
        self.sub_state = int(info.subState)
        self.events += 1


def online(buddy: Any) -> bool:
    return bool(buddy.status == pj.PJSUA_BUDDY_STATUS_ONLINE)


def offline(buddy: Any) -> bool:
    return bool(
        buddy.sub_state == pj.PJSIP_EVSUB_STATE_ACTIVE
        and buddy.status == pj.PJSUA_BUDDY_STATUS_OFFLINE
    )


def create_transport(
    local_ip: str,
    *,
    kind: str = "udp",
    public_address: str | None = None,
    port: int = 0,
    ca_file: str = "",
) -> int:
    """A pjsua2 transport bound to `local_ip` (saying `public_address` in Via/Contact)."""
    config = pj.TransportConfig()
    config.boundAddress = local_ip
    config.publicAddress = public_address or local_ip
    config.port = port
    if kind == "tls":
        config.tlsConfig.CaListFile = ca_file
        config.tlsConfig.verifyServer = bool(ca_file)
        config.tlsConfig.method = pj.PJSIP_TLSV1_2_METHOD
    return int(endpoint().transportCreate(TRANSPORT_TYPES[kind], config))


def close_transport(transport_id: int) -> None:
    with contextlib.suppress(pj.Error):
        endpoint().transportClose(transport_id)


def registrar_uri(registrar: str | tuple[str, int]) -> str:
    return registrar if isinstance(registrar, str) else f"sip:{registrar[0]}:{registrar[1]}"


def account_config(
    username: str,
    password: str,
    registrar: str | tuple[str, int],
    transport_id: int,
    *,
    transport: str = "udp",
    id_host: str | None = None,
    realm: str = "*",
    expires: int | None = 300,
    retry_seconds: int = 0,
    contact_params: str = "",
    user_agent: str = "",
    publish: bool = False,
    outbound_reg_id: int | None = None,
    proxy: str | None = None,
    headers: tuple[tuple[str, str], ...] = (),
) -> pj.AccountConfig:
    """An account registering at `registrar` over `transport_id`, registering only when
    asked, with none of pjsua2's NAT rewriting; SIP outbound with `outbound_reg_id`."""
    uri = registrar_uri(registrar)
    suffix = "" if transport == "udp" else f";transport={transport}"
    host = id_host or uri.removeprefix("sip:").removeprefix("sips:")
    config = pj.AccountConfig()
    config.idUri = f"sip:{username}@{host}"
    config.regConfig.registrarUri = f"{uri}{suffix}"
    config.regConfig.registerOnAdd = False
    if expires is not None:
        config.regConfig.timeoutSec = expires
    config.regConfig.retryIntervalSec = retry_seconds
    config.regConfig.firstRetryIntervalSec = retry_seconds
    if proxy is not None:
        config.sipConfig.proxies.append(f"{proxy}{suffix}")
    if contact_params:
        config.sipConfig.contactUriParams = contact_params
    config.sipConfig.transportId = transport_id
    config.natConfig.viaRewriteUse = 0
    config.natConfig.contactRewriteUse = 0
    config.natConfig.sdpNatRewriteUse = 0
    config.natConfig.sipOutboundUse = 0 if outbound_reg_id is None else 1
    if outbound_reg_id is not None:
        config.natConfig.sipOutboundInstanceId = INSTANCE
        config.natConfig.sipOutboundRegId = str(outbound_reg_id)
        headers = (("Supported", "gruu"), *headers)  # pjsua2 has no GRUU switch: a header
    config.natConfig.udpKaIntervalSec = 0
    config.presConfig.publishEnabled = publish
    if user_agent:  # pjsua2 sets User-Agent per endpoint; per account it is a header
        headers = (*headers, ("User-Agent", user_agent))
    for name, value in headers:
        header = pj.SipHeader()
        header.hName = name
        header.hValue = value
        config.regConfig.headers.append(header)
    config.sipConfig.authCreds.append(pj.AuthCredInfo("digest", realm, username, 0, password))
    return config


def _registration(account: Account, on: bool, timeout: float) -> int | None:
    """Start (or end) the registration; the final status code, or None."""
    endpoint()  # registers this thread with pjlib when it is a new one
    before = len(account.codes)
    try:
        account.setRegistration(on)
    except pj.Error:
        return None
    wait(lambda: len(account.codes) > before, timeout)
    return account.codes[-1] if len(account.codes) > before else None


class PjPhone:
    """One SIP account on its own transport and local address: it registers, publishes
    its presence (`publish=True`, `set_status`) and watches buddies (`watch`); with
    `outbound_reg_id` it is a SIP outbound flow of instance INSTANCE (Supported: gruu)."""

    def __init__(
        self,
        username: str,
        password: str,
        registrar: str | tuple[str, int],
        *,
        transport: str = "udp",
        local_ip: str = "127.0.0.1",
        local_port: int = 0,
        realm: str = "*",
        expires: int = 300,
        contact_params: str = "",
        ca_file: str = "",
        user_agent: str = "",
        publish: bool = False,
        id_host: str | None = None,
        outbound_reg_id: int | None = None,
        proxy: str | None = None,
    ) -> None:
        self.username = username
        self.transport = transport
        self.registrar = registrar_uri(registrar)
        self.transport_id = create_transport(
            local_ip, kind=transport, port=local_port, ca_file=ca_file
        )
        info = endpoint().transportGetInfo(self.transport_id)
        self.local_address = str(info.localName)
        self.local_port = int(self.local_address.rsplit(":", 1)[-1])
        config = account_config(
            username, password, registrar, self.transport_id, transport=transport,
            id_host=id_host, realm=realm, expires=expires, contact_params=contact_params,
            user_agent=user_agent, publish=publish, outbound_reg_id=outbound_reg_id,
            proxy=proxy,
        )  # fmt: skip
        self.account = Account()
        self.account.create(config)
        self.buddies: list[Buddy] = []

    def register(self, timeout: float = 5.0) -> int | None:
        """Send REGISTER (answering a challenge itself); the final status code or None."""
        return _registration(self.account, True, timeout)

    def unregister(self, timeout: float = 5.0) -> int | None:
        """REGISTER with Expires: 0; the final status code or None."""
        return _registration(self.account, False, timeout)

    def is_registered(self) -> bool:
        endpoint()
        return bool(self.account.getInfo().regIsActive)

    def watch(self, number: str) -> Buddy:
        """Subscribe to `number`'s presence at the registrar's host."""
        config = pj.BuddyConfig()
        host = self.registrar.removeprefix("sip:").removeprefix("sips:")
        config.uri = f"sip:{number}@{host}"
        config.subscribe = True
        buddy = Buddy()
        buddy.create(self.account, config)
        self.buddies.append(buddy)
        return buddy

    def set_status(self, *, note: str, busy: bool) -> None:
        status = pj.PresenceStatus()
        status.status = pj.PJSUA_BUDDY_STATUS_ONLINE
        status.activity = pj.PJRPID_ACTIVITY_BUSY if busy else pj.PJRPID_ACTIVITY_UNKNOWN
        status.note = note
        self.account.setOnlineStatus(status)

    wait = staticmethod(wait)

    def drop_connections(self, local_ip: str) -> int:
        """Shut down this process's TCP connections from `local_ip` at the socket (as a
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
        """End the buddies' subscriptions, delete the account (pjsua unregisters it if
        registered) and close its transport.

        (To simulate a phone pulled from the wall, use a hand-written client that stops
        answering; pjsua2 answers OPTIONS whenever any test polls the endpoint.)
        """
        endpoint()
        if self.buddies:
            for buddy in self.buddies:
                with contextlib.suppress(pj.Error):
                    buddy.subscribePresence(False)
            poll(0.1)
            self.buddies.clear()
        with contextlib.suppress(pj.Error):
            self.account.shutdown()
        poll(0.05)
        close_transport(self.transport_id)
        poll(0.05)


class PresencePhone(PjPhone):
    """A PjPhone as the presence tests call it: at `server` (host, port), registering
    with `register(True)` and unregistering with `register(False)`."""

    def __init__(
        self, username: str, password: str, server: tuple[str, int], *,
        local_ip: str = "127.0.0.1", publish: bool = False,
    ) -> None:  # fmt: skip
        super().__init__(username, password, server, local_ip=local_ip, publish=publish)

    def register(self, on: bool = True, timeout: float = 5.0) -> int | None:  # type: ignore[override]
        return _registration(self.account, on, timeout)


class SharedTransport:
    """pjsua2 accounts that all send from one UDP transport per site (one source
    address:port each: phones behind one NAT), registering at `registrar`."""

    def __init__(self, registrar: str | tuple[str, int], *, retry_seconds: int = 0) -> None:
        self.registrar = registrar_uri(registrar)
        self.retry_seconds = retry_seconds
        self.transports: list[int] = []
        self.accounts: dict[str, Account] = {}
        self.buddies: list[Buddy] = []
        self._pump: asyncio.Task[None] | None = None

    def add_transport(self, local_ip: str, public_address: str | None = None) -> int:
        self.transports.append(create_transport(local_ip, public_address=public_address))
        return self.transports[-1]

    def add(
        self, username: str, password: str, *, transport_id: int | None = None,
        expires: int | None = None, user_agent: str = "",
    ) -> Account:  # fmt: skip
        """An account on `transport_id` (default: the first transport)."""
        config = account_config(
            username, password, self.registrar,
            self.transports[0] if transport_id is None else transport_id,
            expires=expires, retry_seconds=self.retry_seconds, user_agent=user_agent,
        )  # fmt: skip
        account = Account()
        account.create(config)
        self.accounts[username] = account
        return account

    def register(self, *usernames: str, timeout: float = 10.0) -> list[int | None]:
        """Register the named accounts at once; their final status codes (None: none)."""
        before = {name: len(self.accounts[name].codes) for name in usernames}
        for name in usernames:
            self.accounts[name].setRegistration(True)
        wait(lambda: all(len(self.accounts[n].codes) > before[n] for n in usernames), timeout)
        return [
            self.accounts[n].codes[-1] if len(self.accounts[n].codes) > before[n] else None
            for n in usernames
        ]

    def start_pump(self) -> None:
        """Poll pjsua2 from a task of the running event loop, so refreshes run by
        themselves while the test awaits."""

        async def pump() -> None:
            ep = endpoint()
            while True:
                ep.libHandleEvents(5)
                await asyncio.sleep(0.005)

        self._pump = asyncio.ensure_future(pump())

    async def register_all(self, timeout: float = 10.0) -> list[int | None]:
        """Register every account (the pump running); the first code of each."""
        accounts = list(self.accounts.values())
        for account in accounts:
            account.setRegistration(True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not all(a.codes for a in accounts):
            await asyncio.sleep(0.05)
        return [a.codes[-1] if a.codes else None for a in accounts]

    def watch(self, username: str, number: str) -> Buddy:
        config = pj.BuddyConfig()
        host = self.registrar.removeprefix("sip:")
        config.uri = f"sip:{number}@{host}"
        config.subscribe = True
        buddy = Buddy()
        buddy.create(self.accounts[username], config)
        self.buddies.append(buddy)
        return buddy

    wait = staticmethod(wait)

    def close(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
        endpoint()
        for buddy in self.buddies:
            with contextlib.suppress(pj.Error):
                buddy.subscribePresence(False)
        poll(0.1)
        for account in self.accounts.values():
            with contextlib.suppress(pj.Error):
                account.shutdown()
        poll(0.1)
        for transport_id in self.transports:
            close_transport(transport_id)
        poll(0.05)


__all__ = [
    "INSTANCE", "REALM", "TRANSPORT_TYPES", "Account", "Buddy", "PjPhone", "PresencePhone",
    "SharedTransport",
    "account_config", "create_transport", "endpoint", "offline", "online", "poll", "wait",
]  # fmt: skip
