"""`sipcore.presence.dialog`: the subscription and dialog an initial SUBSCRIBE forms
(RFC 6665 §4.2.1.1, RFC 3261 §12.1.1), its route set (Record-Route, else the Path of the
subscriber's registration through the same edge), and the answers to it; and the
answers to a PUBLISH (`publication.refusal`, `publication.published`)."""

from __future__ import annotations

import pytest

from sipcore.location import Binding
from sipcore.message import SipRequest
from sipcore.parser import parse_message
from sipcore.presence import publication
from sipcore.presence.dialog import (
    entity,
    entity_number,
    event_id,
    new_subscription,
    refusal,
    route_set,
    subscribe_ok,
)
from sipcore.presence.subscription import ALLOW_EVENTS, SubscriptionError


def _subscribe(*extra: str, contact: str = "<sip:alice@198.51.100.7:5062;ob>") -> SipRequest:
    lines = [
        "SUBSCRIBE sip:101@sipfleet.test SIP/2.0",
        "Via: SIP/2.0/UDP 198.51.100.7:5062;branch=z9hG4bKabc;rport",
        "From: <sip:alice@sipfleet.test>;tag=ph1",
        "To: <sip:101@sipfleet.test>",
        "Call-ID: abc@198.51.100.7",
        "CSeq: 7 SUBSCRIBE",
        f"Contact: {contact}",
        "Event: dialog;id=4",
        "User-Agent: Yealink SIP-T46S 66.86.0.15",
        *extra,
        "Content-Length: 0",
    ]
    parsed = parse_message(("\r\n".join(lines) + "\r\n\r\n").encode())
    assert isinstance(parsed, SipRequest)
    return parsed


def _binding(contact: str, source_ip: str, path: str | None) -> Binding:
    return Binding(phone_id="p1", contact=contact, call_id="r1", cseq=1, expires_at=9e9,
                   q=None, transport="udp", source_ip=source_ip, source_port=5060,
                   path=path)  # fmt: skip


def test_event_id() -> None:
    assert event_id("dialog;id=4") == "4"
    assert event_id("dialog ; ID = x7 ;foo") == "x7"
    assert event_id("dialog") is None
    assert event_id("dialog;id=") is None


def test_new_subscription_forms_the_dialog_from_the_subscribe() -> None:
    request = _subscribe()
    sub = new_subscription(
        request, sub_id="s1", local_tag="srv1", package="dialog",
        content_type="application/dialog-info+xml", extension_id="e1", customer_id="c1",
        entity_uri=entity("101", "sipfleet.test"), routes=("<sip:edge;lr>",), granted=600,
        now=1000.0,
    )  # fmt: skip
    d = sub.dialog
    assert (d.call_id, d.local_tag, d.remote_tag) == ("abc@198.51.100.7", "srv1", "ph1")
    assert (d.local_uri, d.remote_uri) == ("sip:101@sipfleet.test", "sip:alice@sipfleet.test")
    assert d.remote_target == "sip:alice@198.51.100.7:5062;ob"
    assert d.route_set == ("<sip:edge;lr>",)
    assert (d.local_cseq, d.remote_cseq) == (0, 7)
    assert sub.expires_at == 1600.0
    assert (sub.event_id, sub.event_header, sub.profile) == ("4", "dialog;id=4", "yealink")
    assert sub.entity == "sip:101@sipfleet.test" and entity_number(sub.entity) == "101"


def test_the_route_set_is_the_record_route_first() -> None:
    request = _subscribe("Record-Route: <sip:p1;lr>", "Record-Route: <sip:p2;lr>")
    bindings = [_binding("sip:alice@198.51.100.7:5062;ob", "203.0.113.9", "<sip:edge;lr>")]
    routes = route_set(request, bindings, request.contacts(), "203.0.113.9")
    assert routes == ("<sip:p1;lr>", "<sip:p2;lr>")


def test_without_record_route_the_path_of_the_binding_through_the_same_edge() -> None:
    request = _subscribe()
    mine = _binding("sip:alice@198.51.100.7:5062;ob", "203.0.113.9", "<sip:e1;lr>,<sip:e2;lr>")
    other = _binding("sip:alice@10.0.0.2:5060", "203.0.113.9", "<sip:x;lr>")
    direct = _binding("sip:alice@10.0.0.3:5060", "198.51.100.7", None)
    contacts = request.contacts()
    # the binding of the SUBSCRIBE's own Contact
    assert route_set(request, [other, mine], contacts, "203.0.113.9") == (
        "<sip:e1;lr>",
        "<sip:e2;lr>",
    )
    # else the phone's one binding with a Path there
    assert route_set(request, [other, direct], contacts, "203.0.113.9") == ("<sip:x;lr>",)
    # two candidates and neither is the Contact's, or not from the edge: none
    assert route_set(request, [other, other], contacts, "203.0.113.9") == ()
    assert route_set(request, [mine], contacts, "198.51.100.7") == ()


def test_subscribe_ok_carries_expires_contact_record_route_and_our_tag() -> None:
    request = _subscribe("Record-Route: <sip:p1;lr>")
    response = subscribe_ok(request, granted=600, local=("tcp", "192.0.2.1", 5060), tag="srv1")
    assert response.status == 200
    assert response.to().tag == "srv1"
    assert response.header("Expires") == "600"
    assert response.header("Contact") == "<sip:192.0.2.1:5060;transport=tcp>"
    assert response.headers.values("record-route") == ["<sip:p1;lr>"]


@pytest.mark.parametrize(
    ("status", "header", "value"),
    [(489, "Allow-Events", ALLOW_EVENTS), (423, "Min-Expires", "60"), (404, None, None)],
)
def test_refusals_say_what_a_retry_needs(status: int, header: str | None, value: str) -> None:
    response = refusal(_subscribe(), SubscriptionError(status, "No"), min_expires=60)
    assert (response.status, response.reason) == (status, "No")
    if header is not None:
        assert response.header(header) == value
    assert response.header("Allow-Events") is None or status == 489


def test_publish_answers() -> None:
    request = _subscribe("Content-Type: application/pidf+xml")
    request = SipRequest(method="PUBLISH", uri=request.uri,
                         headers=request.headers.without("Event").with_added("Event", "presence"))  # fmt: skip
    unsupported = publication.refusal(request, SubscriptionError(415, "Nope"), min_expires=60)
    assert unsupported.header("Accept") == "application/pidf+xml"
    bad_event = publication.refusal(request, SubscriptionError(489, "Bad"), min_expires=60)
    assert bad_event.header("Allow-Events") == publication.ALLOW_EVENTS
    ok = publication.published(request, etag="e1", expires=300)
    assert (ok.status, ok.header("SIP-ETag"), ok.header("Expires")) == (200, "e1", "300")
