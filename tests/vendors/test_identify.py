"""File names each vendor asks for, and User-Agents each vendor sends."""

from __future__ import annotations

import pytest

from provisioning.vendors.filenames import expand_pattern, match_file, resolve
from provisioning.vendors.useragent import UserAgentInfo, normalise_mac, parse_user_agent

MAC = "0015654AA937"


@pytest.mark.parametrize(
    ("name", "vendor", "candidates", "mac", "kind", "model"),
    [
        ("y000000000096.cfg", "yealink", ("yealink",), None, "common", "096"),
        ("0015654aa937.cfg", None, ("yealink", "fanvil", "polycom", "mitel"), MAC, "device", None),
        ("0015654AA937.cfg", None, ("mitel", "yealink", "fanvil", "polycom"), MAC, "device", None),
        ("snomD785-0015654AA937.htm", "snom", ("snom",), MAC, "device", "D785"),
        ("snomD785.htm", "snom", ("snom",), None, "common", "D785"),
        ("snomD785.xml", "snom", ("snom",), None, "common", "D785"),
        ("M700-0015654AA937.htm", "snom", ("snom",), MAC, "device", "M700"),
        ("0015654AA937.xml", None, ("snom", "gigaset"), MAC, "device", None),
        ("cfg0015654aa937.xml", "grandstream", ("grandstream",), MAC, "device", None),
        ("cfg0015654aa937", "grandstream", ("grandstream",), MAC, "device", None),
        ("cfg.xml", "grandstream", ("grandstream",), None, "common", None),
        ("000000000000.cfg", "polycom", ("polycom",), None, "common", None),
        ("0015654aa937-user.cfg", "polycom", ("polycom",), MAC, "device", None),
        ("spa504G.cfg", "cisco", ("cisco",), None, "common", "504G"),
        ("spa0015654aa937.xml", "cisco", ("cisco",), MAC, "device", None),
        ("aastra.cfg", "mitel", ("mitel",), None, "common", None),
        ("6867i.cfg", "mitel", ("mitel",), None, "common", "6867i"),
        ("/prov/s3cr3t/cfg0015654aa937.xml", "grandstream", ("grandstream",), MAC, "device", None),
    ],
)
def test_file_names(
    name: str,
    vendor: str | None,
    candidates: tuple[str, ...],
    mac: str | None,
    kind: str,
    model: str | None,
) -> None:
    request = match_file(name)
    assert request is not None
    assert (request.vendor, request.candidates, request.mac, request.kind, request.model) == (
        vendor,
        candidates,
        mac,
        kind,
        model,
    )


@pytest.mark.parametrize(
    "name",
    [
        "",
        "index.html",
        "../../etc/passwd",
        "0015654aa93.cfg",
        "x" * 200 + ".cfg",
        "y00000000009.cfg",
    ],
)
def test_unknown_names(name: str) -> None:
    assert match_file(name) is None


def test_ambiguous_names_resolved_by_user_agent() -> None:
    request = match_file("0015654aa937.cfg")
    assert request is not None
    polycom = resolve(request, parse_user_agent("FileTransport PolycomVVX-VVX_450-UA/6.3.0.14929"))
    assert polycom is not None and (polycom.vendor, polycom.kind) == ("polycom", "master")
    yealink = resolve(request, parse_user_agent("Yealink SIP-T54W 96.85.0.5 00:15:65:4a:a9:37"))
    assert yealink is not None and (yealink.vendor, yealink.kind) == ("yealink", "device")
    assert resolve(request, None) is None
    assert resolve(request, parse_user_agent("Cisco/SPA504G-7.5.5 (0015654AA937)")) is None
    with pytest.raises(ValueError):
        request.for_vendor("cisco")


def test_expand_pattern() -> None:
    assert expand_pattern("{mac}.cfg", MAC) == "0015654aa937.cfg"
    assert expand_pattern("snomD785-{MAC}.htm", MAC.lower()) == "snomD785-0015654AA937.htm"


