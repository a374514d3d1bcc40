"""Country codes of `ip.countries`, and the User-Agent identity check."""

from __future__ import annotations

import pytest

from provisioning.gate.countries import (
    ISO_3166_ALPHA2,
    CountryCodeError,
    is_country_code,
    parse_country_list,
)
from provisioning.gate.identity import check_fetch_mac, check_identity
from provisioning.vendors.useragent import parse_user_agent


def test_country_codes() -> None:
    assert len(ISO_3166_ALPHA2) == 249
    for code in ("DK", "SE", "US", "GB", "DE", "SS", "XK"):
        assert is_country_code(code)
    for code in ("XX", "UK", "EU", "dk", "D", "DNK", "", " DK"):
        assert not is_country_code(code)


def test_parse_country_list() -> None:
    assert parse_country_list("dk, SE ,DK,,") == ("DK", "SE")
    assert parse_country_list("") == ()
    with pytest.raises(CountryCodeError) as caught:
        parse_country_list("DK,xx,SE")
    assert caught.value.code == "xx"
    assert str(caught.value) == "Country code 'xx' is not valid"


YEALINK = {"vendor": "yealink", "model": "T54W", "mac_address": "805EC0123456"}
POLY = {"vendor": "polycom", "model": "VVX 450", "mac_address": "0004F2AABBCC"}
GIGASET = {"vendor": "gigaset", "model": "N670 IP PRO", "mac_address": "7C2F80E0F443"}


@pytest.mark.parametrize(
    ("record", "user_agent", "fields"),
    [
        (YEALINK, "Yealink SIP-T54W 96.85.0.5 80:5e:c0:12:34:56", None),
        (YEALINK, "Yealink SIP-T54W 96.85.0.5", None),
        (YEALINK, None, None),
        (YEALINK, "", None),
        (YEALINK, "Yealink something new 1.0", None),  # unknown format, right vendor
        (YEALINK, "Zoiper rv2.10.8.2", ("vendor",)),  # the leaked-credential softphone
        (YEALINK, "Linphone/5.2.0 (belle-sip/5.2.0)", ("vendor",)),
        (YEALINK, "Yealink SIP-T46U 108.86.0.10", ("model",)),
        (YEALINK, "Yealink SIP-T54W 96.85.0.5 80:5e:c0:00:00:01", ("mac",)),
        (YEALINK, "snomD785/10.1.33.33", ("vendor",)),
        (POLY, "PolycomVVX-VVX_450-UA/6.3.0.14929 Type/Application", None),
        (POLY, "FileTransport PolycomVVX-VVX_150-UA/6.3.0.14929", ("model",)),
        (
            {"vendor": "grandstream", "model": "GXP2170", "mac_address": "000B82123456"},
            "Grandstream Model HW GXP2160 SW 1.0.11.3 DevId 000b82123456",
            ("model",),
        ),
        (
            {"vendor": "grandstream", "model": "GXP2170", "mac_address": "000B82123456"},
            "Grandstream Model HW GXP2170 V1.2A SW 1.0.11.3 DevId 000b82123456",
            None,
        ),
        (GIGASET, "Gigaset N670 IP PRO/83.V2.11.0+build.a546b47;7C2F80E0F443", None),
        (
            {"vendor": "cisco", "model": "SPA504G", "mac_address": None},
            "Linksys/SPA504G-7.5.5 (0018B9FFFF00)",
            None,
        ),
        ({"vendor": "generic", "model": "Test Desk", "mac_address": None}, "Zoiper", None),
        ({"vendor": None, "model": None, "mac_address": None}, "Zoiper", None),
    ],
)
def test_identity_check(
    record: dict[str, str | None], user_agent: str | None, fields: tuple[str, ...] | None
) -> None:
    mismatch = check_identity(
        vendor=record["vendor"],
        model=record["model"],
        mac_address=record["mac_address"],
        user_agent=user_agent,
    )
    if fields is None:
        assert mismatch is None
    else:
        assert mismatch is not None
        assert mismatch.fields == fields
        assert mismatch.reason


@pytest.mark.parametrize(
    ("vendor", "user_agent", "mismatch"),
    [
        ("yealink", "Yealink SIP-T54W 96.85.0.5 80:5e:c0:12:34:56", False),
        ("yealink", "Yealink SIP-T54W 96.86.0.100", True),  # the forged first fetch
        ("yealink", "Yealink SIP-T54W 96.85.0.5 80:5e:c0:00:00:01", True),
        ("yealink", None, True),
        ("yealink", "curl/8.5.0", True),
        ("yealink", "SomethingNew 805EC0123456", False),  # the MAC, however spelled
        ("yealink", "SomethingNew 80-5E-C0-12-34-56", False),
        ("snom", "snomD785/10.1.33.33", True),  # a SIP User-Agent: no MAC
        ("grandstream", "Grandstream Model HW GXP2170 SW 1.0.11.3", True),
        ("mitel", "Zoiper rv2.10", True),
        ("cisco", "Cisco/SPA504G-7.5.5", True),
        ("polycom", "FileTransport PolycomVVX-VVX_450-UA/6.3.0.14929", False),  # no MAC sent
        ("polycom", "Zoiper rv2.10", False),  # the gate's identity check decides
        ("fanvil", None, False),
        ("gigaset", "Gigaset N670 IP PRO/83.V2.11.0+build.a546b47;7C2F80E0F440", True),
        (None, "Yealink SIP-T54W 96.86.0.100", False),
    ],
)
def test_fetch_mac_check(vendor: str | None, user_agent: str | None, mismatch: bool) -> None:
    info = parse_user_agent(user_agent)
    reason = check_fetch_mac(
        vendor=vendor,
        mac_address=YEALINK["mac_address"] or "",
        user_agent=user_agent,
        seen_mac=info.mac if info is not None else None,
    )
    assert (reason is not None) == mismatch
