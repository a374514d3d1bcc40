"""Custom ringtones end to end: uploaded through `/api/ringtones` (real WAV bytes, real
PostgreSQL), named by a phone's `ringer.tone` (002) or `ringtone` (000), written into the
config each vendor fetches over `/prov/` in its own way, and fetched by the phone from the
URL in that config — through the same checks as the config. Bad files, other tenants'
ringtones, models without custom ringtones and formats a model cannot play are refused
naming the field."""

from __future__ import annotations

import io
import struct
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest

import provisioning.api.ringtones
import provisioning.api.sipphone_models
from provisioning.config import Settings
from provisioning.credentials import SecretBox
from tests.support import factories
from tests.support.database import bearer, insert_token
from tests.support.dect import ROUTE_MODULES, Tenant, make_tenant
from tests.support.prov_phones import CASES, Case

pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")

CASE = {case.model.split("-")[0]: case for case in CASES}


def wav(
    *, tag: int = 1, channels: int = 1, rate: int = 8000, bits: int = 16, frames: int = 800
) -> bytes:
    """A RIFF/WAVE file of `frames` sample frames (a ramp, so two files differ)."""
    align = channels * bits // 8
    data = bytes(i % 251 for i in range(frames * align))
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * align, align, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


@pytest.fixture
async def app(
    aiohttp_client: Any, pool: asyncpg.Pool[Any], settings: Settings, secret_box: SecretBox
) -> AsyncIterator[Any]:
    from tests.support.prov_app import running

    modules = [
        *ROUTE_MODULES,
        provisioning.api.ringtones.setup,
        provisioning.api.sipphone_models.setup,
    ]
    async with running(
        aiohttp_client, pool, settings, secret_box, with_sip=False, routes=modules
    ) as client:
        yield client


@pytest.fixture
async def tenant(pool: asyncpg.Pool[Any]) -> Tenant:
    return await make_tenant(pool, ("101", "102", "103"))


async def _upload(app: Any, headers: dict[str, str], data: bytes, name: str = "Bells") -> Any:
    return await app.post(
        f"/api/ringtones?name={name}",
        data=io.BytesIO(data),
        headers={**headers, "Content-Type": "audio/wav"},
    )


async def _ringtone(app: Any, tenant: Tenant, data: bytes) -> str:
    response = await _upload(app, tenant.headers, data)
    assert response.status == 201, await response.text()
    return str((await response.json())["_id"])


async def test_upload_list_read_download_delete(app: Any, tenant: Tenant, pool: Any) -> None:
    data = wav(rate=16000, frames=16000)
    created = await _upload(app, tenant.headers, data, name="Office%20bells")
    assert created.status == 201, await created.text()
    ringtone = await created.json()
    assert {k: ringtone[k] for k in ("customer", "name", "format", "durationMs", "size")} == {
        "customer": tenant.customer,
        "name": "Office bells",
        "format": "pcm16-16000",
        "durationMs": 1000,
        "size": len(data),
    }
    listed = await (await app.get("/api/ringtones", headers=tenant.viewer)).json()
    assert [item["_id"] for item in listed["items"]] == [ringtone["_id"]]
    one = await app.get(f"/api/ringtones/{ringtone['_id']}", headers=tenant.viewer)
    assert await one.json() == ringtone
    file = await app.get(f"/api/ringtones/{ringtone['_id']}/file", headers=tenant.viewer)
    assert file.headers["Content-Type"] == "audio/wav" and await file.read() == data
    refused = await _upload(app, tenant.viewer, data)
    assert refused.status == 403
    async with pool.acquire() as conn:
        other = await factories.customer(conn, "Other")
        stranger = bearer(await insert_token(conn, "MANAGER", customer_id=other))
    for method, path in (
        ("GET", f"/api/ringtones/{ringtone['_id']}"),
        ("GET", f"/api/ringtones/{ringtone['_id']}/file"),
        ("DELETE", f"/api/ringtones/{ringtone['_id']}"),
    ):
        hidden = await app.request(method, path, headers=stranger)
        assert hidden.status == 404, (method, path)
        assert (await hidden.json())["message"] == "not_found"
    assert (await (await app.get("/api/ringtones", headers=stranger)).json())["items"] == []
    deleted = await app.delete(f"/api/ringtones/{ringtone['_id']}", headers=tenant.headers)
    assert await deleted.json() == {"_id": ringtone["_id"], "deleted": True}
    gone = await app.get(f"/api/ringtones/{ringtone['_id']}", headers=tenant.viewer)
    assert gone.status == 404


