"""The pure parts of the phone record: value checks, normalisation and partial merge."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provisioning.gate.countries import COUNTRY_CODES, ISO_3166_ALPHA2
from provisioning.phones.fields import PHONE_FIELDS
from provisioning.phones.parse import normalise_mac, parse_object
from provisioning.phones.record import defaults, merge, to_columns, to_document


@pytest.mark.parametrize(
    ("text", "mac"),
    [
        ("4EE8A34B56F3", "4EE8A34B56F3"),
        ("4e:e8:a3:4b:56:f3", "4EE8A34B56F3"),
        ("4e-e8-a3-4b-56-f3", "4EE8A34B56F3"),
        ("4ee8.a34b.56f3", "4EE8A34B56F3"),
        ("4EE8A34B56F", None),
        ("4EE8A34B56FG", None),
        ("", None),
        (None, None),
    ],
)
def test_mac_addresses(text: Any, mac: str | None) -> None:
    assert normalise_mac(text) == mac


@pytest.mark.parametrize(
    ("network", "errors"),
    [
        ({"subnet": "255.255.255.0", "gateway": "10.0.0.1", "dns1": "::1"}, []),
        ({"subnet": "255.255.0.255"}, ["network.subnet"]),
        ({"subnet": "0.0.0.0", "vlanId": "4094", "vlanPriority": 0}, []),
        ({"vlanId": -1, "vlanPriority": True}, ["network.vlanId", "network.vlanPriority"]),
        ({"dhcp": "yes", "ipAddress": "10.0.0.256"}, ["network.dhcp", "network.ipAddress"]),
    ],
)
def test_network_values(network: dict[str, Any], errors: list[str]) -> None:
    parsed = parse_object({"network": network}, PHONE_FIELDS)
    assert [e.message for e in parsed.errors] == errors


def test_countries_are_normalised_and_each_bad_code_named() -> None:
    parsed = parse_object({"ip": {"countries": " dk,se ,DK"}}, PHONE_FIELDS)
    assert parsed.values["ip"]["countries"] == "DK,SE" and not parsed.errors
    parsed = parse_object({"ip": {"countries": "DK,EU"}}, PHONE_FIELDS)
    assert parsed.errors[0].description == "Country code 'EU' is not valid"
    assert len(ISO_3166_ALPHA2) == 249 and {"DK", "US", "GB", "SE"} <= COUNTRY_CODES
    # the codes GeoIP databases answer beyond ISO 3166-1 (Kosovo) can be configured too
    assert "XK" in COUNTRY_CODES


def test_merge_is_per_field_for_objects_and_whole_for_arrays() -> None:
    current = {"ringer": {"volume": 1, "tone": 2}, "softkeys": [{"index": 0}], "notes": "a"}
    patch = {"ringer": {"tone": 5}, "softkeys": [{"index": 9}]}
    assert merge(current, patch, PHONE_FIELDS) == {
        "ringer": {"volume": 1, "tone": 5},
        "softkeys": [{"index": 9}],
        "notes": "a",
    }
    assert merge(current, {"ringer": None}, PHONE_FIELDS)["ringer"] is None


@given(
    st.dictionaries(st.sampled_from(["notes", "serial", "customConfig"]), st.text(max_size=20)),
    st.sampled_from(["OPEN", "LOCKED", "ROAMING"]),
    st.integers(0, 15),
)
def test_columns_round_trip(texts: dict[str, str], mode: str, volume: int) -> None:
    document = merge(
        defaults(), {**texts, "ip": {"mode": mode}, "ringer": {"volume": volume}}, PHONE_FIELDS
    )
    back = to_document(to_columns(document))
    for key, value in texts.items():
        assert back[key] == value
    assert back["ip"]["mode"] == mode and back["ringer"] == {"volume": volume}
