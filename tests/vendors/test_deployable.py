"""Configs an operator can deploy as they are, per vendor, read back from the file each phone
fetches over `/prov/` (phones made through the API, real rendering, real PostgreSQL): the
PBX's voicemail number with a message-waiting subscription, the re-provisioning timer, and
the time zone with its daylight saving rules taken from the IANA name, in each vendor's own
keys and numbering."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import pytest

import provisioning.api.sipphone_models
from provisioning.config import Settings
from provisioning.credentials import SecretBox
from tests.support import factories
from tests.support.database import bearer, insert_token
from tests.support.dect import ROUTE_MODULES, Tenant, base_body, base_with_members, make_tenant
from tests.support.prov_phones import CASES, Case
from tests.support.render import attributes, first_values

pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")

VOICEMAIL = "*97"
INTERVAL = 720  # minutes
ZONE = "America/New_York"  # EST5EDT,M3.2.0,M11.1.0: second Sunday of March, first of November
CASE = {case.model.split("-")[0]: case for case in CASES}
MODULES = [*ROUTE_MODULES, provisioning.api.sipphone_models.setup]


@pytest.fixture
async def app(
    aiohttp_client: Any, pool: asyncpg.Pool[Any], settings: Settings, secret_box: SecretBox
) -> AsyncIterator[Any]:
    from tests.support.prov_app import running

    deployed = dataclasses.replace(
        settings, voicemail_number=VOICEMAIL, provisioning_interval=INTERVAL
    )
    async with running(
        aiohttp_client, pool, deployed, secret_box, with_sip=False, routes=MODULES
    ) as client:
        yield client


@pytest.fixture
async def plain(
    aiohttp_client: Any, pool: asyncpg.Pool[Any], settings: Settings, secret_box: SecretBox
) -> AsyncIterator[Any]:
    """The defaults: no voicemail on the PBX, provisioning_interval 0 (off)."""
    from tests.support.prov_app import running

    quiet = dataclasses.replace(settings, provisioning_interval=0)
    async with running(
        aiohttp_client, pool, quiet, secret_box, with_sip=False, routes=MODULES
    ) as client:
        yield client


@pytest.fixture
async def tenant(pool: asyncpg.Pool[Any]) -> Tenant:
    return await make_tenant(pool, ("101", "102"))


def _yealink(body: str, user: str) -> None:
    kv = first_values(body, " = ")
    assert kv["account.1.subscribe_mwi"] == "1"
    assert kv["voice_mail.number.1"] == VOICEMAIL
    assert kv["static.auto_provision.repeat.enable"] == "1"
    assert kv["static.auto_provision.repeat.minutes"] == str(INTERVAL)
    assert kv["local_time.time_zone"] == "-5"
    assert (kv["local_time.summer_time"], kv["local_time.dst_time_type"]) == ("1", "1")
    assert kv["local_time.start_time"] == "3/2/7/2"  # March, 2nd week, Sunday (7), 2 h
    assert kv["local_time.end_time"] == "11/1/7/2"
    assert kv["local_time.offset_time"] == "60"


def _snom(body: str, user: str) -> None:
    root = ET.fromstring(body.encode())
    assert root.findtext(".//user_mailbox[@idx='1']") == VOICEMAIL
    assert root.findtext(".//settings_refresh_timer") == str(INTERVAL * 60)
    assert root.findtext(".//utc_offset") == "-18000"
    assert root.findtext(".//dst") == "3600 03.02.07 02:00:00 11.01.07 02:00:00"


def _grandstream(body: str, user: str) -> None:
    config = ET.fromstring(body.encode()).find("config")
    assert config is not None
    p = {e.tag: e.text or "" for e in config}
    assert (p["P33"], p["P99"]) == (VOICEMAIL, "1")
    assert (p["P194"], p["P193"]) == ("1", str(INTERVAL))
    assert (p["P64"], p["P246"]) == ("customize", "EST5EDT,M3.2.0,M11.1.0")


def _polycom(body: str, user: str) -> None:
    a = attributes(body)
    assert a["msg.mwi.1.subscribe"] == user
    assert (a["msg.mwi.1.callBackMode"], a["msg.mwi.1.callBack"]) == ("contact", VOICEMAIL)
    assert (a["prov.polling.enabled"], a["prov.polling.mode"]) == ("1", "rel")
    assert a["prov.polling.period"] == str(INTERVAL * 60)
    assert a["tcpIpApp.sntp.gmtOffset"] == "-18000"
    dst = "tcpIpApp.sntp.daylightSavings."
    assert a[dst + "enable"] == "1" and a[dst + "fixedDayEnable"] == "0"
    assert [a[dst + "start." + k] for k in ("month", "time", "dayOfWeek", "date")] == [
        "3",
        "2",
        "1",
        "8",
    ]
    assert a[dst + "start.dayOfWeek.lastInMonth"] == "0"
    assert [a[dst + "stop." + k] for k in ("month", "time", "dayOfWeek", "date")] == [
        "11",
        "2",
        "1",
        "1",
    ]


def _cisco(body: str, user: str) -> None:
    root = ET.fromstring(body.encode())
    assert root.findtext("Voice_Mail_Number") == VOICEMAIL
    assert root.findtext("Resync_Periodic") == str(INTERVAL * 60)
    assert root.findtext("Time_Zone") == "GMT-05:00"
    assert root.findtext("Daylight_Saving_Time_Enable") == "Yes"
    assert (
        root.findtext("Daylight_Saving_Time_Rule")
        == "start=3/8/7/2:0:0;end=11/1/7/2:0:0;save=1:0:0"
    )


def _mitel(body: str, user: str) -> None:
    kv = first_values(body, ": ")
    assert kv["sip explicit mwi subscription"] == "1"
    assert kv["sip line1 vmail"] == VOICEMAIL
    assert (kv["auto resync mode"], kv["auto resync days"]) == ("1", "0")
    assert (kv["time zone name"], kv["time zone minutes"]) == ("Custom", "300")
    assert (kv["dst config"], kv["dst [start|end] relative date"]) == ("3", "1")
    assert [kv[f"dst start {k}"] for k in ("month", "week", "day", "hour")] == ["3", "2", "1", "2"]
    assert [kv[f"dst end {k}"] for k in ("month", "week", "day", "hour")] == ["11", "1", "1", "2"]


def _fanvil(body: str, user: str) -> None:
    root = ET.fromstring(body.encode())
    assert root.findtext(".//line[@index='1']/MWINum") == VOICEMAIL
    assert root.findtext(".//line[@index='1']/Subscribe") == "1"
    assert (root.findtext(".//FlashMode"), root.findtext(".//FlashInterval")) == ("2", "12")
    assert (root.findtext(".//TimeZone"), root.findtext(".//TimeZoneName")) == ("-20", "UTC-05")
    assert root.findtext(".//EnableDST") == "2"
    start = [root.findtext(f".//DSTStart{k}") for k in ("Mon", "Week", "Wday", "Hour")]
    assert start == ["3", "2", "0", "2"]
    end = [root.findtext(f".//DSTEnd{k}") for k in ("Mon", "Week", "Wday", "Hour")]
    assert end == ["11", "1", "0", "2"]


READBACK: dict[str, Callable[[str, str], None]] = {
    "yealink": _yealink,
    "snom": _snom,
    "grandstream": _grandstream,
    "polycom": _polycom,
    "cisco": _cisco,
    "mitel": _mitel,
    "fanvil": _fanvil,
}


async def _fetch(app: Any, case: Case) -> str:
    response = await app.get(f"/prov/{case.file}", headers={"User-Agent": case.user_agent})
    assert response.status == 200, await response.text()
    return str(await response.text())


@pytest.mark.parametrize("case", CASES, ids=[case.model for case in CASES])
async def test_voicemail_timer_and_time_zone_are_in_the_config(
    app: Any, tenant: Tenant, case: Case
) -> None:
    vendor = case.model.split("-")[0]
    body = {"vendor": vendor, "model": case.model, "mac": case.mac, "timezone": ZONE}
    if vendor == "grandstream":
        body["serial"] = "SN-1"
    user = tenant.extensions["101"]
    created = await app.post(f"/api/users/{user}/phones", json=body, headers=tenant.headers)
    assert created.status == 201, await created.text()
    phone = await (
        await app.get(f"/api/pbx/sipphone/{(await created.json())['_id']}", headers=tenant.owner)
    ).json()
    READBACK[vendor](await _fetch(app, case), phone["username"])


async def test_without_voicemail_or_extension_nothing_subscribes(
    plain: Any, app: Any, tenant: Tenant
) -> None:
    """No voicemail number on the PBX: no voicemail key, no MWI subscription; the timer
    off. With a voicemail number, a phone with no extension subscribes to nothing (its own
    AOR has no mailbox to watch)."""
    case = CASE["yealink"]
    user = tenant.extensions["102"]
    body = {"vendor": "yealink", "model": case.model, "mac": case.mac}
    created = await plain.post(f"/api/users/{user}/phones", json=body, headers=tenant.headers)
    assert created.status == 201, await created.text()
    kv = first_values(await _fetch(plain, case), " = ")
    assert kv["account.1.subscribe_mwi"] == "0"
    assert "voice_mail.number.1" not in kv
    assert kv["static.auto_provision.repeat.enable"] == "0"
    assert "static.auto_provision.repeat.minutes" not in kv
    mitel = CASE["mitel"]
    unassigned = await app.put(
        "/api/pbx/sipphone",
        json={"sipPhoneModel": mitel.model, "macAddress": mitel.mac},
        headers=tenant.headers,
    )
    assert unassigned.status == 201, await unassigned.text()
    assert first_values(await _fetch(app, mitel), ": ")["sip explicit mwi subscription"] == "0"


GIGASET_UA = "Gigaset N670 IP PRO/83.V2.11.0+build.a546b47;7C2F80E0F443"


async def test_dect_base_subscribes_and_keeps_the_zone_name(app: Any, tenant: Tenant) -> None:
    body = base_body(
        mac="7C2F80E0F443",
        vendor="gigaset",
        model="N670 IP PRO",
        template="gigaset.xml",
        tone="DE",
        timezone=ZONE,
        user_password=None,
    )
    await base_with_members(app, tenant, body)
    response = await app.get("/prov/7C2F80E0F443.xml", headers={"User-Agent": GIGASET_UA})
    assert response.status == 200, await response.text()
    params = {
        p.get("name"): p.get("value")
        for p in ET.fromstring((await response.text()).encode()).iter("param")
    }
    assert params["SipProvider.1.MWISubscription"] == "1"
    assert params["SipAccount.00001.VoiceMailMailbox"] == VOICEMAIL
    assert params["DmGlobal.0.TimeZone"] == ZONE


def _xml_text(path: str) -> Callable[[str], str | None]:
    return lambda body: ET.fromstring(body.encode()).findtext(path)


def _yealink_admin(body: str) -> str | None:
    for line in body.splitlines():
        if line.startswith("static.security.user_password = admin:"):
            return line.split(":", 1)[1]
    return None


def _fanvil_admin(body: str) -> str | None:
    root = ET.fromstring(body.encode())
    web = root.findtext(".//web/account[@index='1']/Password")
    assert web == root.findtext(".//MenuPassword")
    return web


def _snom_admin(body: str) -> str | None:
    root = ET.fromstring(body.encode())
    assert root.findtext(".//http_pass") == root.findtext(".//admin_mode_password")
    return root.findtext(".//http_pass")


# the vendor's admin-password key, read from the fetched file
ADMIN_PASSWORD: dict[str, Callable[[str], str | None]] = {
    "yealink": _yealink_admin,
    "snom": _snom_admin,
    "grandstream": _xml_text("config/P2"),
    "polycom": lambda body: attributes(body).get("device.auth.localAdminPassword"),
    "cisco": _xml_text("Admin_Passwd"),
    "mitel": lambda body: first_values(body, ": ").get("admin password"),
    "fanvil": _fanvil_admin,
}


@pytest.mark.parametrize("case", CASES, ids=[case.model for case in CASES])
async def test_each_phone_gets_its_own_web_password(app: Any, tenant: Tenant, case: Case) -> None:
    vendor = case.model.split("-")[0]
    body = {"vendor": vendor, "model": case.model, "mac": case.mac, "serial": "SN-1"}
    user = tenant.extensions["101"]
    created = await app.post(f"/api/users/{user}/phones", json=body, headers=tenant.headers)
    assert created.status == 201, await created.text()
    assigned = await created.json()
    assert "web_password" not in assigned  # a MANAGER does not see it
    path = f"/api/pbx/sipphone/{assigned['_id']}"
    shown = (await (await app.get(path, headers=tenant.owner)).json())["webPassword"]
    if vendor == "mitel":  # numbers only, or the phone keeps its factory default
        assert shown.isdigit() and len(shown) == 10 and int(shown) <= 4294967295
    else:
        assert len(shown) == 16 and shown.isalnum()
    assert "webPassword" not in await (await app.get(path, headers=tenant.headers)).json()
    listed = await app.get(f"/api/users/{user}/phones", headers=tenant.owner)
    assert (await listed.json())["items"][0]["web_password"] == shown
    assert ADMIN_PASSWORD[vendor](await _fetch(app, case)) == shown
    # shown back unchanged it is accepted; changed, it is refused here
    echoed = await app.post(path, json={"webPassword": shown}, headers=tenant.owner)
    assert echoed.status == 200, await echoed.text()
    changed = await app.post(path, json={"webPassword": "other"}, headers=tenant.owner)
    assert changed.status == 422 and (await changed.json())["message"] == "webPassword"
    # cleared through 000, a new one is drawn: never the factory default
    cleared = await app.post(
        f"/api/users/{user}/phones/{assigned['_id']}",
        json={"web_password": None},
        headers=tenant.headers,
    )
    assert cleared.status == 200, await cleared.text()
    fresh = (await (await app.get(path, headers=tenant.owner)).json())["webPassword"]
    assert fresh and fresh != shown
    assert ADMIN_PASSWORD[vendor](await _fetch(app, case)) == fresh


async def test_an_operators_web_password_must_suit_the_vendor(app: Any, tenant: Tenant) -> None:
    user = tenant.extensions["102"]
    mitel = CASE["mitel"]
    body = {"vendor": "mitel", "model": mitel.model, "mac": mitel.mac}
    refused = await app.post(
        f"/api/users/{user}/phones", json={**body, "web_password": "s3cret"}, headers=tenant.headers
    )
    assert refused.status == 422
    assert await refused.json() == {
        "code": 422,
        "message": "web_password",
        "description": "mitel-6867i takes a numeric web password (0-4294967295), digits only",
    }
    taken = await app.post(
        f"/api/users/{user}/phones", json={**body, "web_password": "4711"}, headers=tenant.headers
    )
    assert taken.status == 201, await taken.text()
    assert first_values(await _fetch(app, mitel), ": ")["admin password"] == "4711"
    # a Yealink record moved to a Mitel model: its letters would not do, it gets digits
    yealink = await app.put(
        "/api/pbx/sipphone",
        json={"sipPhoneModel": "yealink-t54w", "macAddress": "00085D654321"},
        headers=tenant.headers,
    )
    phone = await yealink.json()
    path = f"/api/pbx/sipphone/{phone['_id']}"
    before = (await (await app.get(path, headers=tenant.owner)).json())["webPassword"]
    assert not before.isdigit()
    moved = await app.post(path, json={"sipPhoneModel": "mitel-6869i"}, headers=tenant.headers)
    assert moved.status == 200, await moved.text()
    after = (await (await app.get(path, headers=tenant.owner)).json())["webPassword"]
    assert after.isdigit() and len(after) == 10


async def test_phones_from_before_get_one_at_start(
    aiohttp_client: Any, pool: asyncpg.Pool[Any], settings: Settings, secret_box: SecretBox
) -> None:
    """A record written before web passwords were generated (no device secrets) gets one
    when the file server starts, before it serves anything."""
    from tests.support.prov_app import running

    case = CASE["grandstream"]
    async with pool.acquire() as conn:
        customer = await factories.customer(conn)
        owner = bearer(await insert_token(conn, "OWNER", customer_id=customer))
        old = await factories.phone(conn, customer, model=case.model, mac_address=case.mac)
    async with running(
        aiohttp_client, pool, settings, secret_box, with_sip=False, routes=MODULES
    ) as app:
        shown = await app.get(f"/api/pbx/sipphone/{old.id}", headers=owner)
        password = (await shown.json())["webPassword"]
        assert len(password) == 16
        assert ADMIN_PASSWORD["grandstream"](await _fetch(app, case)) == password


FIRMWARE = "https://fw.example.test/phones/firmware-1.2.bin"


def _firmware_of(vendor: str, body: str) -> Any:
    """What the fetched file says about the firmware, in the vendor's own keys."""
    if vendor == "yealink":
        return first_values(body, " = ").get("static.firmware.url")
    root = ET.fromstring(body.encode())
    if vendor == "snom":
        return root.findtext(".//firmware_status"), root.findtext(".//update_policy")
    if vendor == "grandstream":
        return root.findtext("config/P6767"), root.findtext("config/P192")
    if vendor == "polycom":  # the per-MAC master file
        return root.get("APP_FILE_PATH")
    if vendor == "cisco":
        return root.findtext("Upgrade_Enable"), root.findtext("Upgrade_Rule")
    if vendor == "fanvil":
        return root.findtext(".//AUTOUPDATE_CONFIG_MODULE/Auto_Image_URL")
    raise AssertionError(vendor)


