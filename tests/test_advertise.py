"""The host phones are told to use is never a bare name they cannot resolve: an empty
`sip_advertised_host` becomes a dotted `sip_domain`, the SIP listener's address, or the
default route's interface address, and start refuses with one line when none is known;
`sipfleet serve` prints the provisioning URL and SIP server to give the phones."""

from __future__ import annotations

import dataclasses
import ipaddress
import socket
import time
from pathlib import Path

import pytest

from provisioning.app import advertise
from provisioning.app.advertise import advertised_host, startup_lines, with_advertised_host
from provisioning.config import ConfigError, Settings
from tests.support.processes import start_sipfleet


def _settings(settings: Settings, **changes: str) -> Settings:
    return dataclasses.replace(settings, **{"sip_advertised_host": "", **changes})


def test_a_configured_host_or_dotted_domain_is_kept(settings: Settings) -> None:
    assert advertised_host(_settings(settings, sip_advertised_host="sbc.example.net")) == (
        "sbc.example.net"
    )
    assert advertised_host(_settings(settings, sip_domain="pbx.example.com")) == "pbx.example.com"
    assert advertised_host(_settings(settings, sip_domain="10.0.0.5")) == "10.0.0.5"


def test_a_bare_name_gives_way_to_the_listeners_address(settings: Settings) -> None:
    bare = _settings(settings, sip_domain="pbx1", sip_listen="udp:127.0.0.5:5060")
    assert advertised_host(bare) == "127.0.0.5"
    six = _settings(settings, sip_domain="pbx1", sip_listen="udp:[::1]:5060")
    assert advertised_host(six) == "[::1]"
    assert with_advertised_host(bare).sip_advertised_host == "127.0.0.5"


def test_listeners_on_every_interface_use_the_default_routes_address(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    everywhere = _settings(settings, sip_domain="pbx1", sip_listen="udp:0.0.0.0:5060")
    asked: list[socket.AddressFamily] = []

    def route(family: socket.AddressFamily) -> str | None:
        asked.append(family)
        return "192.0.2.50"

    monkeypatch.setattr(advertise, "route_address", route)
    assert advertised_host(everywhere) == "192.0.2.50"
    assert asked == [socket.AF_INET]


def test_the_real_route_lookup_gives_an_address_or_nothing() -> None:
    found = advertise.route_address(socket.AF_INET)
    if found is not None:  # a machine without a default route has none
        assert not ipaddress.ip_address(found).is_unspecified


def test_no_address_at_all_refuses_to_start(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(advertise, "route_address", lambda family: None)
    everywhere = _settings(settings, sip_domain="pbx1", sip_listen="udp:0.0.0.0:5060")
    with pytest.raises(ConfigError) as refused:
        advertised_host(everywhere)
    assert str(refused.value).startswith("sip_advertised_host: cannot tell")


def test_startup_lines_name_the_url_and_sip_server(settings: Settings) -> None:
    decided = with_advertised_host(
        _settings(settings, sip_domain="pbx1", sip_listen="udp:127.0.0.5:5060,tcp:127.0.0.5:5061")
    )
    lines = startup_lines(decided, 8080)
    assert "http://127.0.0.5:8080/prov/" in lines[0] and "DHCP option 66" in lines[0]
    assert lines[1] == "sipfleet: phones register with UDP 127.0.0.5:5060, TCP 127.0.0.5:5061"


def test_serve_prints_where_phones_go(tmp_path: Path, database_url: str) -> None:
    """A bare sip_domain: the printed URL and SIP server carry the listener's address."""
    running = start_sipfleet(
        tmp_path / "data",
        env={"SIPFLEET_DATABASE_URL": database_url, "SIPFLEET_SIP_DOMAIN": "pbx1"},
        sip_transports=("udp",),
    )
    try:
        deadline = time.monotonic() + 10
        while "phones register" not in running.log() and time.monotonic() < deadline:
            time.sleep(0.1)
        log = running.log()
        assert (
            f"phones fetch their configuration from http://127.0.0.1:{running.http_port}/prov/"
            in log
        )
        assert f"phones register with UDP 127.0.0.1:{running.sip_port}" in log
        assert "pbx1:" not in log
    finally:
        running.stop()
