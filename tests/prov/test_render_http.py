"""Per vendor: a phone with every soft-key function its model supports, a side panel,
static network and VLAN, fetched over real HTTP from the app and checked line by line
(XML bodies parsed). Then the writes a fetch causes: status.configLoaded, the sighting and
`phone.config_fetched` (file, address, User-Agent — never the body)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

import asyncpg
import pytest

from tests.support.prov_phones import CASES, Case, LoadedPhone, loaded_phone


def _lines(body: str) -> list[str]:
    return [line.strip() for line in body.splitlines() if line.strip()]


def _attributes(root: ET.Element) -> dict[str, str]:
    found: dict[str, str] = {}
    for element in root.iter():
        found.update(element.attrib)
    return found


def _vendor_lines(case: Case, loaded: LoadedPhone, body: str) -> None:
    """The account, a BLF key on the phone and on the side panel, static IP and VLAN, in
    each vendor's own key names (vendors.md; the templates cite the admin guides)."""
    user, password = loaded.phone.username, loaded.phone.password
    lines = _lines(body)
    blf = loaded.functions.index("BLF") + 1  # 1-based key position of the first BLF key
    if case.model.startswith("yealink"):
        for line in (
            f"account.1.user_name = {user}",
            f"account.1.password = {password}",
            f"linekey.{blf}.type = 16",
            f"linekey.{blf}.value = 102",
            "expansion_module.1.key.1.type = 16",
            "expansion_module.1.key.1.value = 102",
            "static.network.internet_port.ip = 192.0.2.10",
            "static.network.vlan.internet_port_vid = 42",
        ):
            assert line in lines, line
    elif case.model.startswith("snom"):
        root = ET.fromstring(body)
        assert root.findtext(".//user_name[@idx='1']") == user
        assert root.findtext(".//user_pass[@idx='1']") == password
        assert root.findtext(f".//fkey[@idx='{blf - 1}']") == "blf <sip:102@sipfleet.test>"
        # PICKUP dials the PBX's group pickup code (setting pickup_feature_code, "*8")
        pickup = loaded.functions.index("PICKUP")
        assert root.findtext(f".//fkey[@idx='{pickup}']") == "speed *8"
        panel = [k for k in root.iter("fkey") if k.get("label") == "Panel Bob"]
        assert [k.text for k in panel] == ["blf <sip:102@sipfleet.test>"]
        assert root.findtext(".//ip_adr") == "192.0.2.10" and root.findtext(".//vlan_id") == "42"
    elif case.model.startswith("grandstream"):
        root = ET.fromstring(body)
        assert root.findtext(".//P35") == user and root.findtext(".//P34") == password
        n = blf - 1  # VPK N: mode P(1363+2(N-1)) (11 = BLF), value P(1466+2(N-1))
        assert root.findtext(f".//P{1363 + 2 * n}") == "11"
        assert root.findtext(f".//P{1466 + 2 * n}") == "102"
        # GXP2200EXT module 1 key 1: mode (1 = BLF), account, name, value from P23000
        assert [root.findtext(f".//P{23000 + i}") for i in range(4)] == [
            "1",
            "0",
            "Panel Bob",
            "102",
        ]
        assert [root.findtext(f".//P{n}") for n in (9, 10, 11, 12)] == ["192", "0", "2", "10"]
        assert root.findtext(".//P51") == "42"
    elif case.model.startswith("polycom"):
        attributes = _attributes(ET.fromstring(body))
        assert attributes["reg.1.auth.userId"] == user
        assert attributes["reg.1.auth.password"] == password
        assert attributes[f"lineKey.{blf}.category"] == "BLF"
        watched = [
            v
            for k, v in attributes.items()
            if re.fullmatch(r"attendant\.resourceList\.\d+\.address", k)
        ]
        assert watched.count("102@sipfleet.test") == 2  # the phone's key and the panel's
        assert attributes["device.net.ipAddress"] == "192.0.2.10"
    elif case.model.startswith("cisco"):
        root = ET.fromstring(body)
        assert root.findtext("User_ID_1_") == user and root.findtext("Password_1_") == password
        assert (
            root.findtext(f"Extended_Function_{blf}_") == "fnc=blf+sd+cp;sub=102@$PROXY;nme=K1 Blf"
        )
        assert root.findtext("Unit_1_Key_1") == "fnc=blf+sd+cp;sub=102@$PROXY;nme=Panel Bob"
        assert root.findtext("Static_IP") == "192.0.2.10" and root.findtext("VLAN_ID") == "42"
    elif case.model.startswith("mitel"):
        for line in (
            f"sip line1 user name: {user}",
            f"sip line1 password: {password}",
            f"topsoftkey{blf} value: 102",
            "expmod1 key1 value: 102",
            "ip: 192.0.2.10",
            "vlan id: 42",
        ):
            assert line in lines, line
        assert re.search(rf"(?m)^topsoftkey{blf} type: blf", body)
    elif case.model.startswith("fanvil"):
        root = ET.fromstring(body)
        keys = {k.get("index"): k for k in root.find(".//internal").iter("Fkey")}
        assert keys[str(blf)].findtext("Value") == "102@1/ba"
        assert root.find(".//exp").find("Fkey").findtext("Value") == "102@1/ba"
        assert root.findtext(".//RegisterUser") == user
        assert root.findtext(".//RegisterPswd") == password
        assert root.findtext(".//WANStaticIP") == "192.0.2.10"
        assert root.findtext(".//qos/VLANID") == "42"


