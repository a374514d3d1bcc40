"""A DECT base as phones see it: the config fetched through `/prov/` by the base's MAC has
one account per handset and the base settings; two handsets of one base register with
pjsua2 at the same time and both show online through the SIP phone API."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from tests.support.dect import Tenant, base_body, base_with_members
from tests.support.pjsua import PjPhone
from tests.support.waiting import wait_until

YEALINK_UA = "Yealink W60B 77.83.0.85 80:5e:c0:11:22:33"


async def _base_with_members(
    client: Any, tenant: Tenant, body: dict[str, Any], numbers: list[str], address: str | None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    base = await base_with_members(client, tenant, body, numbers, address)
    records = []
    for number in numbers:
        one = await client.get(
            f"/api/dect_phones/{base['_id']}/members/{number}", headers=tenant.headers
        )
        records.append(await one.json())
    return base, records


async def test_yealink_base_config_has_every_handset_and_setting(full: Any, tenant: Tenant) -> None:
    _base, records = await _base_with_members(
        full, tenant, base_body(), ["101", "102", "103"], None
    )
    response = await full.get("/prov/805ec0112233.cfg", headers={"User-Agent": YEALINK_UA})
    assert response.status == 200, await response.text()
    config = await response.text()
    lines = set(config.splitlines())
    for index, record in enumerate(records, start=1):
        assert f"account.{index}.user_name = {record['username']}" in lines
        assert f"account.{index}.auth_name = {record['username']}" in lines
        assert f"account.{index}.password = {record['password']}" in lines
        assert f"handset.{index}.name = User {100 + index}" in lines
    assert "account.4.enable = 1" not in lines
    # base settings that render through the handsets' device documents
    assert "lang.gui = German" in lines
    assert "local_time.time_zone = +1" in lines  # Europe/Copenhagen, standard time
    assert "static.security.user_password = admin:admin-secret-1" in lines
    assert "account.1.codec.g722.enable = 1" in lines
    assert "account.1.codec.pcma.enable = 1" in lines
    assert "account.3.sip_server.1.transport_type = 0" in lines  # UDP


# The DECT-only settings reach the template through `PhoneContext.dect`, which the
# provisioning loader fills with `provisioning.dect.context.dect_for`.
async def test_yealink_base_config_has_dect_settings(full: Any, tenant: Tenant) -> None:
    await _base_with_members(full, tenant, base_body(), ["101"], None)
    response = await full.get("/prov/805ec0112233.cfg", headers={"User-Agent": YEALINK_UA})
    lines = set((await response.text()).splitlines())
    assert "voice.tone.country = Denmark" in lines
    assert "custom.handset.language = French" in lines
    assert "static.security.user_password = user:user-secret-2" in lines
    snom = base_body(
        mac="000413A1B2C3",
        vendor="snom",
        model="M300",
        template="snom-dect.xml",
        tone="GER",
        user_password=None,
    )
    await _base_with_members(full, tenant, snom, ["102"], None)
    response = await full.get(
        "/prov/000413A1B2C3.xml",
        headers={"User-Agent": "Mozilla/4.0 (compatible; snom-m300 10.1.0.10 000413A1B2C3)"},
    )
    root = ET.fromstring(await response.text())
    assert [e.text for e in root.findall(".//tone_scheme")] == ["GER"]


async def test_snom_and_gigaset_bases_render_handsets(full: Any, tenant: Tenant) -> None:
    _snom, snom_records = await _base_with_members(
        full,
        tenant,
        base_body(
            mac="000413A1B2C3",
            vendor="snom",
            model="M900",
            template="snom-dect.xml",
            tone="GER",
            language="GERMAN",
            handset_language="DUTCH",
            user_password=None,
        ),
        ["101", "102"],
        "0328D3B4A1",
    )
    response = await full.get(
        "/prov/000413A1B2C3.xml",
        headers={"User-Agent": "Mozilla/4.0 (compatible; snom-m900 10.1.0.10 000413A1B2C3)"},
    )
    assert response.status == 200, await response.text()
    root = ET.fromstring(await response.text())
    text = ET.tostring(root, encoding="unicode")
    for record in snom_records:
        assert record["username"] in text and record["password"] in text
    ipuis = root.findall(".//subscr_dect_ipui")
    assert [(e.get("idx"), e.text) for e in ipuis] == [("1", "0328D3B4A1"), ("2", "0328D3B4A1")]
    names = [e.text for e in root.findall(".//handset_name")]
    assert names == ["User 101", "User 102"]

    _gigaset, gigaset_records = await _base_with_members(
        full,
        tenant,
        base_body(
            mac="7C2F80E0F443",
            vendor="gigaset",
            model="N670 IP PRO",
            template="gigaset.xml",
            tone="DE",
            language="GERMAN",
            handset_language="POLISH",
            user_password=None,
        ),
        ["104", "105"],
        None,
    )
    response = await full.get(
        "/prov/7C2F80E0F443.xml",
        headers={"User-Agent": "Gigaset N670 IP PRO/83.V2.11.0+build.a546b47;7C2F80E0F443"},
    )
    assert response.status == 200, await response.text()
    text = await response.text()
    for record in gigaset_records:
        assert record["username"] in text and record["password"] in text
    assert 'name="WebUIAccounts.1.Password" value="admin-secret-1"' in text
    assert 'name="SipAccount.00002.DisplayName" value="User 105"' in text


@pytest.mark.pjsua
async def test_two_handsets_register_at_once_and_show_online(full: Any, tenant: Tenant) -> None:
    base, records = await _base_with_members(full, tenant, base_body(), ["101", "102"], None)
    (host, port) = next((h, p) for kind, h, p in full.hub.sip.addresses() if kind == "udp")
    phones = [
        PjPhone(r["username"], r["password"], f"sip:{host}:{port}", local_ip="127.0.0.1")
        for r in records
    ]
    try:
        codes = await asyncio.gather(*(asyncio.to_thread(p.register, 10) for p in phones))
        assert codes == [200, 200]

        async def online() -> list[bool]:
            found = []
            for record in records:
                response = await full.get(
                    f"/api/pbx/sipphone/{record['_id']}", headers=tenant.headers
                )
                found.append((await response.json())["status"]["online"])
            return found

        deadline = asyncio.get_running_loop().time() + 5
        while await online() != [True, True]:
            assert asyncio.get_running_loop().time() < deadline, await online()
            await asyncio.sleep(0.05)
        listed = await full.get(
            "/api/pbx/sipphone",
            params={"macAddress": base["mac"], "online": "true"},
            headers=tenant.headers,
        )
        assert len((await listed.json())["items"]) == 2
        members = await full.get(f"/api/dect_phones/{base['_id']}/members", headers=tenant.headers)
        assert [m["online"] for m in (await members.json())["items"]] == [True, True]
    finally:
        for phone in phones:
            await asyncio.to_thread(phone.close)
    await wait_until(lambda: not full.hub.sip.online_phones(), timeout=5)
