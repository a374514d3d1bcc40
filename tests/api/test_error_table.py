"""Every row of 003's error table, through HTTP against the real database: the exact
code, message and description, and a failed request leaves the inventory unchanged."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.support.api_world import World

NOBODY = "ffffffffffffffffffffffff"
Build = Callable[[World], dict[str, Any]]


@dataclass(frozen=True)
class Row:
    code: int
    message: str
    description: str
    body: Build
    token: str = "manager"
    before: Callable[[World, dict[str, Any]], list[dict[str, Any]]] = field(default=lambda w, b: [])


def _same_mac(model: str, count: int) -> Callable[[World, dict[str, Any]], list[dict[str, Any]]]:
    """`count` records of `model` created first on the MAC of the row's body."""
    return lambda w, body: [
        {
            "sipPhoneModel": w.models[model],
            "macAddress": body["macAddress"],
            "handsetAddress": "IPEI",
        }
        for _ in range(count)
    ]


def _key(*keys: dict[str, Any]) -> Build:
    return lambda w: w.body(softkeys=list(keys))


def _net(**fields: Any) -> Build:
    base = {
        "dhcp": False,
        "ipAddress": "192.168.1.10",
        "subnet": "255.255.255.0",
        "gateway": "192.168.1.1",
        "dns1": "192.168.1.1",
        "dns2": "8.8.8.8",
    }
    base.update(fields)
    return lambda w: w.body(network={k: v for k, v in base.items() if v is not None})


def _side_panels(*serials: str) -> list[dict[str, Any]]:
    return [{"serial": s, "paymentOption": "RENTED"} for s in serials]


