"""The pure decision: a table of every rule, then properties over generated addresses."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provisioning.gate.decision import (
    Action,
    GeoAnswer,
    Policy,
    decide,
    needs_geo,
    normalize_address,
    parse_address,
)

DK = GeoAnswer(country="DK")
SE = GeoAnswer(country="SE")
NO_DB = GeoAnswer(country=None, reason="no GeoIP database configured")
NO_COUNTRY = GeoAnswer(country=None, reason="the GeoIP database has no entry for 10.0.0.1")

OPEN = Policy(mode="OPEN")


def locked(address: str | None) -> Policy:
    return Policy(mode="LOCKED", address=address)


def roaming(*countries: str) -> Policy:
    return Policy(mode="ROAMING", countries=countries)


TABLE = [
    # policy, source, geo, action, code, stored/normalised address
    (OPEN, "192.0.2.1", None, Action.LOCK, "open_lock", "192.0.2.1"),
    (OPEN, "::ffff:192.0.2.1", None, Action.LOCK, "open_lock", "192.0.2.1"),
    (OPEN, "2001:DB8:0:0::1", None, Action.LOCK, "open_lock", "2001:db8::1"),
    (OPEN, "[2001:db8::1]", None, Action.LOCK, "open_lock", "2001:db8::1"),
    (OPEN, "fe80::1%eth0", None, Action.LOCK, "open_lock", "fe80::1"),
    (OPEN, "not-an-ip", None, Action.DENY, "bad_source", "not-an-ip"),
    (OPEN, "", None, Action.DENY, "bad_source", ""),
    (OPEN, "192.0.2.1:5060", None, Action.DENY, "bad_source", "192.0.2.1:5060"),
    (locked("192.0.2.1"), "192.0.2.1", None, Action.ALLOW, "locked_match", "192.0.2.1"),
    (locked("192.0.2.1"), "::ffff:192.0.2.1", None, Action.ALLOW, "locked_match", "192.0.2.1"),
    (locked("::ffff:192.0.2.1"), "192.0.2.1", None, Action.ALLOW, "locked_match", "192.0.2.1"),
    (locked("192.0.2.1"), "192.0.2.2", None, Action.DENY, "locked_mismatch", "192.0.2.2"),
    (locked("192.0.2.1"), "::ffff:192.0.2.2", None, Action.DENY, "locked_mismatch", "192.0.2.2"),
    # ::c000:201 is the IPv4-*compatible* form, a different (deprecated) IPv6 address
    (locked("192.0.2.1"), "::c000:201", None, Action.DENY, "locked_mismatch", "::c000:201"),
    (locked("2001:db8::1"), "2001:0db8::0001", None, Action.ALLOW, "locked_match", "2001:db8::1"),
    (locked("2001:db8::1"), "2001:db8::2", None, Action.DENY, "locked_mismatch", "2001:db8::2"),
    (locked(" 2001:db8::1 "), "2001:db8::1", None, Action.ALLOW, "locked_match", "2001:db8::1"),
    (locked(None), "192.0.2.1", None, Action.DENY, "locked_invalid", "192.0.2.1"),
    (locked(""), "192.0.2.1", None, Action.DENY, "locked_invalid", "192.0.2.1"),
    (locked("garbage"), "192.0.2.1", None, Action.DENY, "locked_invalid", "192.0.2.1"),
    (locked("192.0.2.1"), "bogus", None, Action.DENY, "bad_source", "bogus"),
    (roaming("DK"), "192.0.2.1", DK, Action.ALLOW, "roaming_allowed", "192.0.2.1"),
    (roaming("DK", "SE"), "192.0.2.1", SE, Action.ALLOW, "roaming_allowed", "192.0.2.1"),
    (roaming("dk"), "192.0.2.1", DK, Action.ALLOW, "roaming_allowed", "192.0.2.1"),
    (
        roaming("DK"),
        "192.0.2.1",
        GeoAnswer(country="dk"),
        Action.ALLOW,
        "roaming_allowed",
        "192.0.2.1",
    ),
    (roaming("DK"), "2001:db8::5", DK, Action.ALLOW, "roaming_allowed", "2001:db8::5"),
    (roaming("DK"), "192.0.2.1", SE, Action.DENY, "roaming_country", "192.0.2.1"),
    (roaming("DK"), "192.0.2.1", NO_DB, Action.DENY, "roaming_no_country", "192.0.2.1"),
    (roaming("DK"), "10.0.0.1", NO_COUNTRY, Action.DENY, "roaming_no_country", "10.0.0.1"),
    (roaming("DK"), "192.0.2.1", None, Action.DENY, "roaming_no_country", "192.0.2.1"),
    (roaming(), "192.0.2.1", DK, Action.DENY, "roaming_no_countries", "192.0.2.1"),
    (roaming(" ", ""), "192.0.2.1", DK, Action.DENY, "roaming_no_countries", "192.0.2.1"),
    (Policy(mode="SOMETHING"), "192.0.2.1", DK, Action.DENY, "unknown_mode", "192.0.2.1"),
    (Policy(mode="open"), "192.0.2.1", None, Action.DENY, "unknown_mode", "192.0.2.1"),
]


@pytest.mark.parametrize(("policy", "source", "geo", "action", "code", "address"), TABLE)
def test_decision_table(
    policy: Policy, source: str, geo: GeoAnswer | None, action: Action, code: str, address: str
) -> None:
    decision = decide(policy, source, geo)
    assert (decision.action, decision.code, decision.address) == (action, code, address)
    assert decision.allowed == (action is not Action.DENY)
    assert decision.reason


def test_reasons_say_why() -> None:
    assert "no GeoIP database" in decide(roaming("DK"), "192.0.2.1", NO_DB).reason
    assert "no entry" in decide(roaming("DK"), "10.0.0.1", NO_COUNTRY).reason
    assert "SE is not in DK" in decide(roaming("DK"), "192.0.2.1", SE).reason
    denied = decide(locked("192.0.2.1"), "192.0.2.9", None)
    assert "192.0.2.9" in denied.reason
    assert "192.0.2.1" not in denied.reason  # the locked address is not disclosed


def test_only_roaming_needs_a_lookup() -> None:
    assert needs_geo(roaming("DK"))
    assert not needs_geo(OPEN)
    assert not needs_geo(locked("192.0.2.1"))


def test_normalize_address() -> None:
    assert normalize_address("::ffff:10.1.2.3") == "10.1.2.3"
    assert normalize_address("::FFFF:0A01:0203") == "10.1.2.3"
    assert normalize_address("2001:DB8::0:1") == "2001:db8::1"
    assert normalize_address("[::1]") == "::1"
    assert normalize_address("x") is None
    assert normalize_address(None) is None


ipv4 = st.ip_addresses(v=4)
ipv6 = st.ip_addresses(v=6)
any_ip = st.one_of(ipv4, ipv6)


def spellings(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> list[str]:
    """Ways a peer address can be written that all mean `address`."""
    out = [str(address)]
    if isinstance(address, ipaddress.IPv4Address):
        out.append(f"::ffff:{address}")
        out.append(str(ipaddress.IPv6Address(f"::ffff:{address}")))  # ::ffff:a01:203
        out.append(f"[::ffff:{address}]")
    elif address.ipv4_mapped is None:
        out.append(address.exploded)
        out.append(address.exploded.upper())
        out.append(f"[{address}]")
    return out


@given(any_ip)
def test_open_always_locks_to_the_normalised_source(address: ipaddress.IPv4Address) -> None:
    for spelling in spellings(address):
        decision = decide(OPEN, spelling, None)
        assert decision.action is Action.LOCK
        assert decision.address == normalize_address(str(address))


@given(any_ip, any_ip)
def test_locked_allows_exactly_its_address(
    lock: ipaddress.IPv4Address | ipaddress.IPv6Address,
    source: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    for lock_text in spellings(lock):
        for source_text in spellings(source):
            decision = decide(locked(lock_text), source_text, None)
            same = parse_address(str(lock)) == parse_address(str(source))
            assert decision.allowed == same
            assert decision.action is (Action.ALLOW if same else Action.DENY)


@given(
    any_ip,
    st.sets(st.sampled_from(["DK", "SE", "NO", "DE", "US"]), max_size=4),
    st.one_of(st.none(), st.sampled_from(["DK", "SE", "NO", "DE", "US", "FR"])),
)
def test_roaming_allows_only_listed_countries(
    source: ipaddress.IPv4Address, allowed: set[str], country: str | None
) -> None:
    geo = GeoAnswer(country=country, reason="" if country else "no country")
    decision = decide(roaming(*sorted(allowed)), str(source), geo)
    assert decision.allowed == (country is not None and country in allowed)
    assert decision.action is not Action.LOCK


@given(st.text(max_size=40), st.sampled_from([OPEN, locked("192.0.2.1"), roaming("DK")]))
def test_anything_that_is_not_an_address_is_denied(text: str, policy: Policy) -> None:
    decision = decide(policy, text, DK)
    if parse_address(text) is None:
        assert decision.action is Action.DENY
        assert decision.code == "bad_source"
