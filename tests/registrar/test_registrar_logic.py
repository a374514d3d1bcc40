"""The pure registrar decision (RFC 3261 §10.3) and location state, table-driven."""

from __future__ import annotations

import dataclasses

import pytest

from sipcore.location import Binding, LocationService
from sipcore.registrar.decision import (
    ContactSpec,
    RegisterInput,
    RegistrarPolicy,
    contact_counts,
    decide_register,
)

POLICY = RegistrarPolicy(min_expires=60, max_expires=3600, default_expires=1800, spread_percent=0)
NOW = 1_000_000.0


def binding(
    contact: str, *, call_id: str = "c1", cseq: int = 1, expires_in: float = 600
) -> Binding:
    return Binding(
        phone_id="p1",
        contact=contact,
        call_id=call_id,
        cseq=cseq,
        expires_at=NOW + expires_in,
        q=None,
        transport="udp",
        source_ip="127.0.0.1",
        source_port=5060,
    )


def request(
    *contacts: ContactSpec,
    call_id: str = "c1",
    cseq: int = 2,
    expires: int | None = None,
    star: bool = False,
) -> RegisterInput:
    return RegisterInput(
        call_id=call_id, cseq=cseq, contacts=contacts, star=star, expires_header=expires
    )


def decide(
    current: list[Binding], req: RegisterInput, policy: RegistrarPolicy = POLICY, r: float = 0.0
):
    return decide_register(current, req, policy, NOW, lambda: r)


def test_new_binding_uses_default_expiry_and_reports_it() -> None:
    d = decide([], request(ContactSpec(uri="sip:a@1.2.3.4")))
    assert d.status == 200
    assert [(g.spec.uri, g.expires) for g in d.upserts] == [("sip:a@1.2.3.4", 1800)]
    assert [(c.uri, c.expires) for c in d.contacts] == [("sip:a@1.2.3.4", 1800)]


@pytest.mark.parametrize(
    ("param", "header", "granted"),
    [
        (None, 300, 300),
        (120, 300, 120),
        (None, None, 1800),
        (99999, None, 3600),
        (None, 2**40, 3600),
    ],
)
def test_expiry_param_header_default_and_cap(
    param: int | None, header: int | None, granted: int
) -> None:
    d = decide([], request(ContactSpec(uri="sip:a@h", expires=param), expires=header))
    assert d.upserts[0].expires == granted


def test_too_brief_gets_423_with_min_expires_and_changes_nothing() -> None:
    d = decide([], request(ContactSpec(uri="sip:a@h", expires=30)))
    assert (d.status, d.min_expires, d.upserts, d.removals) == (423, 60, (), ())


def test_expires_zero_removes_and_200_lists_the_rest() -> None:
    current = [binding("sip:a@h"), binding("sip:b@h", expires_in=100)]
    d = decide(current, request(ContactSpec(uri="sip:a@h", expires=0)))
    assert d.removals == ("sip:a@h",)
    assert [(c.uri, c.expires) for c in d.contacts] == [("sip:b@h", 100)]


def test_star_needs_expires_zero_and_no_other_contact() -> None:
    current = [binding("sip:a@h"), binding("sip:b@h")]
    assert decide(current, request(star=True, expires=0)).removals == ("sip:a@h", "sip:b@h")
    assert decide(current, request(star=True, expires=60)).status == 400
    assert decide(current, request(star=True)).status == 400
    assert decide(current, request(ContactSpec(uri="sip:c@h"), star=True, expires=0)).status == 400


def test_same_call_id_needs_higher_cseq() -> None:
    current = [binding("sip:a@h", cseq=5)]
    assert decide(current, request(ContactSpec(uri="sip:a@h"), cseq=5)).status == 500
    assert decide(current, request(ContactSpec(uri="sip:a@h"), cseq=4)).status == 500
    assert decide(current, request(ContactSpec(uri="sip:a@h"), cseq=6)).status == 200
    # another Call-ID (the phone rebooted) replaces it whatever its CSeq
    assert decide(current, request(ContactSpec(uri="sip:a@h"), call_id="c2", cseq=1)).status == 200
    assert decide(current, request(star=True, expires=0, cseq=5)).status == 500


def test_several_contacts_with_q() -> None:
    d = decide(
        [],
        request(ContactSpec(uri="sip:a@h", q=0.5), ContactSpec(uri="sip:b@h", q=1.0), expires=300),
    )
    assert [(c.uri, c.q, c.expires) for c in d.contacts] == [
        ("sip:a@h", 0.5, 300),
        ("sip:b@h", 1.0, 300),
    ]


def test_fetch_only_changes_nothing_and_lists_current() -> None:
    d = decide([binding("sip:a@h")], request())
    assert d.status == 200 and d.changes_nothing
    assert [c.uri for c in d.contacts] == ["sip:a@h"]


def test_storm_spread_cuts_up_to_percent_never_under_minimum() -> None:
    policy = RegistrarPolicy(
        min_expires=60, max_expires=3600, default_expires=3600, spread_percent=10
    )
    assert (
        decide([], request(ContactSpec(uri="sip:a@h"), expires=3600), policy, r=0.999)
        .upserts[0]
        .expires
        == 3241
    )
    assert (
        decide([], request(ContactSpec(uri="sip:a@h"), expires=3600), policy, r=0.0)
        .upserts[0]
        .expires
        == 3600
    )
    assert (
        decide([], request(ContactSpec(uri="sip:a@h"), expires=62), policy, r=0.999)
        .upserts[0]
        .expires
        == 60
    )
    assert (
        decide([], request(ContactSpec(uri="sip:a@h"), expires=60), policy, r=0.999)
        .upserts[0]
        .expires
        == 60
    )


