"""The fan-out's NOTIFY bytes (`sipcore.presence.notify.notify_bytes`, joined from
per-dialog parts) are exactly what the message builder serialises for the same NOTIFY, for every
package, with a route set and over TCP; and they parse back as that request."""

from __future__ import annotations

import time

import pytest

from sipcore.message import SipRequest
from sipcore.parser import parse_message
from sipcore.presence import coalesce, subscription
from sipcore.presence.dialog_info import Dialog
from sipcore.presence.notify import (
    body_for,
    dialog_headers,
    make_wire,
    notify_bytes,
    notify_request,
)
from sipcore.presence.state import ExtensionState
from sipcore.presence.subscription import Subscription, SubscriptionDialog
from sipcore.server.context import Target
from sipcore.server.presence.model import LiveSub, Watched

VIA_PREFIX = "SIP/2.0/UDP 192.0.2.1:5060;branch="
BRANCH = "z9hG4bKtest1x2a"

PACKAGES = [
    ("dialog", "application/dialog-info+xml", None),
    ("presence", "application/pidf+xml", "7"),
    ("message-summary", "application/simple-message-summary", None),
]


def _live(package: str, content_type: str, event_id: str | None, transport: str) -> LiveSub:
    sub = Subscription(
        id="s1", package=package, event_id=event_id, content_type=content_type,
        extension_id="e1", customer_id="c1", entity="sip:101@sipfleet.test", profile="generic",
        dialog=SubscriptionDialog(
            call_id="abc@198.51.100.7", local_tag="srv1", remote_tag="ph1",
            local_uri="sip:101@sipfleet.test", remote_uri="sip:alice@sipfleet.test",
            remote_target="sip:alice@198.51.100.7:5062;ob",
            route_set=("<sip:edge.example;lr>", "<sip:core.example;lr>"),
            local_cseq=41, remote_cseq=3,
        ),
        expires_at=time.time() + 600, version=12,
    )  # fmt: skip
    return LiveSub(
        sub=sub, phone_id="p1", target=Target(transport=transport, host="198.51.100.7", port=5062),
        via=(transport, "192.0.2.1", 5060), pacer=coalesce.Pacer(interval=0.0),
    )  # fmt: skip


def _watched() -> Watched:
    call = Dialog(id="c1", state="confirmed", direction="recipient", call_id="c1",
                  remote="sip:bob@sipfleet.test")  # fmt: skip
    state = ExtensionState(extension_id="e1", seq=5, online=True, calls=(call,))
    return Watched(number="101", customer_id="c1", state=state)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize(("package", "content_type", "event_id"), PACKAGES)
def test_notify_bytes_equal_the_built_request(
    package: str, content_type: str, event_id: str | None, transport: str
) -> None:
    live = _live(package, content_type, event_id, transport)
    watched = _watched()
    live.sub, plan = subscription.notify(live.sub, time.time())
    body = body_for(watched.bodies, watched.state, live.sub)
    wire = make_wire(live.sub, live.via, VIA_PREFIX)
    data = notify_bytes(wire, BRANCH, plan, body)

    built = notify_request(plan, body, dialog_headers(plan.dialog, plan.event, live.via))
    headers = built.headers.without("Via").with_added(
        "Via", f"{VIA_PREFIX}{BRANCH};rport", first=True
    )
    expected = SipRequest(method="NOTIFY", uri=built.uri, headers=headers, body=built.body)
    assert data == expected.to_bytes()

    parsed = parse_message(data)
    assert isinstance(parsed, SipRequest)
    assert parsed.cseq().number == 42 and parsed.top_via().branch == BRANCH
    assert parsed.headers.values("route") == ["<sip:edge.example;lr>", "<sip:core.example;lr>"]
    assert len(parsed.body) == int(parsed.header("content-length") or -1) > 0
