"""Building a NOTIFY for a subscription: its body (rendered once per state, package and
phone profile, then shared by every watcher) and the in-dialog request (RFC 6665 §4.2.2,
RFC 3261 §12.2.1.1: route set, tags, CSeq).

Two forms. `notify_request` builds a `SipRequest` (for the awaitable client path).
`notify_bytes` is the fan-out's: the dialog's fixed lines are formatted once per
subscription into a `Wire` (Request-Line, our Via up to its branch, From/To with tags,
Call-ID, Route set, Contact, Event, Content-Type), and each NOTIFY is one join of those
bytes with the branch, CSeq, Subscription-State, Content-Length and the shared body (the
dialog-info version substituted as bytes). Both give the same header order and text."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sipcore.message import SipRequest, build_request, new_via
from sipcore.presence import mwi, pidf, quirks, subscription
from sipcore.presence.dialog_info import DialogInfoTemplate, dialog_info_template
from sipcore.presence.subscription import Subscription
from sipcore.server.presence.model import LiveSub, Watched
from sipcore.server.transport.connections import Address, Connection

_VIA_PLACEHOLDER = new_via("UDP", "0.0.0.0", 0, branch="z9hG4bKplaceholder")


def body_for(watched: Watched, sub: Subscription) -> Any:
    """The body (or dialog-info template) for the sub's package/profile, cached per state."""
    key = (sub.package, sub.profile)
    body = watched.bodies.get(key)
    if body is None:
        state = watched.state
        if sub.package == "dialog":
            profile = quirks.profile_for_name(sub.profile)
            body = dialog_info_template(sub.entity, quirks.shape_dialogs(profile, state.dialogs))
        elif sub.package == "presence":
            body = pidf.render_pidf(sub.entity, state.presence_doc())
        else:
            body = mwi.render_summary(sub.entity, state.voicemail or mwi.Voicemail())
        watched.bodies[key] = body
    return body


def notify_request(live: LiveSub, plan: subscription.NotifyPlan, watched: Watched) -> SipRequest:
    """The NOTIFY of `plan` inside the subscription's dialog."""
    body = body_for(watched, live.sub)
    if isinstance(body, DialogInfoTemplate):
        body = body.render(plan.version)
    d = plan.dialog
    static = live.static
    if static is None:  # the dialog's fixed headers, formatted once per subscription
        transport, host, port = live.via
        suffix = "" if transport == "udp" else f";transport={transport}"
        fixed = [("Route", route) for route in d.route_set]
        fixed += [("Contact", f"<sip:{host}:{port}{suffix}>"), ("Event", plan.event)]
        static = live.static = (
            f"<{d.local_uri}>;tag={d.local_tag}",
            f"<{d.remote_uri}>;tag={d.remote_tag}",
            fixed,
        )
    from_, to, fixed = static
    return build_request(
        "NOTIFY",
        d.remote_target,
        via=_VIA_PLACEHOLDER,  # send_request sets the real top Via (our address, branch)
        from_=from_,
        to=to,
        call_id=d.call_id,
        cseq=d.local_cseq,
        headers=[
            *fixed,
            ("Subscription-State", plan.subscription_state),
            ("Content-Type", plan.content_type),
        ],
        body=body,
    )


@dataclass(frozen=True, slots=True)
class Wire:
    """A subscription's NOTIFY as fixed byte parts around the per-send values, and where
    it goes (the connection and address; for UDP these never change)."""

    connection: Connection
    address: Address | None
    head: bytes  # Request-Line and the top Via up to the branch value
    middle: bytes  # after the branch: Max-Forwards, From, To, Call-ID and "CSeq: "
    tail: bytes  # after the CSeq number: Route, Contact, Event, "Subscription-State: "
    length: bytes  # after Subscription-State: Content-Type and "Content-Length: "


def make_wire(
    live: LiveSub, via_prefix: str, connection: Connection, address: Address | None
) -> Wire:
    """The fixed parts of `live`'s NOTIFYs sent over `connection` (`via_prefix`: our Via
    up to the branch value, from the client transactions)."""
    sub = live.sub
    d = sub.dialog
    transport, host, port = live.via
    suffix = "" if transport == "udp" else f";transport={transport}"
    routes = "".join(f"Route: {route}\r\n" for route in d.route_set)
    return Wire(
        connection=connection,
        address=address,
        head=f"NOTIFY {d.remote_target} SIP/2.0\r\nVia: {via_prefix}".encode(),
        middle=(
            f";rport\r\nMax-Forwards: 70\r\nFrom: <{d.local_uri}>;tag={d.local_tag}\r\n"
            f"To: <{d.remote_uri}>;tag={d.remote_tag}\r\nCall-ID: {d.call_id}\r\nCSeq: "
        ).encode(),
        tail=(
            f" NOTIFY\r\n{routes}Contact: <sip:{host}:{port}{suffix}>\r\n"
            f"Event: {sub.event_header}\r\nSubscription-State: "
        ).encode(),
        length=f"\r\nContent-Type: {sub.content_type}\r\nContent-Length: ".encode(),
    )


def notify_bytes(
    wire: Wire, branch: str, plan: subscription.NotifyPlan, watched: Watched, sub: Subscription
) -> bytes:
    """The NOTIFY of `plan` on the wire, as `notify_request(...)` with that branch gives."""
    body = body_for(watched, sub)
    if isinstance(body, DialogInfoTemplate):
        body = body.head + str(plan.version).encode() + body.tail
    return b"".join(
        (
            wire.head,
            branch.encode(),
            wire.middle,
            str(plan.dialog.local_cseq).encode(),
            wire.tail,
            plan.subscription_state.encode(),
            wire.length,
            str(len(body)).encode(),
            b"\r\n\r\n",
            body,
        )
    )
