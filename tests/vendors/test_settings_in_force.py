"""Every optional setting a catalogue model takes is in force on the phone: set through the
API (000 `/users/{id}/phones`, 002 `/pbx/sipphone`, 001 `/dect_phones`), read back from
the file the phone fetches over `/prov/` (real rendering, real PostgreSQL); every one it
does not take is refused with 422 naming the field, and HTTPS, a SIP transport or an
interface the server does not serve are refused when the phone is saved."""

from __future__ import annotations

import dataclasses
import re
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest

import provisioning.api.sipphone_models
from provisioning.config import Settings
from provisioning.credentials import SecretBox
from provisioning.phones.capabilities import OPTIONAL_SETTINGS, USER_PHONE_SETTINGS
from tests.support.dect import ROUTE_MODULES, Tenant, base_body, base_with_members, make_tenant
from tests.support.prov_app import running
from tests.support.prov_phones import CASES, Case
from tests.support.render import attributes, first_values

pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")

PLAIN_URL = "http://prov.example.test:8080/prov/"
# 000 values of the optional settings, by catalogue setting
VALUES: dict[str, Any] = {
    "ringtone": 3,
    "queue_ringtone": 2,
    "external_ringtone": 4,
    "power_led": False,
    "screensaver": 600,
    "https": True,
    "door_password1": "1234",
    "door_password2": "5678",
}
# 002 values
RECORD_VALUES: dict[str, Any] = {
    "callWaiting": False,
    "softkeyConfigurationOnDevice": True,
    "dhsg": True,
}


def _certificate(directory: Path) -> tuple[str, str]:
    import trustme

    authority = trustme.CA()
    issued = authority.issue_cert("prov.example.test")
    cert, key = directory / "cert.pem", directory / "key.pem"
    issued.private_key_pem.write_to_path(str(key))
    issued.cert_chain_pems[0].write_to_path(str(cert))
    return str(cert), str(key)


MODULES = [*ROUTE_MODULES, provisioning.api.sipphone_models.setup]


@pytest.fixture
def tls_settings(settings: Settings, tmp_path: Path) -> Settings:
    """A server with a certificate (so HTTPS and SIP over TLS are served) whose provisioning
    URL is plain HTTP (a proxy in front), so a phone's `https` is what turns it to HTTPS."""
    cert, key = _certificate(tmp_path)
    return dataclasses.replace(settings, tls_cert=cert, tls_key=key, provisioning_url=PLAIN_URL)


@pytest.fixture
async def tls_app(
    aiohttp_client: Any, pool: asyncpg.Pool[Any], tls_settings: Settings, secret_box: SecretBox
) -> AsyncIterator[Any]:
    async with running(
        aiohttp_client, pool, tls_settings, secret_box, with_sip=False, routes=MODULES,
        with_gate=False,
    ) as client:  # fmt: skip
        yield client


@pytest.fixture
async def plain_app(
    aiohttp_client: Any, pool: asyncpg.Pool[Any], settings: Settings, secret_box: SecretBox
) -> AsyncIterator[Any]:
    async with running(
        aiohttp_client, pool, settings, secret_box, with_sip=False, routes=MODULES,
        with_gate=False,
    ) as client:  # fmt: skip
        yield client


@pytest.fixture
async def tenant(pool: asyncpg.Pool[Any]) -> Tenant:
    return await make_tenant(pool, ("101", "102", "103"))


async def _features(app: Any, tenant: Tenant, name: str) -> dict[str, Any]:
    response = await app.get(f"/api/pbx/sipphonemodel/{name}", headers=tenant.viewer)
    assert response.status == 200, await response.text()
    return dict((await response.json())["features"])


async def _fetch(app: Any, case: Case) -> str:
    response = await app.get(f"/prov/{case.file}", headers={"User-Agent": case.user_agent})
    assert response.status == 200, await response.text()
    return str(await response.text())


def _https(url: str) -> bool:
    return bool(re.fullmatch(r"https://prov\.example\.test:\d+/prov/", url))


def _yealink(body: str) -> None:
    kv = first_values(body, " = ")
    assert kv["phone_setting.ring_type"] == "Ring3.wav"
    assert kv["distinctive_ring_tones.alert_info.1.text"] == "alert-group"
    assert kv["distinctive_ring_tones.alert_info.1.ringer"] == "2"
    assert kv["distinctive_ring_tones.alert_info.2.text"] == "alert-external"
    assert kv["distinctive_ring_tones.alert_info.2.ringer"] == "4"
    assert kv["phone_setting.common_power_led_enable"] == "0"
    assert kv["screensaver.wait_time"] == "600"
    assert _https(kv["static.auto_provision.server.url"])
    assert kv["call_waiting.enable"] == "0"
    assert kv["static.auto_provision.custom.protect"] == "1"


