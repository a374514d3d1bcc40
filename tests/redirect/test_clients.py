"""Each vendor client against its fake service over real HTTP on loopback: registering,
moving to a new URL, removing, and the documented refusals (a MAC held by another account,
refused credentials, an outage) — permanent ones failing at once, an outage retryable."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from provisioning.config import Settings
from provisioning.redirect import registry
from provisioning.redirect.fanvil import FanvilClient
from provisioning.redirect.grandstream import GdmsClient
from provisioning.redirect.model import RedirectError, Send, Target
from provisioning.redirect.poly import PolyClient
from provisioning.redirect.snom import SnomClient
from provisioning.redirect.transport import aiohttp_sender
from provisioning.redirect.yealink import YealinkClient
from tests.support.redirect import POLY_PROFILE, Vendors, vendor_settings

URL = "https://prov.example.test/prov/"
URL2 = "https://prov.example.test/prov/s3cr3t/"
MAC = "805EC0123456"


@pytest.fixture
async def send() -> AsyncIterator[Send]:
    async with aiohttp.ClientSession() as session:
        yield aiohttp_sender(session)


@pytest.fixture
def clients(tmp_path: Path, vendors: Vendors) -> dict[str, Any]:
    """Clients of accounts on the fakes (no database needed)."""
    return dict(registry.clients(vendor_settings(Settings(data_dir=str(tmp_path)), vendors)))


async def test_every_service_is_configured_from_the_settings(clients: dict[str, Any]) -> None:
    assert sorted(clients) == ["fanvil", "gigaset", "grandstream", "polycom", "snom", "yealink"]


async def test_yealink_adds_edits_and_deletes(
    clients: dict[str, Any], vendors: Vendors, send: Send
) -> None:
    rps = clients["yealink"]
    await rps.register(send, Target(mac=MAC, url=URL))
    assert vendors.yealink.entries == {MAC: URL}
    await rps.register(send, Target(mac=MAC, url=URL2, http_user=MAC, http_password="p" * 32))
    assert vendors.yealink.entries == {MAC: URL2}
    assert vendors.yealink.calls == ["add", "add", "list", "edit"]
    await rps.unregister(send, Target(mac=MAC))
    assert vendors.yealink.entries == {}
    await rps.unregister(send, Target(mac=MAC))  # nothing held: not an error
    assert vendors.yealink.calls[4:] == ["list", "delete", "list"]


async def test_yealink_sends_the_phone_credentials_as_auth_name_and_password(
    clients: dict[str, Any], vendors: Vendors, send: Send, aiohttp_server: Any
) -> None:
    await clients["yealink"].register(
        send, Target(mac=MAC, url=URL, http_user=MAC, http_password="q" * 32)
    )
    assert vendors.yealink.entries == {MAC: URL}


async def test_yealink_refusals(clients: dict[str, Any], vendors: Vendors, send: Send) -> None:
    vendors.yealink.foreign.add(MAC.lower())
    with pytest.raises(RedirectError) as foreign:
        await clients["yealink"].register(send, Target(mac=MAC, url=URL))
    assert foreign.value.permanent and "another RPS account" in foreign.value.reason
    wrong = dataclasses.replace(clients["yealink"], access_secret="not-the-secret")
    with pytest.raises(RedirectError) as refused:
        await wrong.register(send, Target(mac="805EC0000001", url=URL))
    assert refused.value.permanent and "signature" in refused.value.reason
    replay = dataclasses.replace(clients["yealink"], nonce=lambda: "same-nonce")
    await replay.register(send, Target(mac="805EC0000002", url=URL))
    with pytest.raises(RedirectError) as replayed:
        await replay.register(send, Target(mac="805EC0000003", url=URL))
    assert "nonce" in replayed.value.reason


async def test_snom_registers_moves_and_removes(
    clients: dict[str, Any], vendors: Vendors, send: Send
) -> None:
    sraps = clients["snom"]
    await sraps.register(send, Target(mac="000413AABBCC", url=URL))
    await sraps.register(send, Target(mac="000413AABBCC", url=URL2))
    assert vendors.snom.entries == {"000413AABBCC": URL2}
    await sraps.unregister(send, Target(mac="000413AABBCC"))
    assert vendors.snom.entries == {}
    assert vendors.snom.calls == [
        "redirect.registerPhone",
        "redirect.registerPhone",
        "redirect.deregisterPhone",
    ]


async def test_snom_puts_the_phone_credentials_in_the_setting_server_url(
    clients: dict[str, Any], vendors: Vendors, send: Send
) -> None:
    target = Target(mac="000413AABBCC", url=URL, http_user="000413AABBCC", http_password="x/y")
    await clients["snom"].register(send, target)
    assert vendors.snom.entries["000413AABBCC"] == (
        "https://000413AABBCC:x%2Fy@prov.example.test/prov/"
    )


async def test_snom_refusals(clients: dict[str, Any], vendors: Vendors, send: Send) -> None:
    vendors.snom.foreign.add("000413AABBCC")
    with pytest.raises(RedirectError) as foreign:
        await clients["snom"].register(send, Target(mac="000413AABBCC", url=URL))
    assert foreign.value.permanent and "another SRAPS account" in foreign.value.reason
    with pytest.raises(RedirectError) as bad_url:
        await clients["snom"].register(send, Target(mac="000413AABBCD", url="ftp:nowhere"))
    assert bad_url.value.permanent and "malformed" in bad_url.value.reason
    wrong = dataclasses.replace(clients["snom"], password="wrong")
    with pytest.raises(RedirectError) as refused:
        await wrong.register(send, Target(mac="000413AABBCD", url=URL))
    assert refused.value.permanent and "HTTP 401" in refused.value.reason
    slashless = dataclasses.replace(clients["snom"], endpoint=clients["snom"].endpoint[:-1])
    with pytest.raises(RedirectError):
        await slashless.register(send, Target(mac="000413AABBCD", url=URL))


async def test_gigaset_deregisters_before_registering(
    clients: dict[str, Any], vendors: Vendors, send: Send
) -> None:
    gigaset = clients["gigaset"]
    await gigaset.register(send, Target(mac="7C2F80112233", url=URL, serial="7c2f80112233-ab12"))
    await gigaset.register(send, Target(mac="7C2F80112233", url=URL2, serial="AB12"))
    entry = vendors.gigaset.entries["7C2F80112233"]
    assert entry == {"url": URL2, "provider": "sipfleet", "mac_id": "7C2F80112233-AB12"}
    assert vendors.gigaset.calls == [
        "autoprov.deregisterDevice",
        "autoprov.registerDevice",
        "autoprov.deregisterDevice",
        "autoprov.registerDevice",
    ]
    await gigaset.register(send, Target(mac="7C2F80112244", url=URL, serial="not-a-code"))
    assert vendors.gigaset.entries["7C2F80112244"]["mac_id"] == "7C2F80112244"
    await gigaset.unregister(send, Target(mac="7C2F80112233", serial="AB12"))
    await gigaset.unregister(send, Target(mac="7C2F80112233", serial="AB12"))
    assert "7C2F80112233" not in vendors.gigaset.entries


async def test_gigaset_refusals(clients: dict[str, Any], vendors: Vendors, send: Send) -> None:
    vendors.gigaset.foreign.add("7C2F80112233")
    with pytest.raises(RedirectError) as foreign:
        await clients["gigaset"].register(send, Target(mac="7C2F80112233", url=URL))
    assert foreign.value.permanent and "another Gigaset provisioner" in foreign.value.reason


async def test_fanvil_gives_each_mac_its_own_server(
    clients: dict[str, Any], vendors: Vendors, send: Send
) -> None:
    fdps = clients["fanvil"]
    await fdps.register(send, Target(mac="0C383E112233", url="http://prov.example.test:8080/prov/"))
    assert vendors.fanvil.entries == {"0C383E112233": "http://prov.example.test:8080/prov/"}
    await fdps.register(send, Target(mac="0C383E112233", url=URL2))
    assert vendors.fanvil.entries == {"0C383E112233": URL2}
    assert vendors.fanvil.calls[:4] == [
        "redirect.deleteServer",
        "redirect.addMaterialServer",
        "redirect.deRegisterDevice",
        "redirect.registerDevice",
    ]
    await fdps.unregister(send, Target(mac="0C383E112233"))
    assert vendors.fanvil.entries == {}


async def test_fanvil_refusals(clients: dict[str, Any], vendors: Vendors, send: Send) -> None:
    vendors.fanvil.foreign.add("0C383E112233")
    with pytest.raises(RedirectError) as foreign:
        await clients["fanvil"].register(send, Target(mac="0C383E112233", url=URL))
    assert foreign.value.permanent and "another FDPS account" in foreign.value.reason
    wrong = dataclasses.replace(clients["fanvil"], password="wrong")
    with pytest.raises(RedirectError) as refused:
        await wrong.register(send, Target(mac="0C383E112299", url=URL))
    assert refused.value.permanent and "401" in refused.value.reason


async def test_gdms_logs_in_once_and_adds_with_the_serial(
    clients: dict[str, Any], vendors: Vendors, send: Send
) -> None:
    gdms = clients["grandstream"]
    await gdms.register(send, Target(mac="C074AD112233", url=URL, serial="2BX0123"))
    await gdms.register(send, Target(mac="C074AD112244", url=URL, serial="2BX0124"))
    await gdms.register(send, Target(mac="C074AD112244", url=URL, serial="2BX0124"))  # exists
    assert vendors.gdms.entries == {"C074AD112233": "2BX0123", "C074AD112244": "2BX0124"}
    assert vendors.gdms.calls.count("token") == 1
    await gdms.unregister(send, Target(mac="C074AD112233"))
    await gdms.unregister(send, Target(mac="C074AD112233"))
    assert "C074AD112233" not in vendors.gdms.entries


async def test_gdms_logs_in_again_when_its_token_expired(
    clients: dict[str, Any], vendors: Vendors, send: Send, aiohttp_server: Any
) -> None:
    gdms = clients["grandstream"]
    await gdms.register(send, Target(mac="C074AD112233", url=URL, serial="2BX0123"))
    gdms._cache.token = "tok-expired"  # GDMS dropped it
    await gdms.register(send, Target(mac="C074AD112255", url=URL, serial="2BX0125"))
    assert vendors.gdms.calls.count("token") == 2


async def test_gdms_refusals(clients: dict[str, Any], vendors: Vendors, send: Send) -> None:
    gdms = clients["grandstream"]
    with pytest.raises(RedirectError) as no_serial:
        await gdms.register(send, Target(mac="C074AD112233", url=URL))
    assert no_serial.value.permanent and "serial" in no_serial.value.reason
    vendors.gdms.foreign.add("C074AD112266")
    with pytest.raises(RedirectError) as foreign:
        await gdms.register(send, Target(mac="C074AD112266", url=URL, serial="X"))
    assert foreign.value.permanent and "other user" in foreign.value.reason
    wrong = dataclasses.replace(gdms, password="wrong")
    with pytest.raises(RedirectError) as refused:
        await wrong.register(send, Target(mac="C074AD112277", url=URL, serial="X"))
    assert refused.value.permanent and "Bad credentials" in refused.value.reason


async def test_poly_adds_to_the_profile_moves_and_deletes(send: Send, aiohttp_server: Any) -> None:
    from tests.support import redirect_fakes as fakes

    state = fakes.FakeState()
    server = await aiohttp_server(
        fakes.poly_app(state, "K", profiles={POLY_PROFILE, "other"}), host="127.0.0.1"
    )
    ztp = PolyClient(api_key="K", profile=POLY_PROFILE, base_url=f"{server.make_url('/preview')}")
    await ztp.register(send, Target(mac="0004F2112233"))
    await ztp.register(send, Target(mac="0004F2112233"))  # 409, already in our profile
    assert state.entries == {"0004F2112233": POLY_PROFILE}
    moved = dataclasses.replace(ztp, profile="other")
    await moved.register(send, Target(mac="0004F2112233"))
    assert state.entries == {"0004F2112233": "other"}
    await ztp.unregister(send, Target(mac="0004F2112233"))
    await ztp.unregister(send, Target(mac="0004F2112233"))
    assert state.entries == {}
    state.foreign.add("0004F2112244")
    with pytest.raises(RedirectError) as foreign:
        await ztp.register(send, Target(mac="0004F2112244"))
    assert foreign.value.permanent and "another Poly ZTP account" in foreign.value.reason
    with pytest.raises(RedirectError) as refused:
        await dataclasses.replace(ztp, api_key="wrong").register(send, Target(mac="0004F2112255"))
    assert refused.value.permanent


@pytest.mark.parametrize("vendor", ["yealink", "snom", "gigaset", "fanvil", "grandstream"])
async def test_an_outage_is_retryable(
    clients: dict[str, Any], vendors: Vendors, send: Send, vendor: str
) -> None:
    state = getattr(vendors, "gdms" if vendor == "grandstream" else vendor)
    state.outage = 10
    with pytest.raises(RedirectError) as down:
        await clients[vendor].register(send, Target(mac=MAC, url=URL, serial="S1"))
    assert not down.value.permanent and "503" in down.value.reason


def test_clients_never_show_their_secrets() -> None:
    for client in (
        YealinkClient(access_key="k", access_secret="SECRET-A"),
        SnomClient(user="u", password="SECRET-B"),
        FanvilClient(user="u", password="SECRET-C"),
        GdmsClient(
            client_id="i", client_secret="SECRET-D", username="u", password="SECRET-E", site_id="1"
        ),
        PolyClient(api_key="SECRET-F", profile="p"),
    ):
        assert "SECRET" not in repr(client)
        secrets = client.secrets()
        assert all(secrets) and any(secret.startswith("SECRET") for secret in secrets)
