"""The location service's compact structures (one Binding per single-contact phone, the
expiry buckets by second, shared strings) behave as a plain dict of dicts would."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from sipcore.location import Binding, LocationService

NOW = 1_700_000_000.0
PHONES = ["p1", "p2", "p3"]
CONTACTS = ["sip:a@h", "sip:b@h", "sip:c@h"]


def make(phone_id: str, contact: str, expires_at: float, port: int = 5060) -> Binding:
    return Binding(
        phone_id=phone_id, contact=contact, call_id="c@h", cseq=1, expires_at=expires_at,
        q=None, transport="udp", source_ip="".join(["10.0.0.", "1"]), source_port=port,
        local_ip="".join(["192.168.1.", "2"]),
    )  # fmt: skip


operations = st.lists(
    st.one_of(
        st.tuples(
            st.just("put"),
            st.sampled_from(PHONES),
            st.sampled_from(CONTACTS),
            st.floats(min_value=0, max_value=30).map(lambda d: NOW + round(d, 1)),
        ),
        st.tuples(st.just("remove"), st.sampled_from(PHONES), st.sampled_from(CONTACTS)),
        st.tuples(st.just("drop"), st.sampled_from(PHONES)),
        st.tuples(
            st.just("unreachable"),
            st.sampled_from(PHONES),
            st.sampled_from(CONTACTS),
            st.booleans(),
        ),
        st.tuples(st.just("expire"), st.floats(min_value=0, max_value=35).map(lambda d: NOW + d)),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(operations)
def test_location_matches_a_plain_model(ops: list[tuple]) -> None:  # type: ignore[type-arg]
    loc = LocationService()
    model: dict[str, dict[str, Binding]] = {}
    for op in ops:
        if op[0] == "put":
            _, phone, contact, expires_at = op
            loc.put(make(phone, contact, expires_at))
            model.setdefault(phone, {})[contact] = make(phone, contact, expires_at)
        elif op[0] == "remove":
            _, phone, contact = op
            loc.apply(phone, [], [contact])
            model.get(phone, {}).pop(contact, None)
        elif op[0] == "drop":
            gone = loc.remove_phone(op[1])
            assert sorted(gone, key=lambda b: b.contact) == sorted(
                model.pop(op[1], {}).values(), key=lambda b: b.contact
            )
        elif op[0] == "unreachable":
            _, phone, contact, flag = op
            updated = loc.set_unreachable(phone, contact, flag)
            current = model.get(phone, {}).get(contact)
            assert (updated is None) == (current is None)
            if current is not None:
                model[phone][contact] = replace(current, unreachable=flag)
        else:
            now = op[1]
            expired = loc.pop_expired(now)
            expected = [b for items in model.values() for b in items.values()
                        if b.expires_at <= now]  # fmt: skip
            assert sorted(expired, key=lambda b: (b.phone_id, b.contact)) == sorted(
                expected, key=lambda b: (b.phone_id, b.contact)
            )
            for b in expected:
                del model[b.phone_id][b.contact]
        model = {phone: items for phone, items in model.items() if items}
        assert len(loc) == sum(len(items) for items in model.values())
        for phone in PHONES:
            assert sorted(loc.bindings_of(phone), key=lambda b: b.contact) == sorted(
                model.get(phone, {}).values(), key=lambda b: b.contact
            )
            for contact in CONTACTS:
                assert loc.binding(phone, contact) == model.get(phone, {}).get(contact)
            online = any(not b.unreachable for b in model.get(phone, {}).values())
            assert loc.is_online(phone) == online
        assert sorted(loc.phones()) == sorted(model)
        everything = [b for items in model.values() for b in items.values()]
        expected_next = min((b.expires_at for b in everything), default=None)
        assert loc.next_expiry() == expected_next


def test_stored_bindings_share_equal_values() -> None:
    loc = LocationService()
    first = make("p1", "sip:a@h", NOW + 10, port=int("5070"))
    second = make("p2", "sip:a@h", NOW + 10, port=int("5070"))
    assert first.source_ip is not second.source_ip and first.source_port is not second.source_port
    loc.put(first)
    loc.put(second)
    assert first.source_ip is second.source_ip and first.local_ip is second.local_ip
    assert first.source_port is second.source_port
    assert second == make("p2", "sip:a@h", NOW + 10, port=5070)
