"""A fully loaded phone per catalogue model, written straight into the database."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

from tests.support import factories

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
    group = await factories.pickup_group(conn, cust)
    queue = await factories.queue(conn, cust)
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


# Per vendor: a phone model, its MAC, the file it fetches and how its keys look in it.
@dataclass(frozen=True)
class Case:
    model: str
    mac: str
    file: str
    user_agent: str
    xml: bool
    key_pattern: str  # one match per key on the phone itself


CASES = [
    Case(
        "yealink-t54w",
        "0015654AA937",
        "0015654aa937.cfg",
        "Yealink SIP-T54W 96.86.0.100 00:15:65:4a:a9:37",
        False,
        r"(?m)^linekey\.\d+\.type = ",
    ),
    Case(
        "snom-d785",
        "000413922D24",
        "000413922D24.xml",
        "Mozilla/4.0 (compatible; snomD785-SIP 10.1.33.33 1.1.3-s 000413922D24 UPDATE)",
        True,
        r'<fkey idx="\d+" context="1" label="K',
    ),
    Case(
        "grandstream-gxp2170",
        "000B82123456",
        "cfg000b82123456.xml",
        "Grandstream Model HW GXP2170 V1.2A SW 1.0.11.3 DevId 000b82123456",
        True,
        # virtual multi-purpose key N: mode P(1363+2(N-1)) for N = 1..6, P(23800+4(N-7)) on
        "|".join(
            [f"<P{1363 + 2 * n}>" for n in range(6)] + [f"<P{23800 + 4 * n}>" for n in range(42)]
        ),
    ),
    Case(
        "polycom-vvx450",
        "0004F2123456",
        "0004f2123456-user.cfg",
        "FileTransport PolycomVVX-VVX_450-UA/6.3.0.14929",
        True,
        r'lineKey\.(?:[1-9]|1[0-2])\.category="',
    ),  # VVX 450: 12 keys, then the panel's
    Case(
        "cisco-spa504g",
        "0018B9FFFF00",
        "spa0018b9ffff00.xml",
        "Cisco/SPA504G-7.5.5 (0018B9FFFF00)(CCQ1234567)",
        True,
        r"<Extension_\d+_ ",
    ),
    Case(
        "mitel-6867i",
        "00085D123456",
        "00085D123456.cfg",
        "Mitel6867i MAC:00-08-5D-12-34-56 V:5.1.0.2051-SIP",
        False,
        r"(?m)^topsoftkey\d+ type: ",
    ),
    Case(
        "fanvil-x5u",
        "0C383E123456",
        "0c383e123456.cfg",
        "Fanvil X5U 2.12.1 0c383e123456",
        True,
        r"<Fkey index=\"\d+\"><Type>\d+</Type><Value>[^<]*</Value><Title>K",
    ),
]
