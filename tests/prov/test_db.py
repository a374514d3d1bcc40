"""The provisioning queries against the real database."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg

from db import provisioning as prov_db
from db import seen_phones
from db import templates as template_db
from tests.support import factories


async def test_phone_for_mac_resolves_key_targets_in_one_query(pool: asyncpg.Pool[Any]) -> None:
    async with pool.acquire() as conn:
        cust = await factories.customer(conn)
        other = await factories.customer(conn, "Other")
        own = await factories.extension(conn, cust, "101", "Alice")
        watched = await factories.extension(conn, cust, "102", "Bob")
        foreign = await factories.extension(conn, other, "103", "Mallory")
        group = await factories.pickup_group(conn, cust)
        queue = await factories.queue(conn, cust)
        keys = [
            {"index": 2, "function": "QUEUE", "value": queue, "label": "Q"},
            {"index": 0, "function": "BLF", "value": watched, "label": None},
            {"index": 1, "function": "PICKUPGROUP", "value": group, "label": "G"},
            {"index": 3, "function": "BLF", "value": foreign, "label": "x"},
            {"index": 4, "function": "SPEEDDIAL", "value": "112", "label": "SOS"},
        ]
        phone = await factories.phone(
            conn,
            cust,
            extension_id=own,
            model="yealink-t54w",
            mac_address="0015654AA937",
            softkeys=keys,
            side_panel="yealink-exp50",
            side_panel_count=2,
        )
        [record] = await prov_db.phones_for_mac(conn, "0015654AA937")
    assert record.id == phone.id
    assert record.vendor == "yealink" and record.model == "T54W"
    assert record.extension_number == "101"
    assert record.side_panel_model == "yealink-exp50" and record.side_panel_keys == 60
    assert [(k.index, k.function, k.target, k.target_name) for k in record.softkeys] == [
        (0, "BLF", "102", "Bob"),
        (1, "PICKUPGROUP", "*81", "Sales"),
        (2, "QUEUE", "7001", "Support"),
        (3, "BLF", None, None),  # another customer's extension never resolves
        (4, "SPEEDDIAL", "112", None),
    ]
    assert "password" not in repr(record)


async def test_record_fetches_and_sightings(pool: asyncpg.Pool[Any]) -> None:
    now = datetime.now(UTC)
    async with pool.acquire() as conn:
        cust = await factories.customer(conn)
        phone = await factories.phone(conn, cust, model="snom-d785", mac_address="000413922D24")
        fetch = prov_db.Fetch(
            phone_id=phone.id,
            customer_id=cust,
            mac_address="000413922D24",
            vendor="snom",
            model="D785",
            address="127.0.0.1",
            user_agent="snom",
            file="000413922D24.xml",
            time=now,
        )
        async with conn.transaction():
            await prov_db.record_fetches(conn, [fetch, fetch])
        loaded = await conn.fetchval("SELECT config_loaded FROM sip_phones WHERE id = $1", phone.id)
        assert loaded == now
        events = await conn.fetch("SELECT type, details FROM events ORDER BY id")
        assert [e["type"] for e in events] == ["phone.config_fetched"] * 2
        assert events[0]["details"]["file"] == "000413922D24.xml"
        first, rejected = await seen_phones.record_sighting(
            conn,
            seen_phones.Sighting(
                mac_address="AABBCCDDEEFF",
                vendor=None,
                model=None,
                address="10.0.0.1",
                user_agent=None,
                file="x.cfg",
                time=now,
            ),
        )
        assert first and not rejected
        items = await seen_phones.list_seen(conn, None)
        assert [(i.mac_address, i.fetch_count, i.phone_id) for i in items] == [
            ("000413922D24", 2, phone.id),
            ("AABBCCDDEEFF", 1, None),
        ]
        assert [i.mac_address for i in await seen_phones.list_seen(conn, [cust])] == [
            "000413922D24"
        ]
        await seen_phones.set_rejected(conn, "AABBCCDDEEFF", True)
        assert await seen_phones.is_rejected(conn, "AABBCCDDEEFF")
        assert len(await prov_db.catalogue(conn)) > 30


async def test_templates_crud(pool: asyncpg.Pool[Any]) -> None:
    async with pool.acquire() as conn:
        made = await template_db.insert_template(conn, "a.cfg", "x")
        assert made is not None
        assert await template_db.insert_template(conn, "a.cfg", "y") is None
        updated = await template_db.update_template(conn, "a.cfg", "z")
        assert updated is not None and updated.content == "z"
        assert [t.filename for t in await template_db.list_templates(conn)] == ["a.cfg"]
        assert await template_db.delete_template(conn, "a.cfg")
        assert not await template_db.delete_template(conn, "a.cfg")


async def test_config_loaded_alone_is_not_announced_to_the_sip_directory(
    pool: asyncpg.Pool[Any], database_url: str
) -> None:
    import asyncio

    heard: list[str] = []

    def on_notify(*args: Any) -> None:
        heard.append(args[-1])

    listener = await asyncpg.connect(database_url)
    try:
        await listener.add_listener("sipfleet_phones", on_notify)
        async with pool.acquire() as conn:
            cust = await factories.customer(conn)
            phone = await factories.phone(conn, cust, model="snom-d785", mac_address="000413922D24")
            await asyncio.sleep(0.2)
            heard.clear()  # the insert was announced
            await conn.execute(
                "UPDATE sip_phones SET config_loaded = now() WHERE id = $1", phone.id
            )
            await conn.execute("UPDATE sip_phones SET notes = 'x' WHERE id = $1", phone.id)
        for _ in range(50):
            if heard:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)
        await listener.remove_listener("sipfleet_phones", on_notify)
    finally:
        await listener.close()
    assert heard == [phone.id]  # the notes change only