def _snom(body: str) -> None:
    root = ET.fromstring(body.encode())
    assert root.findtext(".//user_ringer[@idx='1']") == "Ringer3"
    assert root.findtext(".//alert_group_ring_text") == "alert-group"
    assert root.findtext(".//alert_group_ring_sound") == "Ringer2"
    assert root.findtext(".//alert_external_ring_text") == "alert-external"
    assert root.findtext(".//alert_external_ring_sound") == "Ringer4"
    assert _https(root.findtext(".//setting_server") or "")
    assert root.findtext(".//call_waiting") == "off"
    assert {key.get("perm") for key in root.iter("fkey")} == {"RW"}


def _grandstream(body: str) -> None:
    config = ET.fromstring(body.encode()).find("config")
    assert config is not None
    p = {e.tag: e.text or "" for e in config}
    assert p["P104"] == "2"  # ringtone 3: custom ring tone 2 (1 is the system ring tone)
    assert (p["P2918"], p["P2919"]) == ("1", "10")  # screensaver on, 10 minutes
    assert p["P212"] == "2" and p["P237"].startswith("prov.example.test:")  # HTTPS
    assert p["P91"] == "1"  # call waiting disabled


def _polycom(body: str) -> None:
    a = attributes(body)
    assert a["reg.1.ringType"] == "ringer4"  # ringer1 is silent
    assert (a["voIpProt.SIP.alertInfo.1.value"], a["voIpProt.SIP.alertInfo.1.class"]) == (
        "alert-group",
        "custom1",
    )
    assert (a["se.rt.custom1.ringer"], a["se.rt.custom1.type"]) == ("ringer3", "ring")
    assert a["voIpProt.SIP.alertInfo.2.value"] == "alert-external"
    assert a["se.rt.custom2.ringer"] == "ringer5"
    assert (a["up.screenSaver.enabled"], a["up.screenSaver.waitTime"]) == ("1", "10")
    assert a["device.prov.serverType"] == "HTTPS" and _https(a["device.prov.serverName"])
    assert a["call.callWaiting.enable"] == "0"
    assert a["up.analogHeadsetOption"] == "2"


def _cisco(body: str) -> None:
    root = ET.fromstring(body.encode())
    assert root.findtext("Default_Ring_1_") == "3"
    assert root.findtext("Screen_Saver_Enable") == "Yes"
    assert root.findtext("Screen_Saver_Wait") == "600"
    assert _https((root.findtext("Profile_Rule") or "").removesuffix("spa$MA.xml"))
    assert root.findtext("CW_Setting") == "No"
    key = root.find("Extended_Function_1_")
    assert key is not None and key.get("ua") == "rw"


def _mitel(body: str) -> None:
    kv = first_values(body, ": ")
    assert kv["ring tone"] == "2"  # Tone 3
    assert kv["alert group"] == "1"  # Bellcore-dr2
    assert kv["alert external"] == "3"  # Bellcore-dr4
    assert kv["download protocol"] == "HTTPS"
    assert (kv["https server"], kv["https path"]) == ("prov.example.test", "prov")
    assert kv["call waiting"] == "0"


def _fanvil(body: str) -> None:
    root = ET.fromstring(body.encode())
    assert root.findtext(".//RingType") == "Type 3"
    assert _https(root.findtext(".//FlashServerIP") or "")
    assert root.findtext(".//EnableCallWaiting") == "0"


READBACK: dict[str, Callable[[str], None]] = {
    "yealink": _yealink,
    "snom": _snom,
    "grandstream": _grandstream,
    "polycom": _polycom,
    "cisco": _cisco,
    "mitel": _mitel,
    "fanvil": _fanvil,
}