def _truncated() -> bytes:
    return wav()[:-100]


def _data_first() -> bytes:
    good = wav()
    fmt, data = good[12:36], good[36:]
    return good[:12] + data + fmt


@pytest.mark.parametrize(
    ("data", "description"),
    [
        (b"ID3\x04" + bytes(100), "Not a WAV file: no RIFF/WAVE header"),
        (b"RIFF\x10\x00\x00\x00AVI LIST", "Not a WAV file: no RIFF/WAVE header"),
        (wav(channels=2), "Ringtone has 2 channels; it must be mono"),
        (wav(rate=44100), "PCM with 16-bit samples at 44100 Hz is not taken"),
        (wav(bits=24), "PCM with 24-bit samples at 8000 Hz is not taken"),
        (wav(tag=7, bits=8, rate=16000), "G.711 µ-law with 8-bit samples at 16000 Hz"),
        (wav(tag=0x55), "WAV encoding 0x0055 is not taken"),
        (wav(frames=0), "WAV data chunk is empty"),
        (_truncated(), "WAV file is truncated"),
        (_data_first(), "data chunk before its format chunk"),
    ],
    ids=[
        "mp3",
        "avi",
        "stereo",
        "44k",
        "24bit",
        "ulaw16k",
        "mp3-in-wav",
        "empty",
        "truncated",
        "data-first",
    ],
)
async def test_a_file_phones_cannot_play_is_refused(
    app: Any, tenant: Tenant, data: bytes, description: str
) -> None:
    response = await _upload(app, tenant.headers, data)
    assert response.status == 422, await response.text()
    error = await response.json()
    assert error["message"] == "file"
    assert description in error["description"]


async def test_size_content_type_and_name_are_checked(app: Any, tenant: Tenant) -> None:
    huge = wav(frames=600_000)  # 1.2 MB of 16-bit samples
    response = await _upload(app, tenant.headers, huge)
    assert response.status == 413
    assert (await response.json())["message"] == "file"
    as_json = await app.post("/api/ringtones", json={"file": "x"}, headers=tenant.headers)
    assert as_json.status == 422
    assert "Content-Type: audio/wav" in (await as_json.json())["description"]
    long_name = await _upload(app, tenant.headers, wav(), name="n" * 65)
    assert (await long_name.json())["message"] == "name"
    for accepted in (wav(tag=7, bits=8), wav(tag=6, bits=8), wav()):
        assert (await _upload(app, tenant.headers, accepted)).status == 201


def _yealink_url(body: str) -> str:
    lines = dict(line.split(" = ", 1) for line in body.splitlines() if " = " in line)
    url = lines["ringtone.url"]
    assert lines["phone_setting.ring_type"] == url.rsplit("/", 1)[1]
    return url


def _snom_url(body: str) -> str:
    root = ET.fromstring(body.encode())
    assert root.findtext(".//user_ringer[@idx='1']") == "Custom"
    return root.findtext(".//user_custom[@idx='1']") or ""


def _polycom_url(body: str) -> str:
    found: dict[str, str] = {}
    for element in ET.fromstring(body.encode()).iter():
        found.update(element.attrib)
    assert found["reg.1.ringType"] == "ringer15"
    return found["saf.2"]


