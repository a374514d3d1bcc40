"""The subscription state machine with a hand clock, the ordering rule, and coalescing."""

from __future__ import annotations

import pytest

from sipcore.presence import coalesce, subscription
from sipcore.presence.dialog_info import Dialog
from sipcore.presence.mwi import Voicemail
from sipcore.presence.pidf import PresenceDoc
from sipcore.presence.state import (
    CallUpdate,
    ExtensionState,
    SetOnline,
    SetPresence,
    SetVoicemail,
    apply,
    is_newer,
    state_from_json,
    state_to_json,
)
from sipcore.presence.subscription import Subscription, SubscriptionError, SubState


def make_sub(now: float = 1000.0, granted: int = 600) -> Subscription:
    return Subscription(
        id="s1",
        package="dialog",
        event_id=None,
        content_type="application/dialog-info+xml",
        extension_id="e1",
        customer_id="c1",
        entity="sip:101@sipfleet.test",
        profile="default",
        dialog=subscription.SubscriptionDialog(
            call_id="cid",
            local_tag="ours",
            remote_tag="theirs",
            local_uri="sip:101@sipfleet.test",
            remote_uri="sip:watcher@sipfleet.test",
            remote_target="sip:watcher@127.0.0.1:5099",
            route_set=(),
            local_cseq=0,
            remote_cseq=1,
        ),
        expires_at=now + granted,
    )


def test_package_negotiation() -> None:
    assert subscription.negotiate_package("dialog", None) == (
        "dialog",
        "application/dialog-info+xml",
    )
    assert (
        subscription.negotiate_package("presence;id=7", ["application/pidf+xml"])[0] == "presence"
    )
    assert subscription.negotiate_package("dialog", ["*/*"])[0] == "dialog"
    assert (
        subscription.negotiate_package("message-summary", ["application/*"])[0] == "message-summary"
    )
    with pytest.raises(SubscriptionError) as bad_event:
        subscription.negotiate_package("conference", None)
    assert bad_event.value.status == 489
    with pytest.raises(SubscriptionError) as bad_accept:
        subscription.negotiate_package("dialog", ["application/pidf+xml"])
    assert bad_accept.value.status == 406


def test_granted_expiry() -> None:
    grant = subscription.grant_expires
    assert grant(None, minimum=60, maximum=3600, default=3600) == 3600
    assert grant(7200, minimum=60, maximum=3600, default=3600) == 3600
    assert grant(600, minimum=60, maximum=3600, default=3600) == 600
    assert grant(0, minimum=60, maximum=3600, default=3600) == 0
    with pytest.raises(SubscriptionError) as brief:
        grant(10, minimum=60, maximum=3600, default=3600)
    assert brief.value.status == 423


def test_notify_counts_cseq_version_and_seconds_left() -> None:
    sub = make_sub()
    assert sub.deadline == 1600.0
    sub, first = subscription.notify(sub, 1000.0)
    assert (first.dialog.local_cseq, first.version, first.subscription_state) == (
        1,
        0,
        "active;expires=600",
    )
    sub, second = subscription.notify(sub, 1100.5)
    assert (second.dialog.local_cseq, second.version, second.subscription_state) == (
        2,
        1,
        "active;expires=500",
    )
    assert not second.final


def test_expiry_sends_final_notify_with_reason_timeout() -> None:
    sub = make_sub()
    same, nothing = subscription.handle_timer(sub, 1599.9)
    assert nothing is None and same is sub
    ended, final = subscription.handle_timer(sub, 1600.0)
    assert final is not None and final.final
    assert final.subscription_state == "terminated;reason=timeout"
    assert ended.state is SubState.TERMINATED and ended.deadline is None
    assert subscription.handle_timer(ended, 9999.0)[1] is None


def test_refresh_moves_deadline_and_notifies() -> None:
    sub = make_sub()
    sub, plan = subscription.refresh(sub, cseq=2, granted=300, now=1500.0)
    assert sub.deadline == 1800.0
    assert plan.subscription_state == "active;expires=300"
    with pytest.raises(SubscriptionError) as stale:
        subscription.refresh(sub, cseq=2, granted=300, now=1500.0)
    assert stale.value.status == 500


def test_unsubscribe_ends_with_final_notify() -> None:
    ended, plan = subscription.refresh(make_sub(), cseq=5, granted=0, now=1200.0)
    assert ended.state is SubState.TERMINATED
    assert plan.final and plan.subscription_state.startswith("terminated")
    with pytest.raises(SubscriptionError) as gone:
        subscription.refresh(ended, cseq=6, granted=300, now=1201.0)
    assert gone.value.status == 481


def test_failed_notify_ends_subscription_without_notify() -> None:
    assert subscription.notify_failed(481) and subscription.notify_failed(None)
    assert subscription.notify_failed(408) and not subscription.notify_failed(200)
    assert subscription.end_after_failure(make_sub()).state is SubState.TERMINATED


