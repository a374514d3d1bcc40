"""Test data straight into the real database: customers, extensions, phones.

Tests use these to set up what the REST API would create, so that SIP, provisioning and
gate tests do not depend on the API's own code paths. The secret key matches the
`secret_box` fixture and the key `start_sipfleet` gives the subprocess.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

from provisioning.credentials import SecretBox, new_credentials

TEST_SECRET_KEY = bytes(range(32))
TEST_REALM = "sipfleet.test"


def test_box() -> SecretBox:
    return SecretBox(TEST_SECRET_KEY)


@dataclass(frozen=True)
class TestPhone:
    id: str
    customer_id: str
    extension_id: str | None
    username: str
    password: str
    mac_address: str | None


async def customer(
    conn: asyncpg.Connection[Any], name: str = "Acme", reseller_id: str | None = None
) -> str:
    return str(
        await conn.fetchval(
            "INSERT INTO customers (name, reseller_id) VALUES ($1, $2) RETURNING id",
            name,
            reseller_id,
        )
    )


async def reseller(conn: asyncpg.Connection[Any], name: str = "Resell") -> str:
    return str(await conn.fetchval("INSERT INTO resellers (name) VALUES ($1) RETURNING id", name))


async def extension(
    conn: asyncpg.Connection[Any], customer_id: str, number: str, name: str = ""
) -> str:
    return str(
        await conn.fetchval(
            "INSERT INTO extensions (customer_id, number, name) VALUES ($1, $2, $3) RETURNING id",
            customer_id,
            number,
            name or f"Ext {number}",
        )
    )


async def pickup_group(
    conn: asyncpg.Connection[Any], customer_id: str, name: str = "Sales", number: str = "*81"
) -> str:
    return str(
        await conn.fetchval(
            "INSERT INTO pickup_groups (customer_id, name, number) VALUES ($1, $2, $3) RETURNING id",
            customer_id,
            name,
            number,
        )
    )


async def queue(
    conn: asyncpg.Connection[Any], customer_id: str, name: str = "Support", number: str = "7001"
) -> str:
    return str(
        await conn.fetchval(
            "INSERT INTO queues (customer_id, name, number) VALUES ($1, $2, $3) RETURNING id",
            customer_id,
            name,
            number,
        )
    )


async def model_id(conn: asyncpg.Connection[Any], name: str | None = None) -> str:
    """A catalogue model by name; without a name, a generic desk phone made for tests."""
    if name is not None:
        found = await conn.fetchval("SELECT id FROM sip_phone_models WHERE name = $1", name)
        if found is None:
            raise LookupError(f"no model {name!r} in the catalogue")
        return str(found)
    found = await conn.fetchval("SELECT id FROM sip_phone_models WHERE name = 'test-desk'")
    if found is not None:
        return str(found)
    return str(
        await conn.fetchval(
            """INSERT INTO sip_phone_models (name, vendor, model, kind, line_keys, softkey_functions)
               VALUES ('test-desk', 'generic', 'Test Desk', 'desk', 10,
                       ARRAY['SPEEDDIAL','BLF','LINE','DND'])
               RETURNING id"""
        )
    )


async def phone(
    conn: asyncpg.Connection[Any],
    customer_id: str,
    *,
    extension_id: str | None = None,
    model: str | None = None,
    mac_address: str | None = None,
    ip_mode: str = "OPEN",
    ip_countries: str = "",
    ip_address: str | None = None,
    realm: str = TEST_REALM,
    box: SecretBox | None = None,
    **columns: Any,
) -> TestPhone:
    """A SIP phone with fresh 32-char credentials; returns them in clear for the test."""
    stored, password = new_credentials(box or test_box(), realm)
    names = [
        "customer_id",
        "extension_id",
        "model_id",
        "mac_address",
        "ip_mode",
        "ip_countries",
        "ip_address",
        "username",
        "password_enc",
        "ha1_md5",
        "ha1_sha256",
        *columns,
    ]
    values = [
        customer_id,
        extension_id,
        await model_id(conn, model),
        mac_address,
        ip_mode,
        ip_countries,
        ip_address,
        stored.username,
        stored.password_enc,
        stored.ha1_md5,
        stored.ha1_sha256,
        *columns.values(),
    ]
    placeholders = ", ".join(f"${i + 1}" for i in range(len(values)))
    phone_id = await conn.fetchval(
        f"INSERT INTO sip_phones ({', '.join(names)}) VALUES ({placeholders}) RETURNING id", *values
    )
    await conn.execute("INSERT INTO phone_status (phone_id) VALUES ($1)", phone_id)
    return TestPhone(
        id=str(phone_id),
        customer_id=customer_id,
        extension_id=extension_id,
        username=stored.username,
        password=password,
        mac_address=mac_address,
    )
