"""A SUBSCRIBE that came through a record-routing proxy (an edge): the 200 OK carries
the Record-Route back (RFC 3261 §12.1.1), so the subscriber's refreshes take the proxy
too, and the NOTIFYs go along the route set."""

from __future__ import annotations

from typing import Any

from tests.support.sip_client import REALM


async def test_record_route_is_copied_and_followed(start_server: Any) -> None:
    server = await start_server()
    watcher = await server.phone("102")
    routes = ["<sip:192.0.2.10;lr>", "<sip:192.0.2.11:5070;lr;ftag=x>"]
    ok = await watcher.request(
        "SUBSCRIBE", f"sip:101@{REALM}",
        [*(f"Record-Route: {r}" for r in routes), "Event: dialog", f"Contact: {watcher.contact}",
         "Accept: application/dialog-info+xml", "Expires: 600"],
    )  # fmt: skip
    assert ok.status == 200
    assert ok.headers.get("record-route") == routes
    notify = await watcher.next_notify()
    assert notify.headers.get("route") == routes
