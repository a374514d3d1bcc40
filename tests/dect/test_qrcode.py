"""`/api/pbx/sipphone/{id}/qrcode`: the SIP account for the phone's interface setting, as
PNG or SVG, OWNER and above only, never cached."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from provisioning.api.qrcode import account_uri
from provisioning.config import Settings
from provisioning.dect.interface import interface_host
from provisioning.errors import ApiError
from tests.support.dect import Tenant


async def _phone(client: Any, tenant: Tenant, interface: str) -> dict[str, Any]:
    user = tenant.extensions["101"]
    response = await client.post(
        f"/api/users/{user}/phones",
        json={"vendor": "yealink", "model": "T54W", "interface": interface},
        headers=tenant.headers,
    )
    assert response.status == 201, await response.text()
    phone = await response.json()
    record = await client.get(f"/api/pbx/sipphone/{phone['_id']}", headers=tenant.headers)
    return dict(await record.json())


async def test_png_and_svg_for_owner_only_never_cached(client: Any, tenant: Tenant) -> None:
    phone = await _phone(client, tenant, "SBC_DOMAIN")
    url = f"/api/pbx/sipphone/{phone['_id']}/qrcode"
    png = await client.get(url, headers=tenant.owner)
    assert png.status == 200 and png.content_type == "image/png"
    assert png.headers["Cache-Control"] == "no-store"
    assert (await png.read()).startswith(b"\x89PNG\r\n\x1a\n")
    svg = await client.get(url, params={"format": "svg"}, headers=tenant.owner)
    assert svg.status == 200 and svg.content_type == "image/svg+xml"
    assert svg.headers["Cache-Control"] == "no-store"
    root = ET.fromstring(await svg.read())
    assert root.tag.endswith("svg")
    manager = await client.get(url, headers=tenant.headers)
    assert manager.status == 403 and (await manager.json())["message"] == "access_denied"
    bad = await client.get(url, params={"format": "gif"}, headers=tenant.owner)
    assert bad.status == 422 and (await bad.json())["message"] == "format"
    missing = await client.get("/api/pbx/sipphone/" + "a" * 24 + "/qrcode", headers=tenant.owner)
    assert missing.status == 404


async def test_interface_without_an_address_is_409(client: Any, tenant: Tenant) -> None:
    """Refused when the phone is saved: no QR code or config ever carries another host."""
    response = await client.post(
        f"/api/users/{tenant.extensions['101']}/phones",
        json={"vendor": "yealink", "model": "T54W", "interface": "PUBLIC_IPV6"},
        headers=tenant.headers,
    )
    assert response.status == 409 and (await response.json())["message"] == "interface"


def test_interface_hosts(settings: Settings) -> None:
    configured = dataclasses.replace(
        settings,
        sip_advertised_host="sbc.example.net",
        provisioning_url="https://prov.example.net/prov/",
        sip_listen="udp:93.184.216.34:5060,udp:10.1.2.3:5060,udp:[2a00:1450::5]:5060",
    )
    assert interface_host(configured, "WEB_DOMAIN") == "prov.example.net"
    assert interface_host(configured, "SBC_DOMAIN") == "sbc.example.net"
    assert interface_host(configured, "PRIVATE_IPV4") == "10.1.2.3"
    assert interface_host(configured, "PUBLIC_IPV4") == "93.184.216.34"
    assert interface_host(configured, "PUBLIC_IPV6") == "[2a00:1450::5]"
    with pytest.raises(ApiError):
        interface_host(configured, "PRIVATE_IPV6")
    assert account_uri("u" * 32, "p" * 32, "sbc.example.net", 5060, "tcp") == (
        f"sip:{'u' * 32}:{'p' * 32}@sbc.example.net:5060;transport=tcp"
    )
