"""`POST /api/tokens`: who may create which token, for whom; the secret is returned once
and never logged; the new token works at once."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support import factories
from tests.support.database import bearer, insert_token


@dataclass
class Org:
    """Two resellers' worth of tenants and a token of every level."""

    a: str  # customer of reseller R
    b: str  # another customer of reseller R
    c: str  # a customer of nobody's reseller
    reseller: str
    other_reseller: str
    tokens: dict[str, str]


@pytest.fixture
async def org(pool: Any) -> Org:
    async with pool.acquire() as conn:
        reseller = await factories.reseller(conn, "R")
        other = await factories.reseller(conn, "S")
        a = await factories.customer(conn, "Alpha", reseller)
        b = await factories.customer(conn, "Bravo", reseller)
        c = await factories.customer(conn, "Charlie")
        tokens = {
            level: await insert_token(conn, level, customer_id=a)
            for level in ("VIEWER", "MANAGER", "OWNER")
        }
        tokens["RESELLER"] = await insert_token(conn, "RESELLER", reseller_id=reseller)
        tokens["ADMIN"] = await insert_token(conn, "ADMIN")
    return Org(a=a, b=b, c=c, reseller=reseller, other_reseller=other, tokens=tokens)


async def _create(api: Any, caller: str, body: dict[str, Any]) -> tuple[int, Any]:
    response = await api.post("/api/tokens", json=body, headers=bearer(caller))
    return response.status, await response.json()


async def _count(pool: Any) -> int:
    async with pool.acquire() as conn:
        return int(await conn.fetchval("SELECT count(*) FROM api_tokens"))


async def test_admin_creates_every_level_and_the_secret_is_returned_once(
    api: Any, pool: Any, org: Org, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    admin = org.tokens["ADMIN"]
    for body in (
        {"level": "VIEWER", "customer": org.c, "name": "wallboard"},
        {"level": "OWNER", "customer": org.a.upper()},
        {"level": "RESELLER", "reseller": org.other_reseller},
        {"level": "ADMIN", "name": "second admin"},
    ):
        status, created = await _create(api, admin, body)
        assert status == 201, created
        secret = created["token"]
        assert secret.startswith("sft_") and created["level"] == body["level"]
        assert created.get("customer") == (body["customer"].lower() if "customer" in body else None)
        assert created.get("reseller") == body.get("reseller")
        # the new token works at once; reading it back never shows the secret
        me = await api.get(f"/api/tokens/{created['_id']}", headers=bearer(admin))
        assert "token" not in await me.json()
        listed = await api.get("/api/tokens", headers=bearer(admin))
        assert secret not in await listed.text()
        assert secret not in caplog.text
        customers = await api.get("/api/customers", headers=bearer(secret))
        assert customers.status == 200


async def test_owner_creates_tokens_for_its_own_customer_up_to_its_level(
    api: Any, org: Org
) -> None:
    owner = org.tokens["OWNER"]
    for level in ("VIEWER", "MANAGER", "OWNER"):
        status, created = await _create(api, owner, {"level": level})
        assert status == 201, created
        assert created["customer"] == org.a  # implied: its only customer
        status, _ = await _create(api, owner, {"level": level, "customer": org.a})
        assert status == 201
    viewer = created["token"]
    response = await api.get("/api/customers", headers=bearer(viewer))
    assert [c["_id"] for c in (await response.json())["items"]] == [org.a]


@pytest.mark.parametrize("caller", ["VIEWER", "MANAGER"])
async def test_levels_below_owner_may_not_create_tokens(
    api: Any, pool: Any, org: Org, caller: str
) -> None:
    before = await _count(pool)
    for level in ("VIEWER", caller):
        status, body = await _create(api, org.tokens[caller], {"level": level, "customer": org.a})
        assert (status, body["message"]) == (403, "access_denied")
    assert await _count(pool) == before


@pytest.mark.parametrize(
    ("caller", "body", "expected"),
    [
        # above its own level
        ("OWNER", {"level": "RESELLER", "reseller": "R"}, (403, "access_denied")),
        ("OWNER", {"level": "ADMIN"}, (403, "access_denied")),
        ("RESELLER", {"level": "ADMIN"}, (403, "access_denied")),
        # another tenant, existing or not: the same 404
        ("OWNER", {"level": "VIEWER", "customer": "B"}, (404, "customer")),
        ("OWNER", {"level": "OWNER", "customer": "C"}, (404, "customer")),
        ("OWNER", {"level": "VIEWER", "customer": "f" * 24}, (404, "customer")),
        ("RESELLER", {"level": "OWNER", "customer": "C"}, (404, "customer")),
        ("RESELLER", {"level": "RESELLER", "reseller": "S"}, (404, "reseller")),
        # fields that do not apply, or are missing
        ("RESELLER", {"level": "VIEWER"}, (422, "customer")),
        ("ADMIN", {"level": "VIEWER"}, (422, "customer")),
        ("ADMIN", {"level": "RESELLER"}, (422, "reseller")),
        ("ADMIN", {"level": "ADMIN", "customer": "A"}, (422, "customer")),
        ("ADMIN", {"level": "OWNER", "customer": "A", "reseller": "R"}, (422, "reseller")),
        ("ADMIN", {"level": "RESELLER", "reseller": "f" * 24}, (404, "reseller")),
        ("ADMIN", {"level": "KING"}, (422, "level")),
        ("ADMIN", {"level": "VIEWER", "customer": "A", "name": "x" * 201}, (422, "name")),
        ("ADMIN", {"level": "VIEWER", "customer": "A", "secret": "x"}, (422, "secret")),
    ],
)
async def test_tenant_rules_refuse_and_create_nothing(
    api: Any, pool: Any, org: Org, caller: str, body: dict[str, Any], expected: tuple[int, str]
) -> None:
    names = {"A": org.a, "B": org.b, "C": org.c, "R": org.reseller, "S": org.other_reseller}
    body = {key: names.get(value, value) for key, value in body.items()}
    before = await _count(pool)
    status, answer = await _create(api, org.tokens[caller], body)
    assert (status, answer["message"]) == expected, answer
    assert "token" not in answer
    assert await _count(pool) == before


async def test_reseller_creates_for_its_customers_and_itself(api: Any, org: Org) -> None:
    reseller = org.tokens["RESELLER"]
    for customer in (org.a, org.b):
        status, created = await _create(api, reseller, {"level": "OWNER", "customer": customer})
        assert status == 201 and created["customer"] == customer
    status, created = await _create(api, reseller, {"level": "RESELLER"})
    assert status == 201 and created["reseller"] == org.reseller
