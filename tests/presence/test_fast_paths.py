"""The pure fast paths equal the general ones they stand for (property tests):
`coalesce.changed` is `poll` of the pacer marked dirty, and a NOTIFY plan's explicit
construction (`subscription.notify`) is the `dataclasses.replace` it avoids."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from sipcore.presence import coalesce, subscription
from sipcore.presence.subscription import Subscription, SubscriptionDialog

_time = st.floats(0, 1e6, allow_nan=False)
_pacers = st.builds(
    coalesce.Pacer,
    interval=st.sampled_from([0.0, 0.05, 1.0]) | st.floats(0, 10, allow_nan=False),
    last_sent=st.none() | _time,
    in_flight=st.booleans(),
    dirty=st.booleans(),
)


@settings(max_examples=500, deadline=None)
@given(pacer=_pacers, now=_time)
def test_changed_is_poll_of_the_dirty_pacer(pacer: coalesce.Pacer, now: float) -> None:
    assert coalesce.changed(pacer, now) == coalesce.poll(replace(pacer, dirty=True), now)


_text = st.text(min_size=1, max_size=8)
_subs = st.builds(
    Subscription,
    id=_text,
    package=st.sampled_from(sorted(subscription.PACKAGES)),
    event_id=st.none() | _text,
    content_type=_text,
    extension_id=_text,
    customer_id=_text,
    entity=_text,
    profile=_text,
    dialog=st.builds(
        SubscriptionDialog,
        call_id=_text,
        local_tag=_text,
        remote_tag=_text,
        local_uri=_text,
        remote_uri=_text,
        remote_target=_text,
        route_set=st.lists(_text, max_size=2).map(tuple),
        local_cseq=st.integers(0, 2**31 - 2),
        remote_cseq=st.integers(0, 2**31 - 1),
    ),
    expires_at=_time,
    version=st.integers(0, 2**31),
)


@settings(max_examples=300, deadline=None)
@given(sub=_subs, now=_time)
def test_a_notify_plan_is_the_subscription_one_step_on(sub: Subscription, now: float) -> None:
    after, plan = subscription.notify(sub, now)
    dialog = replace(sub.dialog, local_cseq=sub.dialog.local_cseq + 1)
    assert after == replace(sub, dialog=dialog, version=sub.version + 1)
    assert plan.dialog == dialog and plan.version == sub.version and not plan.final
    assert plan.event == sub.event_header and plan.content_type == sub.content_type
