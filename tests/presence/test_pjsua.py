"""pjsua2 as real phones against a real `sipfleet serve`: buddies follow an extension's
registration, and see presence (note, DND) that another pjsua2 account publishes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pjsua2 as pj
import pytest

from tests.support.pjsua import PresencePhone, offline, online
from tests.support.presence import seed
from tests.support.processes import start_sipfleet

pytestmark = pytest.mark.pjsua


def test_buddy_sees_registration_and_published_presence(tmp_path: Path, database_url: str) -> None:
    data = asyncio.run(seed(database_url))
    node = start_sipfleet(tmp_path / "data", sip_transports=("udp",),
                          env={"SIPFLEET_DATABASE_URL": database_url,
                               "SIPFLEET_KEEPALIVE_INTERVAL": "0"})  # fmt: skip
    server = ("127.0.0.1", node.sip_port)
    watcher = desk = None
    try:
        watcher = PresencePhone(data["watcher"].username, data["watcher"].password, server,
                                local_ip="127.0.1.21")  # fmt: skip
        desk = PresencePhone(data["desk"].username, data["desk"].password, server,
                             local_ip="127.0.1.21", publish=True)  # fmt: skip
        # pjsua2 sends PUBLISH over the endpoint's first transport, not the account's, so
        # both accounts use one address (the IP gate locks each phone to its address)
        buddy = watcher.watch("101")
        assert watcher.wait(lambda: offline(buddy), 5), "buddy never saw 101 offline"
        assert desk.register(True) == 200
        assert watcher.wait(lambda: online(buddy), 3), "buddy never saw 101 online"
        desk.set_status(note="In a meeting", busy=True)
        assert watcher.wait(lambda: buddy.note == "In a meeting", 3), (
            "buddy never saw the published note"
        )
        assert buddy.activity == pj.PJRPID_ACTIVITY_BUSY
        assert online(buddy)
        assert desk.register(False) == 200
        assert watcher.wait(lambda: not online(buddy), 3), "buddy never saw 101 go offline"
    finally:
        for phone in (watcher, desk):
            if phone is not None:
                phone.close()
        node.stop()
