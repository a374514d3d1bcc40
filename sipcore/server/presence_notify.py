"""Building a NOTIFY for a subscription: its body (rendered once per state, package and
phone profile, then shared by every watcher) and the in-dialog request (RFC 6665 §4.2.2,
RFC 3261 §12.2.1.1: route set, tags, CSeq)."""

from __future__ import annotations

from typing import Any

from sipcore.message import SipRequest, build_request, new_via
from sipcore.presence import mwi, pidf, quirks, subscription
from sipcore.presence.dialog_info import DialogInfoTemplate, dialog_info_template
from sipcore.presence.subscription import Subscription
from sipcore.server.presence_types import LiveSub, Watched

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
