"""`sipcore.presence.notify` from plain values: which packages a change touches, the
bodies and their per-state cache, the fixed headers; and the fast path (`notify_bytes`
from a `Wire`) equal to the general one (`notify_request` serialised) for any dialog,
route set, transport, package, CSeq, version and state (property test)."""

from __future__ import annotations

import string
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from sipcore.message import SipRequest
from sipcore.parser import parse_message
from sipcore.presence import subscription
from sipcore.presence.dialog_info import Dialog, DialogInfoTemplate
from sipcore.presence.mwi import Voicemail
from sipcore.presence.notify import (
    Body,
    body_for,
    changed_packages,
    contact,
    dialog_headers,
    make_wire,
    notify_bytes,
    notify_request,
    render_body,
)
from sipcore.presence.state import ExtensionState
from sipcore.presence.subscription import PACKAGES, Subscription, SubscriptionDialog

CALL = Dialog(id="c1", state="confirmed", direction="recipient", call_id="c1",
              remote="sip:bob@sipfleet.test")  # fmt: skip


def _sub(package: str = "dialog", profile: str = "default", **dialog: object) -> Subscription:
    fields: dict[str, object] = {
        "call_id": "abc@198.51.100.7", "local_tag": "srv1", "remote_tag": "ph1",
        "local_uri": "sip:101@sipfleet.test", "remote_uri": "sip:alice@sipfleet.test",
        "remote_target": "sip:alice@198.51.100.7:5062", "route_set": (),
        "local_cseq": 0, "remote_cseq": 1,
    }  # fmt: skip
    fields.update(dialog)
    return Subscription(
        id="s1", package=package, event_id=None, content_type=PACKAGES[package],
        extension_id="e1", customer_id="c1", entity="sip:101@sipfleet.test", profile=profile,
        dialog=SubscriptionDialog(**fields),  # type: ignore[arg-type]
        expires_at=1_000_000.0,
    )  # fmt: skip


def test_changed_packages_names_only_what_a_package_shows() -> None:
    idle = ExtensionState(extension_id="e1", seq=1)
    assert changed_packages(idle, replace(idle, seq=2)) == set()
    # online changes presence (basic status), not the dialog-info body
    assert changed_packages(idle, replace(idle, online=True)) == {"presence"}
    assert changed_packages(idle, replace(idle, calls=(CALL,))) >= {"dialog"}
    assert changed_packages(idle, replace(idle, voicemail=Voicemail(new=1))) == {"message-summary"}


def test_bodies_are_rendered_once_per_state_package_and_profile() -> None:
    state = ExtensionState(extension_id="e1", seq=3, online=True, calls=(CALL,))
    bodies: dict[tuple[str, str], Body] = {}
    first = body_for(bodies, state, _sub("dialog", "yealink"))
    assert isinstance(first, DialogInfoTemplate)
    assert body_for(bodies, state, _sub("dialog", "yealink")) is first
    assert body_for(bodies, state, _sub("dialog", "default")) is not first
    assert set(bodies) == {("dialog", "yealink"), ("dialog", "default")}
    presence = body_for(bodies, state, _sub("presence"))
    assert presence == render_body(state, "presence", "default", "sip:101@sipfleet.test")
    assert b"<basic>open</basic>" in presence  # type: ignore[operator]
    summary = render_body(state, "message-summary", "default", "sip:101@sipfleet.test")
    assert isinstance(summary, bytes) and summary.startswith(b"Messages-Waiting: no")


def test_contact_names_the_transport_unless_udp() -> None:
    assert contact(("udp", "192.0.2.1", 5060)) == "<sip:192.0.2.1:5060>"
    assert contact(("tls", "192.0.2.1", 5061)) == "<sip:192.0.2.1:5061;transport=tls>"


