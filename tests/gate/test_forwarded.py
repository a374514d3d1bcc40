"""Trusted edges: forwarded client addresses believed from trusted proxies only."""

from __future__ import annotations

import ipaddress

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from provisioning.gate.forwarded import forwarded_client, request_client
from sipcore.edge import client_address, is_trusted_peer
from sipcore.headers import parse_via

TRUSTED = (ipaddress.ip_network("10.0.0.0/24"), ipaddress.ip_network("2001:db8:ff::/48"))


@pytest.mark.parametrize(
    ("peer", "xff", "client"),
    [
        # untrusted peers: the header is ignored, whatever it says
        ("203.0.113.9", ["127.0.1.5"], "203.0.113.9"),
        ("203.0.113.9", [], "203.0.113.9"),
        ("::ffff:203.0.113.9", ["1.1.1.1"], "203.0.113.9"),
        # trusted proxy: the rightmost untrusted hop
        ("10.0.0.2", ["198.51.100.7"], "198.51.100.7"),
        ("10.0.0.2", ["6.6.6.6, 198.51.100.7"], "198.51.100.7"),  # client-written left part
        ("10.0.0.2", ["6.6.6.6", "198.51.100.7, 10.0.0.3"], "198.51.100.7"),  # two lines
        ("10.0.0.2", ["198.51.100.7:5060"], "198.51.100.7"),
        ("10.0.0.2", ["[2001:db8::7]:443"], "2001:db8::7"),
        ("10.0.0.2", ["2001:db8::7"], "2001:db8::7"),
        ("10.0.0.2", ["::ffff:198.51.100.7"], "198.51.100.7"),
        ("2001:db8:ff::1", ["198.51.100.7"], "198.51.100.7"),
        # trusted proxy without the header, or only trusted hops
        ("10.0.0.2", [], "10.0.0.2"),
        ("10.0.0.2", ["10.0.0.3"], "10.0.0.3"),
        # garbage from a trusted proxy: not believed past it
        ("10.0.0.2", ["198.51.100.7, unknown"], "10.0.0.2"),
        ("10.0.0.2", ["198.51.100.7, 10.0.0.3, junk"], "10.0.0.2"),
    ],
)
def test_x_forwarded_for(peer: str, xff: list[str], client: str) -> None:
    assert forwarded_client(peer, xff, TRUSTED) == client


def test_no_trusted_proxies_means_the_peer() -> None:
    assert forwarded_client("10.0.0.2", ["198.51.100.7"], ()) == "10.0.0.2"


def test_request_client_reads_every_header_line() -> None:
    headers = CIMultiDictProxy(
        CIMultiDict([("X-Forwarded-For", "6.6.6.6"), ("x-forwarded-for", "198.51.100.7")])
    )
    assert request_client("10.0.0.2", headers, TRUSTED) == "198.51.100.7"
    assert request_client("203.0.113.1", headers, TRUSTED) == "203.0.113.1"
    assert request_client(None, headers, TRUSTED) is None


def vias(*texts: str) -> list:  # type: ignore[type-arg]
    return [parse_via(text) for text in texts]


PROXY_VIA = "SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK-proxy"
PHONE_VIA = "SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bK-phone;received=198.51.100.7;rport=40001"


def test_edge_proxy_via_received_is_the_client() -> None:
    found = client_address("10.0.0.2", 5060, vias(PROXY_VIA, PHONE_VIA), TRUSTED)
    assert (found.ip, found.port, found.via_proxy) == ("198.51.100.7", 40001, True)


def test_forged_via_from_an_untrusted_peer_is_ignored() -> None:
    forged = "SIP/2.0/UDP 6.6.6.6;branch=z9hG4bK-x;received=127.0.1.5;rport=5"
    found = client_address("203.0.113.9", 5062, vias(forged, PHONE_VIA), TRUSTED)
    assert (found.ip, found.port, found.via_proxy) == ("203.0.113.9", 5062, False)
    found = client_address("203.0.113.9", 5062, vias(PHONE_VIA), TRUSTED)
    assert found.ip == "203.0.113.9"


def test_edge_chain_and_edge_cases() -> None:
    # two trusted proxies in a row: walk past both
    second = "SIP/2.0/UDP 10.0.0.3:5060;branch=z9hG4bK-p2;received=10.0.0.3"
    found = client_address("10.0.0.2", 5060, vias(PROXY_VIA, second, PHONE_VIA), TRUSTED)
    assert found.ip == "198.51.100.7"
    # no received: the sent-by host is where the proxy got it from
    plain = "SIP/2.0/TCP 198.51.100.8:5070;branch=z9hG4bK-a"
    found = client_address("10.0.0.2", 5060, vias(PROXY_VIA, plain), TRUSTED)
    assert (found.ip, found.port) == ("198.51.100.8", 5070)
    # a host name where an address should be: stop at the proxy
    named = "SIP/2.0/UDP phone.example.com;branch=z9hG4bK-b"
    found = client_address("10.0.0.2", 5060, vias(PROXY_VIA, named), TRUSTED)
    assert (found.ip, found.via_proxy) == ("10.0.0.2", False)
    # a phone inside a trusted network talking directly: itself
    found = client_address("10.0.0.9", 5060, vias(PHONE_VIA.replace("received", "x")), TRUSTED)
    assert found.ip == "10.0.0.9"
    # IPv6 and mapped peers
    v6 = "SIP/2.0/UDP [2001:db8::5]:5060;branch=z9hG4bK-c;received=2001:db8::6"
    found = client_address("::ffff:10.0.0.2", 5060, vias(PROXY_VIA, v6), TRUSTED)
    assert found.ip == "2001:db8::6"
    assert client_address("10.0.0.2", 1, vias(PROXY_VIA, PHONE_VIA), ()).ip == "10.0.0.2"


def test_is_trusted_peer() -> None:
    assert is_trusted_peer("10.0.0.2", TRUSTED)
    assert is_trusted_peer("::ffff:10.0.0.2", TRUSTED)
    assert is_trusted_peer("2001:db8:ff::9", TRUSTED)
    assert not is_trusted_peer("10.0.1.2", TRUSTED)
    assert not is_trusted_peer("garbage", TRUSTED)
    assert not is_trusted_peer("10.0.0.2", ())