EXPECTED_FIRMWARE: dict[str, Any] = {
    "yealink": FIRMWARE,
    "snom": (FIRMWARE, "auto_update"),
    "grandstream": ("2", "fw.example.test/phones/firmware-1.2.bin"),
    "polycom": FIRMWARE,
    "cisco": ("Yes", FIRMWARE),
    "fanvil": FIRMWARE,
}
NO_FIRMWARE: dict[str, Any] = {
    "yealink": None,
    "snom": (None, "settings_only"),
    "grandstream": (None, None),
    "polycom": "",
    "cisco": (None, None),
    "fanvil": None,
}


@pytest.mark.parametrize(
    "case", [c for c in CASES if not c.model.startswith("mitel")], ids=lambda c: c.model
)
async def test_the_models_firmware_is_in_the_config(
    app: Any, tenant: Tenant, pool: Any, case: Case
) -> None:
    vendor = case.model.split("-")[0]
    async with pool.acquire() as conn:
        admin = bearer(await insert_token(conn, "ADMIN"))
    body = {"vendor": vendor, "model": case.model, "mac": case.mac, "serial": "SN-1"}
    user = tenant.extensions["101"]
    created = await app.post(f"/api/users/{user}/phones", json=body, headers=tenant.headers)
    assert created.status == 201, await created.text()
    # Poly names its firmware in the per-MAC master file, {mac}.cfg
    file = f"{case.mac.lower()}.cfg" if vendor == "polycom" else case.file
    fetch = dataclasses.replace(case, file=file)
    assert _firmware_of(vendor, await _fetch(app, fetch)) == NO_FIRMWARE[vendor]
    path = f"/api/pbx/sipphonemodel/{case.model}"
    refused = await app.post(path, json={"firmwareUrl": FIRMWARE}, headers=tenant.owner)
    assert refused.status == 403  # the catalogue is global: ADMIN only
    changed = await app.post(path, json={"firmwareUrl": FIRMWARE}, headers=admin)
    assert changed.status == 200, await changed.text()
    assert (await changed.json())["firmwareUrl"] == FIRMWARE
    shown = await (await app.get(path, headers=tenant.viewer)).json()
    assert (shown["firmwareUrl"], shown["firmwareVersion"]) == (FIRMWARE, None)
    assert _firmware_of(vendor, await _fetch(app, fetch)) == EXPECTED_FIRMWARE[vendor]
    cleared = await app.post(path, json={"firmwareUrl": None}, headers=admin)
    assert cleared.status == 200
    assert _firmware_of(vendor, await _fetch(app, fetch)) == NO_FIRMWARE[vendor]


