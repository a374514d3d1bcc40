"""Property tests of the pure registrar decision (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sipcore.location import Binding
from sipcore.registrar.decision import (
    ContactSpec,
    RegisterInput,
    RegistrarPolicy,
    ReportedContact,
    contact_counts,
    decide_register,
    refresh_grant,
)

NOW = 1_000_000.0
POLICY = RegistrarPolicy(
    min_expires=60, max_expires=3600, default_expires=1800, spread_percent=10, max_contacts=3
)
URIS = st.sampled_from([f"sip:{name}@10.0.0.{i}" for i, name in enumerate("abcde", 1)])
EXPIRES = st.one_of(st.none(), st.integers(0, 2**33))
INSTANCES = st.one_of(st.none(), st.sampled_from(["<urn:uuid:1>", "<urn:uuid:2>"]))
contacts = st.builds(
    ContactSpec,
    uri=URIS,
    expires=EXPIRES,
    q=st.one_of(st.none(), st.sampled_from([0.0, 0.5, 1.0])),
    instance_id=INSTANCES,
)
bindings = st.builds(
    Binding,
    phone_id=st.just("p"),
    contact=URIS,
    instance_id=INSTANCES,
    call_id=st.sampled_from(["c1", "c2"]),
    cseq=st.integers(1, 10),
    expires_at=st.floats(NOW + 1, NOW + 3600),
    q=st.none(),
    transport=st.just("udp"),
    source_ip=st.just("127.0.0.1"),
    source_port=st.just(5060),
)
requests = st.builds(
    RegisterInput,
    call_id=st.sampled_from(["c1", "c2", "c3"]),
    cseq=st.integers(1, 12),
    contacts=st.lists(contacts, max_size=4).map(tuple),
    star=st.booleans(),
    expires_header=st.one_of(st.none(), st.integers(0, 7200)),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(bindings, max_size=4, unique_by=lambda b: b.contact), requests, st.floats(0, 0.999))
def test_decision_is_total_and_consistent(
    current: list[Binding], request: RegisterInput, r: float
) -> None:
    decision = decide_register(current, request, POLICY, NOW, lambda: r)
    assert decision.status in (200, 400, 403, 423, 500)
    if not decision.ok:
        assert decision.changes_nothing and not decision.contacts
        assert (decision.status == 423) == (decision.min_expires == 60)
        return
    pairs = {b.contact: b.instance_id for b in current}
    for uri in decision.removals:
        del pairs[uri]
    pairs.update((g.spec.uri, g.spec.instance_id) for g in decision.upserts)
    after, flows = contact_counts(list(pairs.items()))
    before, flows_before = contact_counts([(b.contact, b.instance_id) for b in current])
    assert after <= max(POLICY.max_contacts, before)
    assert flows <= max(POLICY.max_contacts, flows_before)
    for granted in decision.upserts:
        assert POLICY.min_expires <= granted.expires <= POLICY.max_expires
    reported = [c.uri for c in decision.contacts]
    assert len(reported) == len(set(reported))
    expected = ({b.contact for b in current} - set(decision.removals)) | {
        g.spec.uri for g in decision.upserts
    }
    assert set(reported) == expected
    assert not set(decision.removals) & {g.spec.uri for g in decision.upserts}


POLICIES = st.builds(
    RegistrarPolicy,
    min_expires=st.sampled_from([1, 60, 600]),
    max_expires=st.sampled_from([600, 3600, 86400]),
    default_expires=st.sampled_from([1, 1800, 3600]),
    spread_percent=st.sampled_from([0, 10, 50]),
    max_contacts=st.sampled_from([1, 2, 10]),
)


@settings(max_examples=500, deadline=None)
@given(
    bindings,
    st.sampled_from(["c1", "c2", "c3"]),
    st.integers(1, 12),
    contacts,
    st.one_of(st.none(), st.integers(-1, 7200)),
    POLICIES,
    st.floats(0, 0.999),
)
def test_refresh_grant_is_the_general_decision(
    current: Binding,
    call_id: str,
    cseq: int,
    spec: ContactSpec,
    expires_header: int | None,
    policy: RegistrarPolicy,
    r: float,
) -> None:
    """The refresh lane's decision equals decide_register's wherever it answers, and it
    answers every REGISTER that only refreshes the phone's one binding."""
    calls: list[int] = []

    def rand(counter: list[int] = calls) -> float:
        counter.append(1)
        return r

    granted = refresh_grant(current, call_id, cseq, spec, expires_header, policy, rand)
    lane_calls = len(calls)
    calls.clear()
    request = RegisterInput(
        call_id=call_id, cseq=cseq, contacts=(spec,), expires_header=expires_header
    )
    decision = decide_register([current], request, policy, NOW, rand)
    only_refresh = (
        decision.ok
        and not decision.removals
        and [g.spec for g in decision.upserts] == [spec]
        and spec.uri == current.contact
    )
    if granted is None:
        assert not only_refresh
        return
    assert only_refresh
    assert len(calls) == lane_calls  # the same draws of the storm-control cut
    assert decision.upserts[0].expires == granted
    assert decision.contacts == (
        ReportedContact(uri=spec.uri, expires=granted, q=spec.q, instance_id=spec.instance_id),
    )