ROWS: dict[str, Row] = {
    "pbxCluster": Row(
        422,
        "pbxCluster",
        "PBX cluster id not valid only 1 or 2 is permitted",
        lambda w: w.body(pbxCluster=3),
    ),
    "sipPhoneModel": Row(
        404,
        "sipPhoneModel",
        "SIP phone model not found or invalid",
        lambda w: w.body(sipPhoneModel=NOBODY),
    ),
    "extension": Row(404, "extension", "Extension not found", lambda w: w.body(extension=NOBODY)),
    "extension-other-tenant": Row(
        404,
        "extension",
        "Extension not found",
        lambda w: w.body(extension=w.b.extension_ids["201"]),
    ),
    "customer": Row(
        404,
        "customer",
        "Customer not found or not active",
        lambda w: w.body(customer=w.b.customer_id),
    ),
    "macAddress-invalid": Row(
        422, "macAddress", "MAC address is invalid", lambda w: w.body(macAddress="4EE8A34B56G3")
    ),
    "macAddress-duplicate": Row(
        409,
        "macAddress",
        "A phone with the same MAC address already exists",
        lambda w: w.body(),
        before=_same_mac("t54w", 1),
    ),
    "macAddress-slots": Row(
        403,
        "macAddress",
        "All available slots has been filled, no more SIP phones can share the MAC address",
        lambda w: w.body(sipPhoneModel=w.models["dect-1acct"]),
        before=_same_mac("dect-1acct", 1),
    ),
    "handsetAddress": Row(
        422,
        "handsetAddress",
        "Handset address is missing",
        lambda w: w.body(sipPhoneModel=w.models["m900"]),
    ),
    "handsetIndex": Row(
        409,
        "handsetIndex",
        "The SIP phone/device does not have any free positions",
        lambda w: w.body(sipPhoneModel=w.models["dect2"]),
        before=_same_mac("dect2", 2),
    ),
    "ip.mode-invalid": Row(
        422, "ip.mode", "Mode is invalid", lambda w: w.body(ip={"mode": "CLOSED"})
    ),
    "ip.countries": Row(
        422,
        "ip.countries",
        "Country code 'XX' is not valid",
        lambda w: w.body(ip={"mode": "ROAMING", "countries": "DK,XX"}),
    ),
    "ip.mode-roaming": Row(
        409,
        "ip.mode",
        "ROAMING mode requires countries to be specified",
        lambda w: w.body(ip={"mode": "ROAMING"}),
    ),
    "ip.address": Row(
        422,
        "ip.address",
        "IP address is invalid",
        lambda w: w.body(ip={"mode": "LOCKED", "address": "300.1.1.1"}),
    ),
    "ringer.volume-invalid": Row(
        422,
        "ringer.volume",
        "Ringer volume is invalid",
        lambda w: w.body(ringer={"volume": "loud"}),
    ),
    "ringer.volume-range": Row(
        422,
        "ringer.volume",
        "Ringer volume is outside the valid range",
        lambda w: w.body(ringer={"volume": 16}),
    ),
    "ringer.tone": Row(
        422,
        "ringer.tone",
        "Ringtone is outside the valid range",
        lambda w: w.body(ringer={"tone": 11}),
    ),
    **{
        f"volume.{part}.{kind}": Row(
            422,
            f"volume.{part}.{kind}",
            f"{part.capitalize()} {'microphone' if kind == 'mic' else 'speaker'} level is invalid",
            (lambda p, k: lambda w: w.body(volume={p: {k: -1}}))(part, kind),
        )
        for part in ("handset", "headset", "handsfree")
        for kind in ("mic", "speaker")
    },
    "softkeys.index-missing": Row(
        422,
        "softkeys[1].index",
        "Index is missing",
        _key({"index": 0, "function": "DND"}, {"function": "DND"}),
    ),
    "softkeys.index-used": Row(
        422,
        "softkeys[1].index",
        "Index is being used by another softkey",
        _key({"index": 3, "function": "DND"}, {"index": 3, "function": "HOLD"}),
    ),
    "softkeys.function-missing": Row(
        422, "softkeys[0].function", "Function is missing", _key({"index": 0})
    ),
    "softkeys.function-model": Row(
        422,
        "softkeys[0].function",
        "Function type is not valid for this phone model",
        lambda w: w.body(
            sipPhoneModel=w.models["vvx150"], softkeys=[{"index": 0, "function": "DND"}]
        ),
    ),
    "softkeys.value-number": Row(
        422,
        "softkeys[0].value",
        "Not a valid phone number",
        _key({"index": 0, "function": "SPEEDDIAL", "value": "call me"}),
    ),
    "softkeys.value-extension": Row(
        404,
        "softkeys[0].value",
        "Extension not found",
        lambda w: w.body(
            softkeys=[{"index": 0, "function": "BLF", "value": w.b.extension_ids["101"]}]
        ),
    ),
    "softkeys.value-url": Row(
        422,
        "softkeys[2].value",
        "URL is invalid, must begin with http: or https:",
        _key(
            {"index": 0, "function": "DND"},
            {"index": 1, "function": "HOLD"},
            {"index": 2, "function": "URL", "value": "ftp://menu.example"},
        ),
    ),
    "softkeys.value-group": Row(
        404,
        "softkeys[0].value",
        "Group not found",
        lambda w: w.body(softkeys=[{"index": 0, "function": "PICKUPGROUP", "value": w.group_b}]),
    ),
    "softkeys.value-queue": Row(
        404,
        "softkeys[0].value",
        "Queue not found",
        lambda w: w.body(softkeys=[{"index": 0, "function": "QUEUE", "value": w.queue_b}]),
    ),
    "softkeys.value-controller": Row(
        409,
        "softkeys[0].value",
        "Extension does not have controller rights on group",
        lambda w: w.body(
            extension=w.a.extension_ids["102"],
            softkeys=[{"index": 0, "function": "PICKUPGROUP", "value": w.group_a}],
        ),
    ),
    "purchaseInfo.sidePanels.serial": Row(
        409,
        "purchaseInfo.sidePanels.serial",
        "Sidepanel serials need to be unique",
        lambda w: w.body(purchaseInfo={"sidePanels": _side_panels("S1", "S1")}),
        token="owner",
    ),
    "purchaseInfo.sidePanels": Row(
        422,
        "purchaseInfo.sidePanels",
        "More sidepanels configured than possible for the SIP phone model.",
        lambda w: w.body(purchaseInfo={"sidePanels": _side_panels("A", "B", "C", "D")}),
        token="owner",
    ),
    "network.ipAddress": Row(
        422, "network.ipAddress", "IP address is invalid or missing", _net(ipAddress=None)
    ),
    "network.subnet": Row(
        422, "network.subnet", "Subnet mask is invalid or missing", _net(subnet="255.0.255.0")
    ),
    "network.gateway": Row(
        422, "network.gateway", "Default gateway is invalid or missing", _net(gateway="gw")
    ),
    "network.dns1": Row(
        422, "network.dns1", "Primary DNS server is invalid or missing", _net(dns1=None)
    ),
    "network.dns2": Row(422, "network.dns2", "Secondary DNS server is invalid", _net(dns2="8.8.8")),
    "network.vlanId": Row(422, "network.vlanId", "Vlan ID is invalid", _net(vlanId=4095)),
    "network.vlanPriority": Row(
        422, "network.vlanPriority", "Vlan priority is invalid", _net(vlanPriority=8)
    ),
    "access_denied": Row(
        403, "access_denied", "Insufficient access level", lambda w: w.body(), token="viewer"
    ),
    "access_denied-purchaseInfo": Row(
        403,
        "access_denied",
        "Insufficient access level",
        lambda w: w.body(purchaseInfo={"orderId": "1"}),
    ),
}