async def test_firmware_refusals_and_the_gigaset_version(
    app: Any, tenant: Tenant, pool: Any
) -> None:
    async with pool.acquire() as conn:
        admin = bearer(await insert_token(conn, "ADMIN"))
    for model, body, field, description in (
        (
            "mitel-6867i",
            {"firmwareUrl": FIRMWARE},
            "firmwareUrl",
            "Firmware URLs are not supported by mitel-6867i",
        ),
        (
            "yealink-exp50",
            {"firmwareUrl": FIRMWARE},
            "firmwareUrl",
            "Firmware URLs are not supported by yealink-exp50",
        ),
        (
            "gigaset-n670",
            {"firmwareUrl": FIRMWARE},
            "firmwareVersion",
            "gigaset-n670 needs the firmware's version with its URL",
        ),
        (
            "yealink-t54w",
            {"firmwareUrl": "ftp://fw.example.test/x.rom"},
            "firmwareUrl",
            "URL is invalid, must begin with http: or https:",
        ),
        ("yealink-t54w", {"firmware": FIRMWARE}, "firmware", "Unknown field"),
    ):
        response = await app.post(f"/api/pbx/sipphonemodel/{model}", json=body, headers=admin)
        assert response.status == 422, await response.text()
        assert await response.json() == {"code": 422, "message": field, "description": description}
    missing = await app.post("/api/pbx/sipphonemodel/nope-1", json={}, headers=admin)
    assert missing.status == 404
    gigaset = await app.post(
        "/api/pbx/sipphonemodel/gigaset-n670",
        json={"firmwareUrl": FIRMWARE, "firmwareVersion": "2.49.1"},
        headers=admin,
    )
    assert gigaset.status == 200, await gigaset.text()
    body = base_body(
        mac="7C2F80E0F443",
        vendor="gigaset",
        model="N670 IP PRO",
        template="gigaset.xml",
        tone="DE",
        user_password=None,
    )
    await base_with_members(app, tenant, body)
    response = await app.get("/prov/7C2F80E0F443.xml", headers={"User-Agent": GIGASET_UA})
    file = ET.fromstring((await response.text()).encode()).find("firmware/file")
    assert file is not None
    assert (file.get("version"), file.get("url")) == ("2.49.1", FIRMWARE)
