"""A fully loaded phone per catalogue model, written straight into the database."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

from tests import factories

STATIC_NETWORK = {
    "dhcp": False,
    "ipAddress": "192.0.2.10",
    "subnet": "255.255.255.0",
    "gateway": "192.0.2.1",
    "dns1": "192.0.2.53",
    "dns2": "198.51.100.53",
    "vlanId": 42,
    "vlanPriority": 5,
}


def key_value(function: str, ids: dict[str, str]) -> str:
    return {
        "SPEEDDIAL": "004512345678",
        "BLF": ids["watched"],
        "URL": "https://intranet.example/menu.xml",
        "PICKUPGROUP": ids["group"],
        "QUEUE": ids["queue"],
        "SWITCH": "nightmode",
        "DNDOTHER": ids["other_phone"],
    }.get(function, "")


# What each soft key's target renders as, once resolved by the loader.
RESOLVED = {
    "SPEEDDIAL": "004512345678",
    "BLF": "102",
    "URL": "https://intranet.example/menu.xml",
    "PICKUPGROUP": "*81",
    "QUEUE": "7001",
    "SWITCH": "nightmode",
}


@dataclass(frozen=True)
class LoadedPhone:
    phone: factories.TestPhone
    model: asyncpg.Record
    functions: tuple[str, ...]
    panel_key_index: int | None  # the soft-key index that lands on side panel key 1


async def loaded_phone(
    conn: asyncpg.Connection[Any], model_name: str, mac: str, **columns: Any
) -> LoadedPhone:
    model = await conn.fetchrow("SELECT * FROM sip_phone_models WHERE name = $1", model_name)
    assert model is not None, model_name
    cust = await factories.customer(conn, f"Cust {mac}")
    own = await factories.extension(conn, cust, "101", "Alice Example")
    watched = await factories.extension(conn, cust, "102", "Bob Example")
    group = await conn.fetchval(
        "INSERT INTO pickup_groups (customer_id, name, number) VALUES ($1, 'Sales', '*81') RETURNING id",
        cust,
    )
    queue = await conn.fetchval(
        "INSERT INTO queues (customer_id, name, number) VALUES ($1, 'Support', '7001') RETURNING id",
        cust,
    )
    ids = {"watched": watched, "group": group, "queue": queue, "other_phone": ""}
    functions = tuple(model["softkey_functions"])
    line_keys = model["line_keys"]
    keys = [
        {"index": i, "function": f, "value": key_value(f, ids), "label": f"K{i} {f.title()}"}
        for i, f in enumerate(functions[:line_keys])
    ]
    extra = {}
    panel_key_index = None
    if model["side_panel_model"]:
        panel_key_index = line_keys
        keys.append({"index": line_keys, "function": "BLF", "value": watched, "label": "Panel Bob"})
        extra = {"side_panel": model["side_panel_model"], "side_panel_count": 1}
    phone = await factories.phone(
        conn,
        cust,
        extension_id=own,
        model=model_name,
        mac_address=mac,
        softkeys=keys,
        network=STATIC_NETWORK,
        codec={"hdAudio": True, "video": False},
        custom_config=columns.pop("custom_config", None),
        device={"timezone": "Europe/Copenhagen", "language": "GERMAN"},
        **extra,
        **columns,
    )
    return LoadedPhone(
        phone=phone,
        model=model,
        functions=tuple(k["function"] for k in keys[: len(functions[:line_keys])]),
        panel_key_index=panel_key_index,
    )
