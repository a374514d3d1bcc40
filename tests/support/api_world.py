"""The phone API tests' data: tenants with tokens, models from the catalogue and test-only
models (for DECT slot rules the catalogue does not exercise), and one populated inventory
(two tenants, real catalogue models, test-only DECT models, pickup groups and queues)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import asyncpg

from tests.support import factories
from tests.support.database import bearer, insert_token


@dataclass(frozen=True)
class Tenant:
    customer_id: str
    viewer: dict[str, str]
    manager: dict[str, str]
    owner: dict[str, str]
    extension_ids: dict[str, str]  # number -> id


async def tenant(
    conn: asyncpg.Connection[Any], name: str, numbers: tuple[str, ...] = ("101", "102")
) -> Tenant:
    customer_id = await factories.customer(conn, name)
    extensions = {n: await factories.extension(conn, customer_id, n) for n in numbers}
    return Tenant(
        customer_id=customer_id,
        viewer=bearer(await insert_token(conn, "VIEWER", customer_id)),
        manager=bearer(await insert_token(conn, "MANAGER", customer_id)),
        owner=bearer(await insert_token(conn, "OWNER", customer_id)),
        extension_ids=extensions,
    )


async def test_model(conn: asyncpg.Connection[Any], name: str, **columns: Any) -> str:
    """A model row made for a test (name prefixed 'test-')."""
    values = {"vendor": "generic", "model": name, "kind": "desk", **columns}
    names = ["name", *values]
    params = ", ".join(f"${i + 1}" for i in range(len(names)))
    return str(
        await conn.fetchval(
            f"INSERT INTO sip_phone_models ({', '.join(names)}) VALUES ({params}) RETURNING id",
            f"test-{name}",
            *values.values(),
        )
    )


async def model(conn: asyncpg.Connection[Any], name: str) -> str:
    return await factories.model_id(conn, name)


_macs = itertools.count(1)


def fresh_mac() -> str:
    return f"0015650A{next(_macs):04X}"


@dataclass(frozen=True)
class World:
    a: Tenant
    b: Tenant
    admin: dict[str, str]
    models: dict[str, str]
    group_a: str  # 101 controller, 102 plain member
    queue_a: str
    group_b: str
    queue_b: str

    def body(self, **fields: Any) -> dict[str, Any]:
        """A valid create body for tenant A's desk phone, with overrides."""
        body: dict[str, Any] = {
            "sipPhoneModel": self.models["t54w"],
            "extension": self.a.extension_ids["101"],
            "macAddress": fresh_mac(),
        }
        body.update(fields)
        return body


async def build_world(conn: asyncpg.Connection[Any]) -> World:
    a = await tenant(conn, "Alpha")
    b = await tenant(conn, "Beta", numbers=("101", "201"))
    models = {
        "t54w": await model(conn, "yealink-t54w"),
        "gxp2140": await model(conn, "grandstream-gxp2140"),
        "vvx150": await model(conn, "polycom-vvx150"),
        "m900": await model(conn, "snom-m900"),
        "w60b": await model(conn, "yealink-w60b"),
        "dect2": await test_model(conn, "dect2", kind="dect", accounts=2, dect_max_handsets=2),
        "dect-1acct": await test_model(
            conn, "dect-1acct", kind="dect", accounts=1, dect_max_handsets=3
        ),
    }
    group_a = await conn.fetchval(
        "INSERT INTO pickup_groups (customer_id, name) VALUES ($1, 'Sales') RETURNING id",
        a.customer_id,
    )
    await conn.executemany(
        "INSERT INTO pickup_group_members (group_id, extension_id, controller) VALUES ($1, $2, $3)",
        [(group_a, a.extension_ids["101"], True), (group_a, a.extension_ids["102"], False)],
    )
    queue_a = await conn.fetchval(
        "INSERT INTO queues (customer_id, name) VALUES ($1, 'Support') RETURNING id", a.customer_id
    )
    group_b = await conn.fetchval(
        "INSERT INTO pickup_groups (customer_id, name) VALUES ($1, 'B') RETURNING id", b.customer_id
    )
    queue_b = await conn.fetchval(
        "INSERT INTO queues (customer_id, name) VALUES ($1, 'B') RETURNING id", b.customer_id
    )
    return World(
        a=a,
        b=b,
        admin=bearer(await insert_token(conn, "ADMIN")),
        models=models,
        group_a=group_a,
        queue_a=queue_a,
        group_b=group_b,
        queue_b=queue_b,
    )