def test_deactivate_says_resubscribe_now() -> None:
    _, plan = subscription.deactivate(make_sub())
    assert plan.subscription_state == "terminated;reason=deactivated"


def call(call_id: str, state: str) -> CallUpdate:
    return CallUpdate(dialog=Dialog(id=call_id, call_id=call_id, state=state))  # type: ignore[arg-type]


def test_call_moves_forward_and_late_early_after_terminated_is_dropped() -> None:
    state = ExtensionState(extension_id="e1", online=True)
    state = apply(state, call("c1", "trying"))
    assert state is not None and state.dialogs[0].state == "trying"
    state = apply(state, call("c1", "confirmed"))
    assert state is not None and state.dialogs[0].state == "confirmed"
    assert apply(state, call("c1", "early")) is None  # backwards
    state = apply(state, call("c1", "terminated"))
    assert state is not None
    assert [d.state for d in state.dialogs] == ["terminated"] and state.calls == ()
    assert apply(state, call("c1", "early")) is None  # late: the call already ended
    assert apply(state, call("c1", "confirmed")) is None
    other = apply(state, call("c2", "early"))
    assert other is not None and [d.state for d in other.dialogs] == ["early"]


def test_unchanged_state_is_not_a_change() -> None:
    state = ExtensionState(extension_id="e1", online=True)
    assert apply(state, SetOnline(online=True)) is None
    assert apply(state, SetOnline(online=False)) is not None


def test_presence_view_combines_registration_and_published() -> None:
    state = ExtensionState(extension_id="e1")
    assert state.presence_doc().basic == "closed"
    online = apply(state, SetOnline(online=True))
    assert online is not None and online.presence_doc().basic == "open"
    dnd = apply(online, SetPresence(presence=PresenceDoc(basic="open", note="Away", dnd=True)))
    assert dnd is not None
    assert dnd.presence_doc() == PresenceDoc(basic="open", note="Away", dnd=True)
    busy = apply(dnd, call("c9", "confirmed"))
    assert busy is not None and busy.presence_doc().on_the_phone


def test_sequence_rule_and_json_round_trip() -> None:
    assert is_newer(4, 5) and not is_newer(5, 5) and not is_newer(6, 5)
    state = apply(ExtensionState(extension_id="e1", online=True), call("c1", "early"))
    assert state is not None
    state = apply(state, SetVoicemail(voicemail=Voicemail(new=1, old=2)))
    assert state is not None
    assert state_from_json("e1", 0, state_to_json(state)) == state


def test_coalescing_interval_and_last_state() -> None:
    pacer = coalesce.Pacer(interval=0.2)
    pacer, first = coalesce.changed(pacer, 10.0)
    assert first.send_now
    pacer, second = coalesce.changed(pacer, 10.01)  # in flight: wait for the answer
    assert not second.send_now and second.wake_at is None
    pacer, third = coalesce.answered(pacer, 10.02)  # answered, but inside the interval
    assert not third.send_now and third.wake_at == pytest.approx(10.2)
    pacer, fourth = coalesce.changed(pacer, 10.05)  # a burst: still one pending NOTIFY
    assert not fourth.send_now and fourth.wake_at == pytest.approx(10.2)
    pacer, due = coalesce.poll(pacer, 10.2)
    assert due.send_now and pacer.in_flight and not pacer.dirty
    pacer, quiet = coalesce.answered(pacer, 10.21)
    assert quiet == coalesce.IDLE


def test_no_interval_only_serialises() -> None:
    pacer = coalesce.Pacer(interval=0.0)
    pacer, first = coalesce.changed(pacer, 1.0)
    pacer, second = coalesce.changed(pacer, 1.0)
    assert first.send_now and not second.send_now
    pacer, after = coalesce.answered(pacer, 1.001)
    assert after.send_now


def line(state: str) -> CallUpdate:
    """A call pushed without callId: the extension's line as a whole."""
    return CallUpdate(dialog=Dialog(id="line", state=state))  # type: ignore[arg-type]


def test_line_without_call_id_rings_again_and_terminated_ends_every_call() -> None:
    state = ExtensionState(extension_id="e1", online=True)
    for step in ("confirmed", "terminated", "early", "confirmed"):
        new = apply(state, line(step))
        assert new is not None, step
        assert [d.state for d in new.dialogs] == [step]
        state = new
    both = apply(state, call("c1", "early"))
    assert both is not None and len(both.calls) == 2
    idle = apply(both, line("terminated"))
    assert idle is not None and idle.calls == ()
    assert {d.state for d in idle.dialogs} == {"terminated"} and len(idle.dialogs) == 2
    assert apply(idle, call("c1", "confirmed")) is None  # c1 ended with the line
    assert apply(idle, line("terminated")) is None  # already idle: nothing to tell