@pytest.mark.parametrize(
    ("header", "expected", "slug"),
    [
        (
            "Yealink SIP-T46G 28.72.0.1 00:15:65:4a:a9:37",
            UserAgentInfo(vendor="yealink", model="T46G", firmware="28.72.0.1", mac="0015654AA937"),
            "yealink-t46g",
        ),
        (
            "Yealink W60B 77.83.0.85 80:5e:c0:aa:bb:cc",
            UserAgentInfo(
                vendor="yealink", model="W60B", firmware="77.83.0.85", mac="805EC0AABBCC"
            ),
            "yealink-w60b",
        ),
        (
            "Mozilla/4.0 (compatible; snomD785-SIP 10.1.33.33 1.1.3-s 000413922D24 UPDATE)",
            UserAgentInfo(vendor="snom", model="D785", firmware="10.1.33.33", mac="000413922D24"),
            "snom-d785",
        ),
        (
            "snomD735/10.1.46.16",
            UserAgentInfo(vendor="snom", model="D735", firmware="10.1.46.16", mac=None),
            "snom-d735",
        ),
        (
            "Grandstream Model HW GXP1628 SW 1.0.4.138 DevId c074ad2bd859",
            UserAgentInfo(
                vendor="grandstream", model="GXP1628", firmware="1.0.4.138", mac="C074AD2BD859"
            ),
            "grandstream-gxp1628",
        ),
        (
            "Grandstream Model HW GXP2170 V1.2A SW 1.0.11.3 DevId 000b82123456",
            UserAgentInfo(
                vendor="grandstream", model="GXP2170", firmware="1.0.11.3", mac="000B82123456"
            ),
            "grandstream-gxp2170",
        ),
        (
            "FileTransport PolycomVVX-VVX_410-UA/5.9.0.9373",
            UserAgentInfo(vendor="polycom", model="VVX_410", firmware="5.9.0.9373", mac=None),
            "polycom-vvx410",
        ),
        (
            "Cisco/SPA504G-7.5.5 (0018B9FFFF00)(CCQ1234567)",
            UserAgentInfo(vendor="cisco", model="SPA504G", firmware="7.5.5", mac="0018B9FFFF00"),
            "cisco-spa504g",
        ),
        (
            "Aastra6757i MAC:00-08-5D-1A-2B-3C V:3.3.1.4305-SIP",
            UserAgentInfo(vendor="mitel", model="6757i", firmware="3.3.1.4305", mac="00085D1A2B3C"),
            "mitel-6757i",
        ),
        (
            "Mitel6867i MAC:00-08-5D-12-34-56 V:5.1.0.2051-SIP",
            UserAgentInfo(vendor="mitel", model="6867i", firmware="5.1.0.2051", mac="00085D123456"),
            "mitel-6867i",
        ),
        (
            "Fanvil X5U 2.12.1 0c383e123456",
            UserAgentInfo(vendor="fanvil", model="X5U", firmware="2.12.1", mac="0C383E123456"),
            "fanvil-x5u",
        ),
        (
            "Gigaset N670 IP PRO/83.V2.11.0+build.a546b47;7C2F80E0F443",
            UserAgentInfo(
                vendor="gigaset",
                model="N670 IP PRO",
                firmware="83.V2.11.0+build.a546b47",
                mac="7C2F80E0F443",
            ),
            "gigaset-n670",
        ),
    ],
)
def test_user_agents(header: str, expected: UserAgentInfo, slug: str) -> None:
    info = parse_user_agent(header)
    assert info == expected
    assert info.catalogue_name == slug


@pytest.mark.parametrize(
    "header", [None, "", "curl/8.5.0", "Mozilla/5.0 (X11; Linux x86_64)", "Yealink"]
)
def test_unknown_user_agents(header: str | None) -> None:
    assert parse_user_agent(header) is None


def test_normalise_mac() -> None:
    assert normalise_mac("00:15:65:4a:a9:37") == MAC
    assert normalise_mac("00-15-65-4A-A9-37") == MAC
    assert normalise_mac("0015654aa937") == MAC
    assert normalise_mac("0015654aa93") is None
    assert normalise_mac("00:15:65:4a:a9:37:00") is None
