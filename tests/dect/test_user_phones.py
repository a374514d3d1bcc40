"""`/api/users/{id}/phones` (000): every field with its enum, the same records as
`/api/pbx/sipphone` in both directions, and a clear 422 for every out-of-list value."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from provisioning.dect import fields
from tests.support.dect import Tenant, base_body

FULL = {
    "template": "yealink.cfg",
    "vendor": "yealink",
    "model": "T54W",
    "mac": "00:15:65:AA:BB:01",
    "web_password": "s3cret-web",
    "timezone": "Europe/Berlin",
    "ringtone": 3,
    "queue_ringtone": 4,
    "external_ringtone": 5,
    "date_format": "DD.MM.YYYY",
    "time_format": 24,
    "power_led": True,
    "backlight": 30,
    "screensaver": 600,
    "rps": False,
    "https": False,
    "lldp": True,
    "wan_vlan": True,
    "wan_vlan_id": 20,
    "wan_vlan_priority": 5,
    "pc_vlan": False,
    "pc_vlan_id": 30,
    "pc_vlan_priority": 0,
    "serial": "SN-1234",
    "language": "DUTCH",
    "transfer_method": "NEW_CALL",
    "interface": "SBC_DOMAIN",
    "preferred_transport": "UDP",
    "codecs": ["g722", "pcmu", "opus"],
}


async def test_assign_shows_in_sipphone_api_and_back(client: Any, tenant: Tenant) -> None:
    user = tenant.extensions["101"]
    response = await client.post(f"/api/users/{user}/phones", json=FULL, headers=tenant.headers)
    assert response.status == 201, await response.text()
    phone = await response.json()
    assert phone["user"] == user and phone["mac"] == "001565AABB01"
    assert phone["transfer_method"] == "NEW_CALL" and phone["wan_vlan_id"] == 20
    assert phone["codecs"] == ["g722", "pcmu", "opus"] and phone["serial"] == "SN-1234"
    assert "web_password" not in phone and "door_password1" not in phone
    record = await client.get(f"/api/pbx/sipphone/{phone['_id']}", headers=tenant.headers)
    shown = await record.json()
    assert shown["extension"] == user and shown["macAddress"] == "001565AABB01"
    assert shown["transferMethod"] == "NEW_CALL" and shown["preferredTransport"] == "UDP"
    assert (
        shown["language"] == "DUTCH" and shown["wanVlanId"] == 20 and shown["serial"] == "SN-1234"
    )
    # a change through the SIP phone API shows through the user's list
    changed = await client.post(
        f"/api/pbx/sipphone/{phone['_id']}",
        json={"notes": "desk 4", "serial": "SN-9"},
        headers=tenant.headers,
    )
    assert changed.status == 200
    listed = await client.get(f"/api/users/{user}/phones", headers=tenant.viewer)
    items = (await listed.json())["items"]
    assert [(p["_id"], p["serial"]) for p in items] == [(phone["_id"], "SN-9")]
    # and a phone created through the SIP phone API for the user appears in the list
    created = await client.put(
        "/api/pbx/sipphone",
        json={"sipPhoneModel": "snom-d785", "extension": user, "macAddress": "000413AABB02"},
        headers=tenant.headers,
    )
    assert created.status == 201
    listed = await client.get(f"/api/users/{user}/phones", headers=tenant.viewer)
    assert {p["mac"] for p in (await listed.json())["items"]} == {"001565AABB01", "000413AABB02"}


async def test_update_remove_and_take_over(
    client: Any, tenant: Tenant, pool: asyncpg.Pool[Any]
) -> None:
    user = tenant.extensions["102"]
    phone = await (
        await client.post(f"/api/users/{user}/phones", json=FULL, headers=tenant.headers)
    ).json()
    url = f"/api/users/{user}/phones/{phone['_id']}"
    response = await client.post(
        url,
        json={"language": "SWEDISH", "web_password": "n3w-web", "wan_vlan_id": None},
        headers=tenant.headers,
    )
    assert response.status == 200, await response.text()
    updated = await response.json()
    assert updated["language"] == "SWEDISH" and "wan_vlan_id" not in updated
    assert updated["transfer_method"] == "NEW_CALL"  # untouched fields stay
    fixed = await client.post(url, json={"mac": "001565AABB09"}, headers=tenant.headers)
    assert fixed.status == 422 and (await fixed.json())["message"] == "mac"
    other = await client.post(
        f"/api/users/{tenant.extensions['103']}/phones/{phone['_id']}",
        json={},
        headers=tenant.headers,
    )
    assert other.status == 404
    removed = await client.delete(url, headers=tenant.headers)
    assert removed.status == 200
    listed = await client.get(f"/api/users/{user}/phones", headers=tenant.headers)
    assert (await listed.json())["items"] == []
    record = await (
        await client.get(f"/api/pbx/sipphone/{phone['_id']}", headers=tenant.headers)
    ).json()
    assert "extension" not in record
    # assigning the same MAC to another user takes the unassigned record over
    again = await client.post(
        f"/api/users/{tenant.extensions['103']}/phones", json=FULL, headers=tenant.headers
    )
    assert again.status == 201 and (await again.json())["_id"] == phone["_id"]
    # but not a MAC another user's phone holds
    taken = await client.post(
        f"/api/users/{tenant.extensions['104']}/phones", json=FULL, headers=tenant.headers
    )
    assert taken.status == 409 and (await taken.json())["message"] == "mac"


ENUMS = [
    ("language", "KLINGON"),
    ("transfer_method", "SEMI_ATTENDED"),
    ("interface", "LAN"),
    ("preferred_transport", "SCTP"),
    ("date_format", "YY/MM"),
    ("time_format", 13),
    ("codecs", ["g722", "speex"]),
    ("door_password1", "12a4"),
    ("door_password2", "*99"),
    ("timezone", "Mars/Olympus"),
    ("wan_vlan_id", 5000),
    ("pc_vlan_priority", 8),
    ("ringtone", 99),
    ("https", "yes"),
]


@pytest.mark.parametrize(("field", "value"), ENUMS)
async def test_user_phone_rejects_out_of_list(
    client: Any, tenant: Tenant, pool: asyncpg.Pool[Any], field: str, value: Any
) -> None:
    user = tenant.extensions["105"]
    response = await client.post(
        f"/api/users/{user}/phones", json={**FULL, field: value}, headers=tenant.headers
    )
    assert response.status == 422
    body = await response.json()
    assert body["message"] == field, body
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM sip_phones") == 0


async def test_enum_errors_list_the_accepted_values(client: Any, tenant: Tenant) -> None:
    user = tenant.extensions["105"]
    response = await client.post(
        f"/api/users/{user}/phones", json={**FULL, "transfer_method": "X"}, headers=tenant.headers
    )
    assert (await response.json())["description"] == (
        "Transfer method must be one of BLIND, ATTENDED, NEW_CALL"
    )
    response = await client.post(
        f"/api/users/{user}/phones", json={**FULL, "interface": "X"}, headers=tenant.headers
    )
    assert ", ".join(fields.INTERFACES) in (await response.json())["description"]


DECT_ENUMS = [
    ("language", "KLINGON"),
    ("language", "JAPANESE"),  # a listed language the W60B does not offer
    ("handset_language", "UKRAINIAN"),
    ("tone", "Atlantis"),
    ("interface", "LAN"),
    ("preferred_transport", "WS"),
    ("codecs", []),
    ("timezone", "Nowhere/City"),
    ("rps", 1),
]


@pytest.mark.parametrize(("field", "value"), DECT_ENUMS)
async def test_dect_base_rejects_out_of_list(
    client: Any, tenant: Tenant, pool: asyncpg.Pool[Any], field: str, value: Any
) -> None:
    response = await client.post(
        "/api/dect_phones", json=base_body(**{field: value}), headers=tenant.headers
    )
    assert response.status == 422
    assert (await response.json())["message"] == field
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM dect_bases") == 0


async def test_unknown_user_and_access(client: Any, tenant: Tenant) -> None:
    missing = await client.post(
        "/api/users/" + "0" * 24 + "/phones", json=FULL, headers=tenant.headers
    )
    assert missing.status == 404 and (await missing.json())["message"] == "not_found"
    viewer = await client.post(
        f"/api/users/{tenant.extensions['101']}/phones", json=FULL, headers=tenant.viewer
    )
    assert viewer.status == 403
    required = await client.post(
        f"/api/users/{tenant.extensions['101']}/phones",
        json={"mac": "001565AABB03"},
        headers=tenant.headers,
    )
    body = await required.json()
    assert required.status == 422 and {e["message"] for e in body["errors"]} == {"vendor", "model"}


async def test_template_must_be_the_vendors(client: Any, tenant: Tenant) -> None:
    user = tenant.extensions["101"]
    response = await client.post(
        f"/api/users/{user}/phones", json={**FULL, "template": "snom.xml"}, headers=tenant.headers
    )
    assert response.status == 422
    assert await response.json() == {
        "code": 422,
        "message": "template",
        "description": "Template 'snom.xml' is not a yealink template",
    }
    base = await client.post(
        "/api/dect_phones", json=base_body(template="gigaset.xml"), headers=tenant.headers
    )
    assert base.status == 422 and (await base.json())["message"] == "template"
    custom = await client.post(
        f"/api/users/{user}/phones",
        json={**FULL, "template": "yealink-lobby.cfg"},
        headers=tenant.headers,
    )
    assert custom.status == 201


async def test_a_dect_base_is_not_assigned_as_a_desk_phone(client: Any, tenant: Tenant) -> None:
    response = await client.post(
        f"/api/users/{tenant.extensions['101']}/phones",
        json={**FULL, "model": "W60B", "template": "yealink-dect.cfg"},
        headers=tenant.headers,
    )
    assert response.status == 422 and (await response.json())["message"] == "model"