async def _phone_count(pool: Any) -> int:
    async with pool.acquire() as conn:
        return int(await conn.fetchval("SELECT count(*) FROM sip_phones"))


@pytest.mark.parametrize("name", list(ROWS))
async def test_error_row(name: str, shared_api: Any, shared_pool: Any, shared_db: Any) -> None:
    api, pool, world = shared_api, shared_pool, shared_db[1]
    row = ROWS[name]
    body = row.body(world)
    for earlier in row.before(world, body):
        resp = await api.put("/api/pbx/sipphone", json=earlier, headers=world.a.manager)
        assert resp.status == 201, await resp.json()
    count = await _phone_count(pool)
    headers = getattr(world.a, row.token)
    resp = await api.put("/api/pbx/sipphone", json=body, headers=headers)
    assert (resp.status, await resp.json()) == (
        row.code,
        {"code": row.code, "message": row.message, "description": row.description},
    )
    assert await _phone_count(pool) == count


async def test_error_row_on_update_changes_nothing(shared_api: Any, shared_db: Any) -> None:
    api, world = shared_api, shared_db[1]
    resp = await api.put(
        "/api/pbx/sipphone", json=world.body(notes="before"), headers=world.a.manager
    )
    phone = await resp.json()
    resp = await api.post(
        f"/api/pbx/sipphone/{phone['_id']}",
        json={"notes": "after", "ringer": {"volume": 99}},
        headers=world.a.manager,
    )
    assert resp.status == 422
    assert (await resp.json())["message"] == "ringer.volume"
    resp = await api.get(f"/api/pbx/sipphone/{phone['_id']}", headers=world.a.manager)
    assert (await resp.json())["notes"] == "before"


async def test_multiple_errors_carry_every_error(
    shared_api: Any, shared_pool: Any, shared_db: Any
) -> None:
    api, pool, world = shared_api, shared_pool, shared_db[1]
    count = await _phone_count(pool)
    body = world.body(
        pbxCluster=2,
        macAddress="nope",
        ip={"mode": "ROAMING", "countries": "dk,QQ"},
        softkeys=[
            {"index": 0, "function": "BLF", "value": NOBODY},
            {"index": 0, "function": "SPEEDDIAL", "value": "x"},
        ],
        network={"dhcp": False, "vlanId": "9999"},
    )
    resp = await api.put("/api/pbx/sipphone", json=body, headers=world.a.manager)
    assert resp.status == 422
    error = await resp.json()
    assert error["message"] == "multiple" and error["code"] == 422
    got = {(e["code"], e["message"], e["description"]) for e in error["errors"]}
    assert got == {
        (422, "macAddress", "MAC address is invalid"),
        (422, "ip.countries", "Country code 'QQ' is not valid"),
        (422, "network.vlanId", "Vlan ID is invalid"),
        (404, "softkeys[0].value", "Extension not found"),
        (422, "softkeys[1].index", "Index is being used by another softkey"),
        (422, "softkeys[1].value", "Not a valid phone number"),
        (422, "network.ipAddress", "IP address is invalid or missing"),
        (422, "network.subnet", "Subnet mask is invalid or missing"),
        (422, "network.gateway", "Default gateway is invalid or missing"),
        (422, "network.dns1", "Primary DNS server is invalid or missing"),
    }
    assert await _phone_count(pool) == count


