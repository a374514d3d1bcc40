"""One populated inventory for the phone API tests: two tenants, real catalogue models,
test-only DECT models, pickup groups and queues."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import asyncpg

from tests.api.helpers import Tenant, model, tenant, test_model
from tests.conftest import bearer, insert_token

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
