"""What a NOTIFY of a subscription carries and how it is written, from plain values.

The body (RFC 4235 dialog-info, RFC 3863 PIDF for RFC 3856 presence, RFC 3842
message-summary) is rendered once per extension state, package and phone profile, then
shared by every watcher; a dialog-info body is a template whose per-subscription
`version` (RFC 4235 §4.1.2) is filled in per NOTIFY. The request is in-dialog (RFC 6665
§4.2.2; RFC 3261 §12.2.1.1: Request-URI the remote target, the route set as Route, our
tag in From, the subscriber's in To, the next local CSeq).

Two forms of the same NOTIFY:

- `notify_request` builds a `SipRequest` (the general path; the sender sets the top Via).
- `notify_bytes` is the fan-out's fast path: the dialog's fixed lines are formatted once
  per subscription into a `Wire` (Request-Line, our Via up to its branch, From/To with
  tags, Call-ID, Route set, Contact, Event, Content-Type), and each NOTIFY is one join of
  those bytes with the branch, CSeq, Subscription-State, Content-Length and the shared
  body. Given the same branch, both give the same bytes (a property test holds them
  equal).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sipcore.message import SipRequest, build_request, new_via
from sipcore.presence import mwi, pidf, quirks
from sipcore.presence.dialog_info import DialogInfoTemplate, dialog_info_template
from sipcore.presence.state import ExtensionState
from sipcore.presence.subscription import NotifyPlan, Subscription, SubscriptionDialog

Body = bytes | DialogInfoTemplate  # a rendered body, or dialog-info awaiting its version
Local = tuple[str, str, int]  # our transport, host and port as the subscriber reaches us

_VIA_PLACEHOLDER = new_via("UDP", "0.0.0.0", 0, branch="z9hG4bKplaceholder")

# What each package shows of an extension's state: a change outside it sends no NOTIFY
# to that package's watchers (an online change does not touch dialog-info bodies).
VIEWS: dict[str, Callable[[ExtensionState], object]] = {
    "dialog": lambda state: state.dialogs,
    "presence": lambda state: state.presence_doc(),
    "message-summary": lambda state: state.voicemail,
}


def changed_packages(old: ExtensionState, new: ExtensionState) -> set[str]:
    """The packages whose bodies differ between the two states."""
    return {package for package, view in VIEWS.items() if view(old) != view(new)}


def render_body(state: ExtensionState, package: str, profile: str, entity: str) -> Body:
    """The body of `package` for `state`, shaped for the phone `profile` (dialog-info only)."""
    if package == "dialog":
        shape = quirks.profile_for_name(profile)
        return dialog_info_template(entity, quirks.shape_dialogs(shape, state.dialogs))
    if package == "presence":
        return pidf.render_pidf(entity, state.presence_doc())
    return mwi.render_summary(entity, state.voicemail or mwi.Voicemail())


def body_for(bodies: dict[tuple[str, str], Body], state: ExtensionState, sub: Subscription) -> Body:
    """`render_body` for the subscription, cached in `bodies` (the cache of one state:
    the caller empties it when the state changes)."""
    key = (sub.package, sub.profile)
    body = bodies.get(key)
    if body is None:
        body = bodies[key] = render_body(state, sub.package, sub.profile, sub.entity)
    return body


def contact(local: Local) -> str:
    """Our Contact in the subscription's dialog (RFC 6665 §4.1.1: a NOTIFY carries one)."""
    transport, host, port = local
    suffix = "" if transport == "udp" else f";transport={transport}"
    return f"<sip:{host}:{port}{suffix}>"


@dataclass(frozen=True, slots=True)
class DialogHeaders:
    """A subscription's NOTIFY headers that never change: From and To with their tags,
    then Route set, Contact and Event."""

    from_: str
    to: str
    fixed: tuple[tuple[str, str], ...]


def dialog_headers(dialog: SubscriptionDialog, event: str, local: Local) -> DialogHeaders:
    """The fixed headers of the NOTIFYs in `dialog` (`event`: the Event header value)."""
    fixed = tuple(("Route", route) for route in dialog.route_set)
    return DialogHeaders(
        from_=f"<{dialog.local_uri}>;tag={dialog.local_tag}",
        to=f"<{dialog.remote_uri}>;tag={dialog.remote_tag}",
        fixed=(*fixed, ("Contact", contact(local)), ("Event", event)),
    )


def notify_request(plan: NotifyPlan, body: Body, headers: DialogHeaders) -> SipRequest:
    """The NOTIFY of `plan`; its top Via is a placeholder the sender replaces."""
    if isinstance(body, DialogInfoTemplate):
        body = body.render(plan.version)
    d = plan.dialog
    return build_request(
        "NOTIFY",
        d.remote_target,
        via=_VIA_PLACEHOLDER,
        from_=headers.from_,
        to=headers.to,
        call_id=d.call_id,
        cseq=d.local_cseq,
        headers=[
            *headers.fixed,
            ("Subscription-State", plan.subscription_state),
            ("Content-Type", plan.content_type),
        ],
        body=body,
    )


@dataclass(frozen=True, slots=True)
class Wire:
    """A subscription's NOTIFY as fixed byte parts around the per-send values."""

    head: bytes  # Request-Line and the top Via up to the branch value
    middle: bytes  # after the branch: Max-Forwards, From, To, Call-ID and "CSeq: "
    tail: bytes  # after the CSeq number: Route, Contact, Event, "Subscription-State: "
    length: bytes  # after Subscription-State: Content-Type and "Content-Length: "


def make_wire(sub: Subscription, local: Local, via_prefix: str) -> Wire:
    """The fixed parts of `sub`'s NOTIFYs (`via_prefix`: our top Via up to the branch
    value, `SIP/2.0/<transport> <host>:<port>;branch=`)."""
    d = sub.dialog
    routes = "".join(f"Route: {route}\r\n" for route in d.route_set)
    return Wire(
        head=f"NOTIFY {d.remote_target} SIP/2.0\r\nVia: {via_prefix}".encode(),
        middle=(
            f";rport\r\nMax-Forwards: 70\r\nFrom: <{d.local_uri}>;tag={d.local_tag}\r\n"
            f"To: <{d.remote_uri}>;tag={d.remote_tag}\r\nCall-ID: {d.call_id}\r\nCSeq: "
        ).encode(),
        tail=(
            f" NOTIFY\r\n{routes}Contact: {contact(local)}\r\n"
            f"Event: {sub.event_header}\r\nSubscription-State: "
        ).encode(),
        length=f"\r\nContent-Type: {sub.content_type}\r\nContent-Length: ".encode(),
    )


def notify_bytes(wire: Wire, branch: str, plan: NotifyPlan, body: Body) -> bytes:
    """The NOTIFY of `plan` on the wire: `notify_request(...)` with our Via and `branch`."""
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
