"""pjsua2 presence in tests: an account that can publish its presence and watch buddies.

Uses the process-wide pjsua2 Endpoint of `tests.registrar.sipphone` (one per process);
poll with `sipphone.poll`. The server must run in another process (`start_sipfleet`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

import pjsua2 as pj

from tests.registrar import sipphone


class _Account(pj.Account):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.codes: list[int] = []

    def onRegState(self, prm: Any) -> None:
        self.codes.append(int(prm.code))


class _Buddy(pj.Buddy):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.events = 0

        self.status: int | None = None
        self.note = ""
        self.activity: int | None = None
        self.sub_state: int | None = None

    def onBuddyState(self) -> None:
        # read the state here, inside pjsua2's callback, and keep it for the test
        info = self.getInfo()
        self.status = int(info.presStatus.status)
        self.note = str(info.presStatus.note)
        self.activity = int(info.presStatus.activity)
        self.sub_state = int(info.subState)
        self.events += 1


class PresencePhone:
    """A pjsua2 account on its own UDP transport; registers, publishes, watches."""

    def __init__(self, username: str, password: str, server: tuple[str, int], *,
                 local_ip: str = "127.0.0.1", publish: bool = False) -> None:  # fmt: skip
        ep = sipphone.endpoint()
        self.server = server
        tp = pj.TransportConfig()
        tp.boundAddress = local_ip
        tp.publicAddress = local_ip
        tp.port = 0
        self.transport_id = ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tp)
        config = pj.AccountConfig()
        host = f"{server[0]}:{server[1]}"
        config.idUri = f"sip:{username}@{host}"
        config.regConfig.registrarUri = f"sip:{host}"
        config.regConfig.registerOnAdd = False
        config.regConfig.retryIntervalSec = 0
        config.sipConfig.transportId = self.transport_id
        config.natConfig.viaRewriteUse = 0
        config.natConfig.contactRewriteUse = 0
        config.natConfig.sdpNatRewriteUse = 0
        config.natConfig.sipOutboundUse = 0
        config.natConfig.udpKaIntervalSec = 0
        config.presConfig.publishEnabled = publish
        config.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", username, 0, password))
        self.account = _Account()
        self.account.create(config)
        self.buddies: list[_Buddy] = []

    def register(self, on: bool = True, timeout: float = 5.0) -> int | None:
        before = len(self.account.codes)
        self.account.setRegistration(on)
        self.wait(lambda: len(self.account.codes) > before, timeout)
        return self.account.codes[-1] if len(self.account.codes) > before else None

    def watch(self, number: str) -> _Buddy:
        config = pj.BuddyConfig()
        config.uri = f"sip:{number}@{self.server[0]}:{self.server[1]}"
        config.subscribe = True
        buddy = _Buddy()
        buddy.create(self.account, config)
        self.buddies.append(buddy)
        return buddy

    def set_status(self, *, note: str, busy: bool) -> None:
        status = pj.PresenceStatus()
        status.status = pj.PJSUA_BUDDY_STATUS_ONLINE
        status.activity = pj.PJRPID_ACTIVITY_BUSY if busy else pj.PJRPID_ACTIVITY_UNKNOWN
        status.note = note
        self.account.setOnlineStatus(status)

    @staticmethod
    def wait(condition: Callable[[], bool], timeout: float) -> bool:
        ep = sipphone.endpoint()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ep.libHandleEvents(10)
            if condition():
                return True
        return False

    def close(self) -> None:
        ep = sipphone.endpoint()
        for buddy in self.buddies:
            with contextlib.suppress(pj.Error):
                buddy.subscribePresence(False)
        sipphone.poll(0.1)
        self.buddies.clear()
        with contextlib.suppress(pj.Error):
            self.account.shutdown()
        sipphone.poll(0.05)
        with contextlib.suppress(pj.Error):
            ep.transportClose(self.transport_id)
        sipphone.poll(0.05)


def online(buddy: Any) -> bool:
    return bool(buddy.status == pj.PJSUA_BUDDY_STATUS_ONLINE)


def offline(buddy: Any) -> bool:
    return bool(
        buddy.sub_state == pj.PJSIP_EVSUB_STATE_ACTIVE
        and buddy.status == pj.PJSUA_BUDDY_STATUS_OFFLINE
    )
