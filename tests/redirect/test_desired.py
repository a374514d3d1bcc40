"""The pure parts: who wants a registration and with which URL, what changes when a record
changes, the backoff, and that what is shown never carries a credential."""

from __future__ import annotations

import dataclasses

import pytest

from provisioning.redirect import desired
from provisioning.redirect.desired import Current, Facts, Plan, Wanted
from provisioning.redirect.fanvil import server_config
from provisioning.redirect.gigaset import mac_id
from provisioning.redirect.model import RedirectError, Target, scrub
from provisioning.redirect.runner import backoff
from provisioning.redirect.yealink import sign, string_to_sign

BASE = "http://prov.example.test:8080/prov/"
ALL = frozenset({"yealink", "snom", "gigaset", "fanvil", "grandstream", "polycom"})
PHONE = Facts(
    kind="phone",
    subject_id="p1",
    customer_id="c1",
    vendor="yealink",
    model_kind="desk",
    mac="805EC0123456",
    rps=True,
    https=False,
)


def test_provisioning_url_carries_the_customer_secret_and_https() -> None:
    assert desired.provisioning_url(BASE, None, False) == BASE
    assert desired.provisioning_url(BASE, "s3", False) == BASE + "s3/"
    assert desired.provisioning_url(BASE, "s3", True) == "https://prov.example.test:8080/prov/s3/"
    assert desired.provisioning_url("https://p/prov/", None, True) == "https://p/prov/"


@pytest.mark.parametrize(
    ("change", "configured", "state"),
    [
        ({}, ALL, desired.PENDING),
        ({}, frozenset(), desired.NOT_CONFIGURED),
        ({"rps": False}, ALL, None),
        ({"vendor": "snom", "rps": False}, ALL, desired.PENDING),  # Snom always asks
        ({"vendor": "snom", "rps": False}, frozenset(), None),
        ({"vendor": "mitel"}, ALL, desired.MANUAL),
        ({"vendor": "mitel", "rps": False}, ALL, None),
        ({"vendor": "cisco"}, ALL, desired.UNSUPPORTED),
        ({"mac": None}, ALL, None),
        ({"handset": True}, ALL, None),
        ({"model_kind": "dect"}, ALL, None),  # a handset record without a base
        ({"model_kind": "softphone"}, ALL, None),
        ({"kind": "dect", "model_kind": "dect", "vendor": "gigaset"}, ALL, desired.PENDING),
    ],
)
def test_who_wants_what(change: dict[str, object], configured: frozenset[str], state: str) -> None:
    want = desired.wanted(dataclasses.replace(PHONE, **change), configured, BASE)  # type: ignore[arg-type]
    assert (want.state if want else None) == state


def test_reasons_name_what_is_missing() -> None:
    want = desired.wanted(PHONE, frozenset(), BASE)
    assert want is not None and want.reason == (
        "no Yealink RPS account configured "
        "(redirect_yealink_access_key, redirect_yealink_access_secret)"
    )
    mitel = desired.wanted(dataclasses.replace(PHONE, vendor="mitel"), ALL, BASE)
    assert mitel is not None and "80-5E-C0-12-34-56" in mitel.reason and BASE in mitel.reason


def _want(**change: object) -> Wanted:
    base = Wanted(
        vendor="yealink", mac="805EC0123456", url=BASE, serial=None, state=desired.PENDING
    )
    return dataclasses.replace(base, **change)  # type: ignore[arg-type]


def _current(**change: object) -> Current:
    base = Current(
        vendor="yealink", mac="805EC0123456", url=BASE, serial=None, state=desired.REGISTERED
    )
    return dataclasses.replace(base, **change)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("current", "want", "plan"),
    [
        (None, None, Plan()),
        (None, _want(), Plan(write=_want())),
        (_current(), None, Plan(release=True)),  # rps off, deleted
        (_current(), _want(), Plan()),  # nothing changed
        (_current(state=desired.FAILED), _want(), Plan()),  # waits for a retry by hand
        (_current(mac="805EC0654321"), _want(), Plan(release=True, write=_want())),  # new MAC
        (_current(), _want(url=BASE + "s/"), Plan(write=_want(url=BASE + "s/"))),  # https
        (_current(), _want(serial="SN"), Plan(write=_want(serial="SN"))),
        (_current(state=desired.NOT_CONFIGURED), _want(), Plan(write=_want())),  # account added
        (
            _current(),
            _want(state=desired.NOT_CONFIGURED, reason="r"),
            Plan(write=_want(state=desired.NOT_CONFIGURED, reason="r")),
        ),
    ],
)
def test_plans(current: Current | None, want: Wanted | None, plan: Plan) -> None:
    assert desired.plan(current, want) == plan


def test_backoff_doubles_up_to_an_hour() -> None:
    assert [backoff(n, 30) for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert backoff(20, 30) == 3600


def test_scrub_removes_every_secret_even_inside_others() -> None:
    text = "refused key SECRET and SECRETLONG for mac"
    assert scrub(text, ("SECRET", "SECRETLONG", "")) == "refused key *** and *** for mac"


def test_yealink_signature_follows_the_documented_string_to_sign() -> None:
    headers = {"X-Ca-Timestamp": "1", "X-Ca-Key": "k", "X-Ca-Nonce": "n", "Content-MD5": "m"}
    text = string_to_sign("post", headers, "/api/open/v1/device/add")
    assert text == (
        "POST\nContent-MD5:m\nX-Ca-Key:k\nX-Ca-Nonce:n\nX-Ca-Timestamp:1\napi/open/v1/device/add"
    )
    assert string_to_sign("GET", {}, "/a", {"b": "2", "a": ""}) == "GET\na\na&b=2"
    assert sign("secret", "text") == "L0Q2hVkpAOYZ8vOyNQw8ilc44ueia8miRNM5PDzWq9Y="


def test_gigaset_mac_id_and_fanvil_server_config() -> None:
    assert mac_id(Target(mac="7C2F80112233", serial="ab12")) == "7C2F80112233-AB12"
    assert mac_id(Target(mac="7C2F80112233", serial="7C2F80999999-AB12")) == "7C2F80112233"
    assert server_config("0C383E112233", "https://h:8443/prov/s/") == [
        "cfgName=0C383E112233",
        "cfgPfMode=1",
        "cfgDhcpOpt=false",
        "cfgPnpEnable=false",
        "cfgPfSrv=h:8443",
        "cfgPfName=prov/s/",
        "cfgPfProt=5",
    ]
    with pytest.raises(RedirectError):
        server_config("0C383E112233", "sftp://h/prov/")