@pytest.mark.parametrize("case", CASES, ids=[case.model for case in CASES])
async def test_every_setting_the_model_takes_is_in_its_config(
    tls_app: Any, tenant: Tenant, case: Case
) -> None:
    features = await _features(tls_app, tenant, case.model)
    taken = set(features["settings"])
    vendor = case.model.split("-")[0]
    user = tenant.extensions["101"]
    body = {"vendor": vendor, "model": case.model, "mac": case.mac, "serial": "SN-1"}
    refused = {k: v for k, v in VALUES.items() if USER_PHONE_SETTINGS[k] not in taken}
    for field, value in refused.items():
        response = await tls_app.post(
            f"/api/users/{user}/phones", json={**body, field: value}, headers=tenant.headers
        )
        assert response.status == 422, (field, await response.text())
        error = await response.json()
        assert error["message"] == field
        assert error["description"].endswith(f"is not supported by {case.model}")
    given = {k: v for k, v in VALUES.items() if k not in refused}
    created = await tls_app.post(
        f"/api/users/{user}/phones", json={**body, **given}, headers=tenant.headers
    )
    assert created.status == 201, await created.text()
    phone = await created.json()
    assert phone["ringtone"] == 3
    record = {k: v for k, v in RECORD_VALUES.items() if k in taken}
    for field in set(RECORD_VALUES) - set(record):
        response = await tls_app.post(
            f"/api/pbx/sipphone/{phone['_id']}",
            json={field: RECORD_VALUES[field]},
            headers=tenant.headers,
        )
        assert response.status == 422, (field, await response.text())
        assert (await response.json())["message"] == field
    record["softkeys"] = [{"index": 0, "function": "SPEEDDIAL", "value": "112", "label": "SOS"}]
    changed = await tls_app.post(
        f"/api/pbx/sipphone/{phone['_id']}", json=record, headers=tenant.headers
    )
    assert changed.status == 200, await changed.text()
    shown = await changed.json()
    assert shown["ringer"]["tone"] == 3  # 000 ringtone is 002 ringer.tone
    READBACK[vendor](await _fetch(tls_app, case))


async def test_a_ringtone_beyond_the_models_is_refused(tls_app: Any, tenant: Tenant) -> None:
    """Grandstream has four ringtones, Mitel five: no silent fallback to another tone."""
    user = tenant.extensions["101"]
    for case, field, value in (
        (CASES[2], "ringtone", 5),
        (CASES[5], "queue_ringtone", 6),
        (CASES[0], "external_ringtone", 9),
    ):
        vendor = case.model.split("-")[0]
        body = {"vendor": vendor, "model": case.model, "mac": case.mac, "serial": "SN-1"}
        response = await tls_app.post(
            f"/api/users/{user}/phones", json={**body, field: value}, headers=tenant.headers
        )
        assert response.status == 422, await response.text()
        error = await response.json()
        assert error["message"] == field
        assert (
            f"'{value}' is not one of the built-in ringtones of {case.model}"
            in (error["description"])
        )


async def test_without_https_the_config_keeps_the_plain_url(tls_app: Any, tenant: Tenant) -> None:
    case = CASES[0]
    user = tenant.extensions["102"]
    body = {"vendor": "yealink", "model": case.model, "mac": case.mac, "https": False}
    created = await tls_app.post(f"/api/users/{user}/phones", json=body, headers=tenant.headers)
    assert created.status == 201, await created.text()
    kv = first_values(await _fetch(tls_app, case), " = ")
    assert kv["static.auto_provision.server.url"] == PLAIN_URL
    phone = await created.json()
    turned = await tls_app.post(
        f"/api/users/{user}/phones/{phone['_id']}", json={"https": True}, headers=tenant.headers
    )
    assert turned.status == 200, await turned.text()
    assert _https(
        first_values(await _fetch(tls_app, case), " = ")["static.auto_provision.server.url"]
    )


async def test_tls_is_written_where_tls_is_served(tls_app: Any, tenant: Tenant) -> None:
    """With a certificate the server listens for SIP over TLS: the phone gets TLS."""
    case = CASES[0]
    user = tenant.extensions["102"]
    body = {"vendor": "yealink", "model": case.model, "mac": case.mac}
    created = await tls_app.post(
        f"/api/users/{user}/phones",
        json={**body, "preferred_transport": "TLS"},
        headers=tenant.headers,
    )
    assert created.status == 201, await created.text()
    kv = first_values(await _fetch(tls_app, case), " = ")
    assert kv["account.1.sip_server.1.transport_type"] == "2"
    assert kv["account.1.sip_server.1.port"] == "5061"


