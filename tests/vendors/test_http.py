"""The confirmed vendor key names, fetched over real HTTP from the /prov/ file server for
a phone written into the database (tests/prov/phones.py): Grandstream's per-account
P-values, transfer mode, provisioning path and time zone; snom's outbound transport."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import asyncpg

from tests.support.prov_phones import loaded_phone


async def test_grandstream_gxp2170_over_http(prov: Any, pool: asyncpg.Pool[Any]) -> None:
    async with pool.acquire() as conn:
        loaded = await loaded_phone(conn, "grandstream-gxp2170", "000B82123456")
    response = await prov.get(
        "/prov/cfg000b82123456.xml",
        headers={"User-Agent": "Grandstream Model HW GXP2170 V1.2A SW 1.0.11.3 DevId 000b82123456"},
    )
    assert response.status == 200, await response.text()
    config = ET.fromstring(await response.text()).find("config")
    assert config is not None
    p = {e.tag: e.text or "" for e in config}
    user, password = loaded.phone.username, loaded.phone.password
    # account 1 (GXP21xx config template 1.0.11.16, "Account 1/General Settings")
    assert (p["P271"], p["P35"], p["P36"], p["P34"]) == ("1", user, user, password)
    assert "P401" not in p  # a desk phone record is one account
    # "Maintenance/Upgrade and Provisioning": HTTP(S) in P212, the path without scheme
    # (the test settings publish http://sipfleet.test:0/prov/)
    assert (p["P212"], p["P237"]) == ("1", "sipfleet.test:0/prov/")
    # "Settings/Programmable Keys": transfer mode via VPK (the default, ATTENDED), BLF on a
    # line VPK
    assert p["P8390"] == "1"
    blf = loaded.functions.index("BLF")
    assert (p[f"P{1363 + 2 * blf}"], p[f"P{1466 + 2 * blf}"]) == ("11", "102")
    # "Extension Boards": EXT MPK 1, dynamic mode 1 = BLF
    assert [p[f"P{23000 + i}"] for i in range(4)] == ["1", "0", "Panel Bob", "102"]
    # "Date and Time" / "Language"
    assert p["P64"] == "customize" and p["P246"].startswith("CET-1CEST")
    assert p["P1362"] == "de"


async def test_snom_outbound_transport_over_http(prov: Any, pool: asyncpg.Pool[Any]) -> None:
    async with pool.acquire() as conn:
        loaded = await loaded_phone(conn, "snom-d785", "000413922D24")
    response = await prov.get(
        "/prov/000413922D24.xml",
        headers={
            "User-Agent": "Mozilla/4.0 (compatible; snomD785-SIP 10.1.33.33 1.1.3-s 000413922D24 UPDATE)"
        },
    )
    assert response.status == 200, await response.text()
    root = ET.fromstring(await response.text())
    assert root.findtext(".//user_name[@idx='1']") == loaded.phone.username
    outbound = root.findtext(".//user_outbound[@idx='1']") or ""
    assert outbound.rsplit(";", 1)[1] in ("transport=udp", "transport=tcp", "transport=tls")