@pytest.mark.parametrize(
    ("body", "message", "description"),
    [
        ({"colour": "red"}, "colour", "Unknown field"),
        ({"ringer": {"volume": 3, "pitch": 1}}, "ringer.pitch", "Unknown field"),
        ({"callWaiting": "yes"}, "callWaiting", "Call waiting must be true, false or null"),
        ({"notes": 5}, "notes", "Notes are invalid"),
        ({"codec": {"hdAudio": 1}}, "codec.hdAudio", "Must be true or false"),
        ({"softkeys": {"index": 0}}, "softkeys", "Must be an array"),
        ({"displayBrightness": 16}, "displayBrightness", "Display brightness is invalid"),
        ({"headsetButton": "both"}, "headsetButton", "Headset button is invalid"),
        (
            {"serial": None, "sipPhoneModel": "grandstream-gxp2140"},
            "serial",
            "Serial number is required for this phone model",
        ),
        (
            {"sidePanelCount": 4},
            "sidePanelCount",
            "More sidepanels configured than possible for the SIP phone model.",
        ),
        (
            {"sidePanel": "snom-d7"},
            "sidePanel",
            "Side panel model is not valid for this phone model",
        ),
        (
            {"username": "a" * 32},
            "username",
            "Credentials are generated; use resetcredentials to change them",
        ),
        (
            {"handsetIndex": 3},
            "handsetIndex",
            "Handset index is assigned automatically and cannot be changed",
        ),
    ],
)
async def test_unknown_fields_and_wrong_types_are_named(
    shared_api: Any,
    shared_pool: Any,
    shared_db: Any,
    body: dict[str, Any],
    message: str,
    description: str,
) -> None:
    api, pool, world = shared_api, shared_pool, shared_db[1]
    count = await _phone_count(pool)
    resp = await api.put("/api/pbx/sipphone", json=world.body(**body), headers=world.a.manager)
    assert resp.status == 422
    assert await resp.json() == {"code": 422, "message": message, "description": description}
    assert await _phone_count(pool) == count


async def test_valid_values_of_every_group_are_accepted(shared_api: Any, shared_db: Any) -> None:
    api, world = shared_api, shared_db[1]
    body = world.body(
        macAddress="4e:e8:a3:4b:56:f3",
        pbxCluster=2,
        sidePanel="yealink-exp50",
        sidePanelCount=3,
        ip={"mode": "ROAMING", "countries": "dk, se"},
        ringer={"volume": 15, "tone": "3"},
        volume={"handset": {"mic": 0, "speaker": 15}},
        codec={"hdAudio": True, "video": False},
        network={
            "dhcp": False,
            "ipAddress": "10.0.0.2",
            "subnet": "255.255.255.0",
            "gateway": "10.0.0.1",
            "dns1": "10.0.0.1",
            "vlanId": "100",
            "vlanPriority": 5,
        },
        softkeys=[
            {"index": 4, "function": "QUEUE", "value": world.queue_a},
            {"index": 0, "function": "SPEEDDIAL", "value": "+4512345678", "label": "Boss"},
            {"index": 1, "function": "BLF", "value": world.a.extension_ids["102"].upper()},
            {"index": 2, "function": "URL", "value": "https://menu.example/x.xml"},
            {"index": 3, "function": "PICKUPGROUP", "value": world.group_a},
            {"index": 5, "function": "SWITCH", "value": "night"},
        ],
    )
    resp = await api.put("/api/pbx/sipphone", json=body, headers=world.a.manager)
    phone = await resp.json()
    assert resp.status == 201, phone
    assert phone["macAddress"] == "4EE8A34B56F3"
    assert phone["ip"] == {"mode": "ROAMING", "countries": "DK,SE"}
    assert phone["ringer"] == {"volume": 15, "tone": 3}
    assert phone["network"]["vlanId"] == 100
    assert [k["index"] for k in phone["softkeys"]] == [0, 1, 2, 3, 4, 5]
    assert phone["softkeys"][1] == {
        "index": 1,
        "function": "BLF",
        "value": world.a.extension_ids["102"].upper(),
    }
    assert (
        phone["sipPhoneModel"] == world.models["t54w"] and phone["customer"] == world.a.customer_id
    )