URLS: dict[str, tuple[Callable[[str], str], bytes]] = {
    "yealink": (_yealink_url, wav(tag=7, bits=8)),
    "snom": (_snom_url, wav()),
    "polycom": (_polycom_url, wav(rate=16000)),
}


async def _fetch(app: Any, case: Case, path: str | None = None) -> Any:
    return await app.get(path or f"/prov/{case.file}", headers={"User-Agent": case.user_agent})


@pytest.mark.parametrize("vendor", sorted(URLS))
async def test_the_phone_gets_the_url_and_fetches_the_file(
    app: Any, tenant: Tenant, vendor: str
) -> None:
    case = CASE[vendor]
    url_of, data = URLS[vendor]
    ringtone = await _ringtone(app, tenant, data)
    body = {"vendor": vendor, "model": case.model, "mac": case.mac, "ringtone": ringtone}
    user = tenant.extensions["101"]
    created = await app.post(f"/api/users/{user}/phones", json=body, headers=tenant.headers)
    assert created.status == 201, await created.text()
    phone = await created.json()
    assert phone["ringtone"] == ringtone
    record = await app.get(f"/api/pbx/sipphone/{phone['_id']}", headers=tenant.viewer)
    assert (await record.json())["ringer"]["tone"] == ringtone
    config = await _fetch(app, case)
    assert config.status == 200, await config.text()
    url = url_of(await config.text())
    assert url.startswith("http://") and url.endswith(f"-ringtone-{ringtone}.wav"), url
    fetched = await _fetch(app, case, urlsplit(url).path)
    assert fetched.status == 200, await fetched.text()
    assert fetched.headers["Content-Type"] == "audio/wav"
    assert await fetched.read() == data
    # back to a built-in tone: no ringtone URL, and the file is no longer served
    changed = await app.post(
        f"/api/pbx/sipphone/{phone['_id']}", json={"ringer": {"tone": 2}}, headers=tenant.headers
    )
    assert changed.status == 200, await changed.text()
    assert ringtone not in await (await _fetch(app, case)).text()
    assert (await _fetch(app, case, urlsplit(url).path)).status == 404


async def test_what_a_phone_cannot_use_is_refused(app: Any, tenant: Tenant, pool: Any) -> None:
    user = tenant.extensions["102"]
    narrow = await _ringtone(app, tenant, wav(rate=16000))
    async with pool.acquire() as conn:
        other = await factories.customer(conn, "Other")
        token = bearer(await insert_token(conn, "MANAGER", customer_id=other))
    foreign = await _ringtone(app, Tenant(other, token, token, token, {}), wav())
    unknown = "a" * 24
    snom, grandstream = CASE["snom"], CASE["grandstream"]
    snom_body = {"vendor": "snom", "model": snom.model, "mac": snom.mac}
    gs_body = {"vendor": "grandstream", "model": grandstream.model, "mac": grandstream.mac}
    for body, field, value, code, description in (
        (snom_body, "ringtone", unknown, 404, f"Ringtone '{unknown}' not found"),
        (snom_body, "ringtone", foreign, 404, f"Ringtone '{foreign}' not found"),
        (
            snom_body,
            "ringtone",
            narrow,
            422,
            f"Ringtone '{narrow}' is 16-bit PCM at 16000 Hz; snom-d785 plays 16-bit PCM at "
            "8000 Hz only",
        ),
        (
            {**gs_body, "serial": "SN-1"},
            "ringtone",
            narrow,
            422,
            "Custom ringtones are not supported by grandstream-gxp2170",
        ),
    ):
        response = await app.post(
            f"/api/users/{user}/phones", json={**body, field: value}, headers=tenant.headers
        )
        assert response.status == code, await response.text()
        assert await response.json() == {
            "code": code,
            "message": field,
            "description": description,
        }
    queue = await app.post(
        f"/api/users/{user}/phones",
        json={**snom_body, "queue_ringtone": narrow},
        headers=tenant.headers,
    )
    assert queue.status == 422 and (await queue.json())["message"] == "queue_ringtone"
    created = await app.put(
        "/api/pbx/sipphone",
        json={"sipPhoneModel": snom.model, "macAddress": snom.mac},
        headers=tenant.headers,
    )
    assert created.status == 201, await created.text()
    phone = await created.json()
    for tone, code in ((unknown, 404), (foreign, 404), (narrow, 422)):
        response = await app.post(
            f"/api/pbx/sipphone/{phone['_id']}",
            json={"ringer": {"tone": tone}},
            headers=tenant.headers,
        )
        assert response.status == code, await response.text()
        assert (await response.json())["message"] == "ringer.tone"
    built_in = await app.post(
        f"/api/pbx/sipphone/{phone['_id']}",
        json={"ringer": {"tone": 11}},
        headers=tenant.headers,
    )
    assert built_in.status == 422  # a built-in index is still checked against the range