async def test_what_the_server_does_not_serve_is_refused(plain_app: Any, tenant: Tenant) -> None:
    """No certificate and only UDP: HTTPS is 422, TLS and TCP 409, on assign and update,
    on desk phones and DECT bases; nothing is written."""
    user = tenant.extensions["101"]
    body = {"vendor": "yealink", "model": "yealink-t54w", "mac": CASES[0].mac}
    for field, value, code in (
        ("https", True, 422),
        ("preferred_transport", "TLS", 409),
        ("preferred_transport", "TCP", 409),
    ):
        response = await plain_app.post(
            f"/api/users/{user}/phones", json={**body, field: value}, headers=tenant.headers
        )
        assert response.status == code, await response.text()
        error = await response.json()
        assert error["message"] == field
        if field == "https":
            assert "tls_cert" in error["description"]
        else:
            assert f"does not serve SIP over {value}" in error["description"]
        base = await plain_app.post(
            "/api/dect_phones", json=base_body(**{field: value}), headers=tenant.headers
        )
        assert base.status == code and (await base.json())["message"] == field
    listed = await plain_app.get(f"/api/users/{user}/phones", headers=tenant.viewer)
    assert (await listed.json())["items"] == []
    created = await plain_app.post(f"/api/users/{user}/phones", json=body, headers=tenant.headers)
    phone = await created.json()
    for patch in ({"https": True}, {"preferred_transport": "TLS"}):
        changed = await plain_app.post(
            f"/api/users/{user}/phones/{phone['_id']}", json=patch, headers=tenant.headers
        )
        assert changed.status in (409, 422), await changed.text()
    kv = first_values(await _fetch(plain_app, CASES[0]), " = ")
    assert kv["account.1.sip_server.1.transport_type"] == "0"  # UDP, as saved
    assert kv["static.auto_provision.server.url"].startswith("http://")


GIGASET_UA = "Gigaset N670 IP PRO/83.V2.11.0+build.a546b47;7C2F80E0F443"


async def test_dect_region_https_and_passwords(tls_app: Any, tenant: Tenant) -> None:
    """Gigaset: region and HTTPS in its XML; the passwords it has no login for, a region
    it does not list, and a Yealink W-series region are refused naming the field."""
    gigaset = base_body(
        mac="7C2F80E0F443",
        vendor="gigaset",
        model="N670 IP PRO",
        template="gigaset.xml",
        tone="DE",
        handset_language="POLISH",
        user_password=None,
    )
    for field, value, description in (
        ("region", "Denmark", "Region 'Denmark' is not supported by gigaset-n670 (one of EUR)"),
        ("user_password", "u-1", "User password is not supported by gigaset-n670"),
        ("engineer_password", "e-1", "Engineer password is not supported by gigaset-n670"),
    ):
        response = await tls_app.post(
            "/api/dect_phones", json={**gigaset, field: value}, headers=tenant.headers
        )
        assert response.status == 422, await response.text()
        assert await response.json() == {"code": 422, "message": field, "description": description}
    yealink = await tls_app.post(
        "/api/dect_phones", json=base_body(region="EUR"), headers=tenant.headers
    )
    assert yealink.status == 422
    assert (await yealink.json())["description"] == "Region is not supported by yealink-w60b"
    base = await base_with_members(tls_app, tenant, {**gigaset, "region": "EUR", "https": True})
    response = await tls_app.get("/prov/7C2F80E0F443.xml", headers={"User-Agent": GIGASET_UA})
    assert response.status == 200, await response.text()
    params = {
        p.get("name"): p.get("value")
        for p in ET.fromstring((await response.text()).encode()).iter("param")
    }
    assert params["DmGlobal.0.SystemRegDomain"] == "EUR"
    assert _https(params["Provisioning.global.ProvisioningServer"] or "")
    # the model shows what it takes
    model = await tls_app.get("/api/dect_phone_models/gigaset-n670", headers=tenant.viewer)
    shown = await model.json()
    assert shown["regions"] == ["EUR"] and "region" in shown["settings"]
    # call waiting: null for a model without it, refused when set
    member = await tls_app.get(f"/api/dect_phones/{base['_id']}/members/101", headers=tenant.viewer)
    record = await member.json()
    assert record.get("callWaiting") is None
    refused = await tls_app.post(
        f"/api/pbx/sipphone/{record['_id']}", json={"callWaiting": True}, headers=tenant.headers
    )
    assert refused.status == 422
    assert await refused.json() == {
        "code": 422,
        "message": "callWaiting",
        "description": "Call waiting is not supported by gigaset-n670",
    }


async def test_catalogue_lists_the_settings_of_every_model(plain_app: Any, tenant: Tenant) -> None:
    response = await plain_app.get("/api/pbx/sipphonemodel?limit=100", headers=tenant.viewer)
    models = (await response.json())["items"]
    phones = [m for m in models if m["kind"] in ("desk", "dect")]
    assert phones
    for model in phones:
        settings = model["features"]["settings"]
        assert set(settings) <= set(OPTIONAL_SETTINGS), model["name"]
        assert "https" in settings, model["name"]
        assert ("ringtone" in settings) == isinstance(model["features"].get("ringtones"), int)
