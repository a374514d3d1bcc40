"""The 000 `interface` setting chooses the SIP server address written into the config."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from provisioning.config import Settings
from tests.support.dect import Tenant

YEALINK_UA = "Yealink SIP-T54W 96.86.0.100 00:15:65:aa:bb:{:02x}"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(
        settings,
        sip_advertised_host="192.168.7.10",
        provisioning_url="https://prov.example.com/prov/",
    )


@pytest.mark.parametrize(
    ("interface", "host"),
    [
        ("PRIVATE_IPV4", "192.168.7.10"),
        ("WEB_DOMAIN", "prov.example.com"),
        ("SBC_DOMAIN", "192.168.7.10"),
    ],
)
async def test_interface_chooses_the_server_in_the_config(
    full: Any, tenant: Tenant, interface: str, host: str
) -> None:
    user = tenant.extensions["101"]
    response = await full.post(
        f"/api/users/{user}/phones",
        json={
            "vendor": "yealink",
            "model": "T54W",
            "mac": "00:15:65:AA:BB:21",
            "interface": interface,
        },
        headers=tenant.headers,
    )
    assert response.status == 201, await response.text()
    config = await full.get(
        "/prov/001565aabb21.cfg", headers={"User-Agent": YEALINK_UA.format(0x21)}
    )
    assert config.status == 200
    lines = (await config.text()).splitlines()
    assert f"account.1.sip_server.1.address = {host}" in lines


async def test_an_interface_without_an_address_is_refused_not_defaulted(
    full: Any, tenant: Tenant
) -> None:
    """No PUBLIC_IPV6 address is configured: the phone is refused (409 naming `interface`)
    when saved, never written with the default host."""
    user = tenant.extensions["101"]
    body = {"vendor": "yealink", "model": "T54W", "mac": "00:15:65:AA:BB:22"}
    refused = await full.post(
        f"/api/users/{user}/phones",
        json={**body, "interface": "PUBLIC_IPV6"},
        headers=tenant.headers,
    )
    assert refused.status == 409, await refused.text()
    assert (await refused.json())["message"] == "interface"
    created = await full.post(f"/api/users/{user}/phones", json=body, headers=tenant.headers)
    assert created.status == 201
    phone = await created.json()
    changed = await full.post(
        f"/api/users/{user}/phones/{phone['_id']}",
        json={"interface": "PUBLIC_IPV6"},
        headers=tenant.headers,
    )
    assert changed.status == 409 and (await changed.json())["message"] == "interface"