async def test_the_ringtone_fetch_passes_the_config_checks(
    app: Any, tenant: Tenant, pool: Any
) -> None:
    case = CASE["yealink"]
    ringtone = await _ringtone(app, tenant, wav())
    created = await app.put(
        "/api/pbx/sipphone",
        json={
            "sipPhoneModel": case.model,
            "macAddress": case.mac,
            "extension": tenant.extensions["103"],
            "ringer": {"tone": ringtone},
            "ip": {"mode": "LOCKED", "address": "192.0.2.44"},
        },
        headers=tenant.headers,
    )
    assert created.status == 201, await created.text()
    path = f"/prov/{case.mac.lower()}-ringtone-{ringtone}.wav"
    assert (await _fetch(app, case, path)).status == 403  # not from the locked address
    phone = await created.json()
    opened = await app.post(
        f"/api/pbx/sipphone/{phone['_id']}", json={"ip": {"mode": "OPEN"}}, headers=tenant.headers
    )
    assert opened.status == 200
    forged = await app.get(
        path, headers={"User-Agent": "Yealink SIP-T54W 96.86.0.100 001565000000"}
    )
    assert forged.status == 403  # another phone's MAC in the User-Agent
    other = await _ringtone(app, tenant, wav(frames=900))
    assert (await _fetch(app, case, path.replace(ringtone, other))).status == 404
    assert (await _fetch(app, case, path.replace(case.mac.lower(), "0015650000ff"))).status == 404
    assert (await _fetch(app, case, path)).status == 200


async def test_a_ringtone_in_use_is_not_deleted(app: Any, tenant: Tenant) -> None:
    case = CASE["snom"]
    ringtone = await _ringtone(app, tenant, wav())
    created = await app.put(
        "/api/pbx/sipphone",
        json={"sipPhoneModel": case.model, "macAddress": case.mac, "ringer": {"tone": ringtone}},
        headers=tenant.headers,
    )
    assert created.status == 201, await created.text()
    refused = await app.delete(f"/api/ringtones/{ringtone}", headers=tenant.headers)
    assert refused.status == 409
    assert await refused.json() == {
        "code": 409,
        "message": "id",
        "description": "Ringtone is in use: 1 phone uses it as ringer.tone",
    }
    phone = await created.json()
    await app.post(
        f"/api/pbx/sipphone/{phone['_id']}", json={"ringer": None}, headers=tenant.headers
    )
    assert (await app.delete(f"/api/ringtones/{ringtone}", headers=tenant.headers)).status == 200


async def test_the_catalogue_says_which_formats_a_model_plays(app: Any, tenant: Tenant) -> None:
    for name, formats in (
        ("yealink-t54w", ["pcm16-8000", "ulaw-8000"]),
        ("snom-d785", ["pcm16-8000"]),
        ("polycom-vvx450", ["pcm16-16000", "ulaw-8000", "alaw-8000"]),
        ("grandstream-gxp2170", None),
    ):
        response = await app.get(f"/api/pbx/sipphonemodel/{name}", headers=tenant.viewer)
        assert (await response.json())["features"].get("customRingtones") == formats, name