def test_dialog_headers_carry_tags_routes_contact_and_event() -> None:
    sub = _sub(route_set=("<sip:edge;lr>",))
    headers = dialog_headers(sub.dialog, "dialog;id=4", ("tcp", "192.0.2.1", 5060))
    assert headers.from_ == "<sip:101@sipfleet.test>;tag=srv1"
    assert headers.to == "<sip:alice@sipfleet.test>;tag=ph1"
    assert headers.fixed == (
        ("Route", "<sip:edge;lr>"),
        ("Contact", "<sip:192.0.2.1:5060;transport=tcp>"),
        ("Event", "dialog;id=4"),
    )


_token = st.text(string.ascii_letters + string.digits + "-.", min_size=1, max_size=12)
_host = st.sampled_from(["192.0.2.1", "198.51.100.7", "edge.example", "[2001:db8::1]"])
_route = st.builds(lambda h, p: f"<sip:{h}:{p};lr>", _host, st.integers(1, 65535))
_calls = st.lists(
    st.builds(
        Dialog,
        id=_token,
        state=st.sampled_from(["trying", "early", "confirmed", "terminated"]),
        direction=st.sampled_from([None, "initiator", "recipient"]),
        call_id=st.one_of(st.none(), _token),
        remote=st.one_of(st.none(), st.builds(lambda u: f"sip:{u}@sipfleet.test", _token)),
    ),
    max_size=3,
    unique_by=lambda d: d.id,
)


@settings(max_examples=200, deadline=None)
@given(
    package=st.sampled_from(sorted(PACKAGES)),
    profile=st.sampled_from(["default", "yealink", "bria", "aastra", "spa"]),
    event_id=st.one_of(st.none(), _token),
    call_id=_token,
    tags=st.tuples(_token, _token),
    user=_token,
    target_host=_host,
    routes=st.lists(_route, max_size=3),
    transport=st.sampled_from(["udp", "tcp", "tls", "ws"]),
    local=st.tuples(_host, st.integers(1, 65535)),
    cseq=st.integers(0, 2**31 - 2),  # the NOTIFY takes the next one (RFC 3261 §8.1.1.5)
    version=st.integers(0, 2**31),
    calls=_calls,
    online=st.booleans(),
    now=st.floats(0, 2_000_000.0),
    branch=_token,
)
def test_notify_bytes_equal_the_built_request(
    package: str,
    profile: str,
    event_id: str | None,
    call_id: str,
    tags: tuple[str, str],
    user: str,
    target_host: str,
    routes: list[str],
    transport: str,
    local: tuple[str, int],
    cseq: int,
    version: int,
    calls: list[Dialog],
    online: bool,
    now: float,
    branch: str,
) -> None:
    sub = replace(
        _sub(package, profile, call_id=call_id, local_tag=tags[0], remote_tag=tags[1],
             remote_target=f"sip:{user}@{target_host}:5062", route_set=tuple(routes),
             local_cseq=cseq),
        event_id=event_id, version=version,
    )  # fmt: skip
    if now >= sub.expires_at:
        sub, plan = subscription.deactivate(sub)
    else:
        sub, plan = subscription.notify(sub, now)
    state = ExtensionState(extension_id="e1", seq=2, online=online, calls=tuple(calls))
    via = (transport, *local)
    body = body_for({}, state, sub)
    prefix = f"SIP/2.0/{transport.upper()} {local[0]}:{local[1]};branch="

    fast = notify_bytes(make_wire(sub, via, prefix), "z9hG4bK" + branch, plan, body)

    built = notify_request(plan, body, dialog_headers(plan.dialog, plan.event, via))
    headers = built.headers.without("Via").with_added(
        "Via", f"{prefix}z9hG4bK{branch};rport", first=True
    )
    general = SipRequest(method="NOTIFY", uri=built.uri, headers=headers, body=built.body)
    assert fast == general.to_bytes()
    parsed = parse_message(fast)
    assert isinstance(parsed, SipRequest)
    assert parsed.cseq().number == cseq + 1
    assert parsed.headers.values("route") == routes
