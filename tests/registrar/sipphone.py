"""pjsua2 (the PJSIP user agent) as a real SIP phone in tests.

pjsua2 allows one `Endpoint` per process, so it is a module-level singleton created on
first use with `threadCnt=0` (every callback runs inside `libHandleEvents`, which the
methods here poll) and the null audio device (no sound card here). Each `PjPhone` gets
its own transport bound to `local_ip` (e.g. 127.0.1.5), so tests can make phones come
from distinct loopback addresses.

    phone = PjPhone(username, password, "sip:127.0.0.1:5060", transport="udp",
                    local_ip="127.0.1.5")
    assert phone.register(timeout=5) == 200
    phone.unregister()
    phone.close()

Not thread-safe: use from the test's thread (async tests: call it directly, it blocks
for at most `timeout`; run the server in a subprocess or another thread's loop, or
call through `asyncio.to_thread` with `threaded=True`).
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

import pjsua2 as pj

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


class _Account(pj.Account):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.last_code: int | None = None
        self.codes: list[int] = []
        self.events = 0

    def onRegState(self, prm: Any) -> None:
        self.last_code = int(prm.code)
        self.codes.append(self.last_code)
        self.events += 1


class PjPhone:
    """One SIP account on its own transport and local address."""

    def __init__(
        self,
        username: str,
        password: str,
        registrar: str,
        *,
        transport: str = "udp",
        local_ip: str = "127.0.0.1",
        local_port: int = 0,
        realm: str = "*",
        expires: int = 300,
        contact_params: str = "",
        ca_file: str = "",
        user_agent: str = "",
    ) -> None:
        ep = endpoint()
        self.username = username
        self.transport = transport
        tp_config = pj.TransportConfig()
        tp_config.boundAddress = local_ip
        tp_config.publicAddress = local_ip
        tp_config.port = local_port
        if transport == "tls":
            tp_config.tlsConfig.CaListFile = ca_file
            tp_config.tlsConfig.verifyServer = bool(ca_file)
            tp_config.tlsConfig.method = pj.PJSIP_TLSV1_2_METHOD
        self.transport_id = ep.transportCreate(TRANSPORT_TYPES[transport], tp_config)
        info = ep.transportGetInfo(self.transport_id)
        self.local_address = str(info.localName)
        config = pj.AccountConfig()
        host = registrar.removeprefix("sip:").removeprefix("sips:")
        config.idUri = f"sip:{username}@{host}"
        reg_uri = registrar if transport == "udp" else f"{registrar};transport={transport}"
        config.regConfig.registrarUri = reg_uri
        config.regConfig.registerOnAdd = False
        config.regConfig.timeoutSec = expires
        config.regConfig.retryIntervalSec = 0
        config.regConfig.firstRetryIntervalSec = 0
        if contact_params:
            config.sipConfig.contactUriParams = contact_params
        config.sipConfig.transportId = self.transport_id
        config.natConfig.viaRewriteUse = 0
        config.natConfig.contactRewriteUse = 0
        config.natConfig.sdpNatRewriteUse = 0
        config.natConfig.sipOutboundUse = 0
        config.natConfig.udpKaIntervalSec = 0
        config.presConfig.publishEnabled = False
        credentials = pj.AuthCredInfo("digest", realm, username, 0, password)
        config.sipConfig.authCreds.append(credentials)
        if user_agent:
            # pjsua2 sets User-Agent per endpoint; per account it is a header
            header = pj.SipHeader()
            header.hName = "User-Agent"
            header.hValue = user_agent
            config.regConfig.headers.append(header)
        self.account = _Account()
        self.account.create(config)

    def _wait(self, before: int, timeout: float) -> int | None:
        deadline = time.monotonic() + timeout
        ep = endpoint()
        while time.monotonic() < deadline:
            ep.libHandleEvents(10)
            if self.account.events > before:
                return self.account.last_code
        return None

    def register(self, timeout: float = 5.0) -> int | None:
        """Send REGISTER (answering a challenge itself); the final status code or None."""
        endpoint()  # registers this thread with pjlib when it is a new one
        before = self.account.events
        self.account.setRegistration(True)
        return self._wait(before, timeout)

    def unregister(self, timeout: float = 5.0) -> int | None:
        """REGISTER with Expires: 0; the final status code or None."""
        endpoint()
        before = self.account.events
        try:
            self.account.setRegistration(False)
        except pj.Error:
            return None
        return self._wait(before, timeout)

    def is_registered(self) -> bool:
        endpoint()
        return bool(self.account.getInfo().regIsActive)

    def close(self) -> None:
        """Delete the account (pjsua unregisters it if registered) and close its transport.

        (To simulate a phone pulled from the wall, use a hand-written client that stops
        answering; pjsua2 answers OPTIONS whenever any test polls the endpoint.)
        """
        ep = endpoint()
        with contextlib.suppress(pj.Error):
            self.account.shutdown()
        poll(0.05)
        with contextlib.suppress(pj.Error):
            ep.transportClose(self.transport_id)
        poll(0.05)