@pytest.mark.parametrize("case", CASES, ids=[c.model for c in CASES])
async def test_config_over_http(prov: Any, pool: asyncpg.Pool[Any], case: Case) -> None:
    async with pool.acquire() as conn:
        loaded = await loaded_phone(conn, case.model, case.mac, custom_config="CUSTOMLAST")
    response = await prov.get(f"/prov/{case.file}", headers={"User-Agent": case.user_agent})
    assert response.status == 200, await response.text()
    assert response.headers["Cache-Control"] == "no-store"
    body = await response.text()
    if case.xml:
        ET.fromstring(body)  # parses
    # every soft-key function of the model became a key on the phone, none dropped
    assert len(re.findall(case.key_pattern, body)) == len(loaded.functions)
    _vendor_lines(case, loaded, body)
    # customConfig comes last (inside the root element of XML files)
    tail = _lines(body)
    assert tail[-2 if case.xml else -1] == "CUSTOMLAST"

    await prov.prov_server.recorder.flush()
    async with pool.acquire() as conn:
        loaded_at = await conn.fetchval(
            "SELECT config_loaded FROM sip_phones WHERE id = $1", loaded.phone.id
        )
        events = await conn.fetch("SELECT * FROM events WHERE type = 'phone.config_fetched'")
        seen = await conn.fetchrow("SELECT * FROM seen_phones WHERE mac_address = $1", case.mac)
    assert loaded_at is not None
    [event] = events
    assert event["phone_id"] == loaded.phone.id and event["customer_id"] == loaded.phone.customer_id
    assert event["details"] == {
        "file": case.file,
        "address": "127.0.0.1",
        "userAgent": case.user_agent,
    }
    assert loaded.phone.password not in str(event["details"])
    assert seen["fetch_count"] == 1 and seen["last_file"] == case.file


async def test_common_file_is_served_to_anyone_without_secrets(
    prov: Any, pool: asyncpg.Pool[Any]
) -> None:
    async with pool.acquire() as conn:
        loaded = await loaded_phone(conn, "yealink-t54w", "0015654AA937")
    response = await prov.get("/prov/y000000000096.cfg")
    assert response.status == 200
    body = await response.text()
    assert "static.auto_provision.server.url = " in body
    assert loaded.phone.password not in body and loaded.phone.username not in body
    assert (await prov.get("/prov/not-a-phone-file.txt")).status == 404


async def test_first_fetch_locks_an_open_phone_to_its_address(
    prov: Any, pool: asyncpg.Pool[Any]
) -> None:
    async with pool.acquire() as conn:
        loaded = await loaded_phone(conn, "yealink-t54w", "0015654AA937")
    response = await prov.get("/prov/0015654aa937.cfg", headers={"User-Agent": CASES[0].user_agent})
    assert response.status == 200
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT ip_mode, ip_address FROM sip_phones WHERE id = $1", loaded.phone.id
        )
        locked = await conn.fetch("SELECT * FROM events WHERE type = 'phone.ip_locked'")
    assert (row["ip_mode"], row["ip_address"]) == ("LOCKED", "127.0.0.1")
    assert [e["phone_id"] for e in locked] == [loaded.phone.id]


async def test_a_change_is_served_at_once_despite_the_render_cache(
    prov: Any, pool: asyncpg.Pool[Any]
) -> None:
    async with pool.acquire() as conn:
        loaded = await loaded_phone(conn, "yealink-t54w", "0015654AA937")
    headers = {"User-Agent": CASES[0].user_agent}
    first = await (await prov.get("/prov/0015654aa937.cfg", headers=headers)).text()
    again = await (await prov.get("/prov/0015654aa937.cfg", headers=headers)).text()
    assert first == again and prov.prov_server.cache.hits == 1
    async with pool.acquire() as conn:  # the watched extension is renumbered (no phone change)
        await conn.execute(
            "UPDATE extensions SET number = '199' WHERE customer_id = $1 AND number = '102'",
            loaded.phone.customer_id,
        )
    changed = await (await prov.get("/prov/0015654aa937.cfg", headers=headers)).text()
    assert "linekey.2.value = 199" in changed.splitlines()
    assert "linekey.2.value = 102" not in changed.splitlines()


async def test_dect_base_renders_one_account_per_handset(
    prov: Any, pool: asyncpg.Pool[Any]
) -> None:
    from tests.support import factories

    async with pool.acquire() as conn:
        cust = await factories.customer(conn)
        handsets = []
        for index, number in ((1, "201"), (2, "202")):
            ext = await factories.extension(conn, cust, number, f"Handset {number}")
            handsets.append(
                await factories.phone(
                    conn,
                    cust,
                    extension_id=ext,
                    model="yealink-w60b",
                    mac_address="805EC0AABBCC",
                    handset_index=index,
                )
            )
    response = await prov.get(
        "/prov/805ec0aabbcc.cfg",
        headers={"User-Agent": "Yealink W60B 77.83.0.85 80:5e:c0:aa:bb:cc"},
    )
    assert response.status == 200, await response.text()
    body = await response.text()
    for phone in handsets:
        assert phone.username in body and phone.password in body