def test_location_online_expiry_and_unreachable() -> None:
    loc = LocationService()
    before, after = loc.apply(
        "p1", [binding("sip:a@h", expires_in=10), binding("sip:b@h", expires_in=20)], []
    )
    assert (before, after) == (False, True)
    assert loc.next_expiry() == NOW + 10
    loc.set_unreachable("p1", "sip:a@h", True)
    loc.set_unreachable("p1", "sip:b@h", True)
    assert loc.online_phones() == set()
    loc.set_unreachable("p1", "sip:b@h", False)
    assert loc.online_phones() == {"p1"}
    # a refresh moves the expiry: the stale heap entry is skipped
    loc.put(binding("sip:a@h", expires_in=30))
    assert loc.next_expiry() == NOW + 20
    assert [b.contact for b in loc.pop_expired(NOW + 25)] == ["sip:b@h"]
    assert [b.contact for b in loc.pop_expired(NOW + 30)] == ["sip:a@h"]
    assert loc.bindings_of("p1") == [] and len(loc) == 0 and loc.next_expiry() is None


def test_location_replaces_only_the_one_binding_it_was_given() -> None:
    loc = LocationService()
    old = binding("sip:a@h", expires_in=10)
    loc.put(old)
    assert loc.only_binding("p1") is old and loc.only_binding("p2") is None
    newer = binding("sip:a@h", cseq=2, expires_in=50)
    assert not loc.replace_only(old, binding("sip:other@h"))  # another contact
    assert loc.replace_only(old, newer)
    assert loc.bindings_of("p1") == [newer] and len(loc) == 1
    assert not loc.replace_only(old, binding("sip:a@h", cseq=3))  # old is gone already
    assert loc.bindings_of("p1") == [newer]
    assert loc.pop_expired(NOW + 20) == [] and loc.next_expiry() == NOW + 50
    loc.put(binding("sip:b@h"))
    assert loc.only_binding("p1") is None  # two contacts: the general path decides
    assert not loc.replace_only(newer, binding("sip:a@h", cseq=4))


def flow(contact: str, instance: str | None, **kwargs: float) -> Binding:
    return dataclasses.replace(binding(contact, **kwargs), instance_id=instance)


LIMIT3 = RegistrarPolicy(
    min_expires=60, max_expires=3600, default_expires=1800, spread_percent=0, max_contacts=3
)


def test_contact_limit_refuses_the_one_too_many_and_changes_nothing() -> None:
    current = [binding(f"sip:{name}@h") for name in "abc"]
    d = decide(current, request(ContactSpec(uri="sip:d@h")), LIMIT3)
    assert (d.status, d.reason) == (403, "Too Many Contacts")
    assert d.changes_nothing and not d.contacts
    # two new at once when one would fit: refused whole
    d = decide(current[:2], request(ContactSpec(uri="sip:d@h"), ContactSpec(uri="sip:e@h")), LIMIT3)
    assert d.status == 403 and d.changes_nothing
    # up to the limit in one REGISTER is fine
    assert decide([], request(*(ContactSpec(uri=f"sip:{n}@h") for n in "abc")), LIMIT3).ok


def test_contact_limit_counts_live_bindings_and_lets_replacements_through() -> None:
    current = [binding(f"sip:{name}@h") for name in "abc"]
    # a refresh of one of them, and a replacement (removal + new) in one REGISTER
    assert decide(current, request(ContactSpec(uri="sip:a@h")), LIMIT3).ok
    swap = request(ContactSpec(uri="sip:a@h", expires=0), ContactSpec(uri="sip:d@h"))
    assert decide(current, swap, LIMIT3).ok
    # an expired binding not yet swept does not count
    lapsed = [*current[:2], binding("sip:c@h", expires_in=-1)]
    assert decide(lapsed, request(ContactSpec(uri="sip:d@h")), LIMIT3).ok


def test_flows_of_one_instance_count_once() -> None:
    uuid = "<urn:uuid:00000000-0000-1000-8000-000a95a0e128>"
    current = [flow("sip:a@h", uuid), flow("sip:a2@h", uuid), binding("sip:b@h")]
    d = decide(current, request(ContactSpec(uri="sip:c@h")), LIMIT3)
    assert d.ok  # a's two flows, b, c: three contacts
    third_flow = request(ContactSpec(uri="sip:a3@h", instance_id=uuid, reg_id=3))
    assert decide([*current, flow("sip:c@h", None)], third_flow, LIMIT3).ok
    # but no instance holds more flows than the limit
    flows = [flow(f"sip:a{i}@h", uuid) for i in range(3)]
    d = decide(flows, request(ContactSpec(uri="sip:a9@h", instance_id=uuid)), LIMIT3)
    assert (d.status, d.reason) == (403, "Too Many Contacts")


def test_a_phone_over_a_lowered_limit_may_refresh_and_remove() -> None:
    current = [binding(f"sip:{name}@h") for name in "abcde"]
    assert decide(current, request(ContactSpec(uri="sip:a@h")), LIMIT3).ok
    assert decide(current, request(ContactSpec(uri="sip:a@h", expires=0)), LIMIT3).ok
    assert decide(current, request(star=True, expires=0), LIMIT3).ok
    assert decide(current, request(ContactSpec(uri="sip:f@h")), LIMIT3).status == 403


def test_contact_counts() -> None:
    assert contact_counts([]) == (0, 0)
    pairs = [("sip:a@h", "i1"), ("sip:b@h", "i1"), ("sip:c@h", None), ("sip:c@h", None)]
    assert contact_counts(pairs) == (2, 2)
    with pytest.raises(ValueError):
        RegistrarPolicy(max_contacts=0)
