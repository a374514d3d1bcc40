"""`IpGate` on the real database: locks, the race of two first contacts, events, throttling,
ROAMING with a real GeoIP file, the identity check, and no database round trip on allow."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from db.pool import create_pool
from provisioning.app.context import ServiceContext
from provisioning.config import Settings
from provisioning.gate.geoip import GeoDatabase
from provisioning.gate.service import IpGate, subject_from_policy
from provisioning.hub import ServiceHub
from sipcore.gateport import GateSubject
from tests.support.geodb import write_geo_db
from tests.support.phones import ip_state, new_phone


class Clock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


async def subject(pool: asyncpg.Pool[Any], phone_id: str) -> GateSubject:
    gate = IpGate(pool=pool, geo=GeoDatabase(None))
    found = await gate.load_subject(phone_id)
    assert found is not None
    return found


async def events(pool: asyncpg.Pool[Any], kind: str | None = None) -> list[asyncpg.Record]:
    async with pool.acquire() as conn:
        return list(
            await conn.fetch(
                "SELECT type, phone_id, customer_id, details FROM events"
                " WHERE $1::text IS NULL OR type = $1 ORDER BY id",
                kind,
            )
        )


async def test_open_phone_locks_on_first_contact(pool: asyncpg.Pool[Any]) -> None:
    phone = await new_phone(pool)
    gate = IpGate(pool=pool, geo=GeoDatabase(None))
    stale = await subject(pool, phone.id)  # what a caller's cache holds: OPEN
    before = (await ip_state(pool, phone.id))["version"]

    verdict = await gate.admit(stale, source_ip="::ffff:127.0.1.5", channel="prov", user_agent=None)
    assert verdict.allowed and verdict.locked
    locked = await ip_state(pool, phone.id)
    assert (locked["ip_mode"], locked["ip_address"]) == ("LOCKED", "127.0.1.5")
    assert locked["version"] == before + 1
    [event] = await events(pool)
    assert event["type"] == "phone.ip_locked"
    assert (event["phone_id"], event["customer_id"]) == (phone.id, phone.customer_id)
    assert event["details"]["address"] == "127.0.1.5"
    assert event["details"]["channel"] == "prov"
    assert event["details"]["mode"] == "LOCKED"

    # The caller's cache still says OPEN: same address allowed, another one refused.
    again = await gate.admit(stale, source_ip="127.0.1.5", channel="sip:REGISTER", user_agent=None)
    assert again.allowed and not again.locked
    other = await gate.admit(stale, source_ip="127.0.2.9", channel="sip:REGISTER", user_agent=None)
    assert not other.allowed
    # And a fresh subject (the cache caught up) decides the same without the overlay.
    fresh = await subject(pool, phone.id)
    assert fresh.ip_mode == "LOCKED"
    other_gate = IpGate(pool=pool, geo=GeoDatabase(None))
    assert (
        await other_gate.admit(fresh, source_ip="127.0.1.5", channel="prov", user_agent=None)
    ).allowed
    assert not (
        await other_gate.admit(fresh, source_ip="127.0.2.9", channel="prov", user_agent=None)
    ).allowed
    assert [e["type"] for e in await events(pool)] == [
        "phone.ip_locked",
        "phone.denied",
        "phone.denied",
    ]
    assert (await ip_state(pool, phone.id))["ip_address"] == "127.0.1.5"


async def test_two_racing_first_contacts_exactly_one_wins(database_url: str) -> None:
    """Two nodes (two gates, two pools) see the same OPEN phone contacted at once from two
    addresses; repeated on several phones so the race really happens."""
    pools = [await create_pool(database_url, max_size=6) for _ in range(2)]
    try:
        phones = [await new_phone(pools[0]) for _ in range(8)]
        gates = [IpGate(pool=item, geo=GeoDatabase(None)) for item in pools]
        subjects = [await subject(pools[0], phone.id) for phone in phones]
        addresses = ("127.0.1.10", "127.0.2.20")
        results = await asyncio.gather(
            *(
                gates[side].admit(
                    item, source_ip=addresses[side], channel="sip:REGISTER", user_agent=None
                )
                for item in subjects
                for side in (0, 1)
            )
        )
        for index, phone in enumerate(phones):
            first, second = results[2 * index], results[2 * index + 1]
            assert [first.allowed, second.allowed].count(True) == 1
            winner = addresses[0] if first.allowed else addresses[1]
            assert (first.locked or second.locked) and not (first.locked and second.locked)
            state = await ip_state(pools[0], phone.id)
            assert (state["ip_mode"], state["ip_address"]) == ("LOCKED", winner)
        kinds = [e["type"] for e in await events(pools[0])]
        assert kinds.count("phone.ip_locked") == len(phones)
        assert kinds.count("phone.denied") == len(phones)
    finally:
        for item in pools:
            await item.close()


async def test_denials_are_recorded_and_throttled(pool: asyncpg.Pool[Any]) -> None:
    phone = await new_phone(pool, ip_mode="LOCKED", ip_address="127.0.1.5")
    clock = Clock()
    gate = IpGate(pool=pool, geo=GeoDatabase(None), clock=clock)
    item = await subject(pool, phone.id)
    assert (await gate.admit(item, source_ip="127.0.1.5", channel="prov", user_agent=None)).allowed
    assert await events(pool) == []  # an allow writes nothing

    for _ in range(20):
        verdict = await gate.admit(
            item, source_ip="127.0.2.9", channel="sip:REGISTER", user_agent=None
        )
        assert not verdict.allowed and "127.0.2.9" in verdict.reason
    [event] = await events(pool)
    assert event["type"] == "phone.denied"
    details = event["details"]
    assert details["address"] == "127.0.2.9"
    assert details["mode"] == "LOCKED"
    assert details["channel"] == "sip:REGISTER"
    assert "locked address" in details["reason"]
    await gate.admit(item, source_ip="127.0.2.10", channel="prov", user_agent=None)
    assert len(await events(pool, "phone.denied")) == 2  # another address: its own event
    clock.now += 11
    await gate.admit(item, source_ip="127.0.2.9", channel="prov", user_agent=None)
    assert len(await events(pool, "phone.denied")) == 3
    assert (await ip_state(pool, phone.id))["ip_address"] == "127.0.1.5"  # nothing changed


async def test_roaming_by_country(pool: asyncpg.Pool[Any], tmp_path: Path) -> None:
    geo = GeoDatabase(str(write_geo_db(tmp_path / "geo.mmdb")))
    phone = await new_phone(pool, ip_mode="ROAMING", ip_countries="DK,NO")
    gate = IpGate(pool=pool, geo=geo)
    item = await subject(pool, phone.id)
    assert item.ip_countries == ("DK", "NO")
    assert (await gate.admit(item, source_ip="127.0.1.77", channel="prov", user_agent=None)).allowed
    se = await gate.admit(item, source_ip="127.0.2.77", channel="prov", user_agent=None)
    assert not se.allowed and "SE is not in DK,NO" in se.reason
    private = await gate.admit(item, source_ip="10.9.8.7", channel="prov", user_agent=None)
    assert not private.allowed and "no entry" in private.reason
    no_db = IpGate(pool=pool, geo=GeoDatabase(None))
    missing = await no_db.admit(item, source_ip="127.0.1.77", channel="prov", user_agent=None)
    assert not missing.allowed and "no GeoIP database" in missing.reason
    reasons = [e["details"]["reason"] for e in await events(pool, "phone.denied")]
    assert len(reasons) == 3 and all(r.startswith("ROAMING") for r in reasons)
    assert (await ip_state(pool, phone.id))["ip_mode"] == "ROAMING"  # ROAMING never locks


async def test_allow_needs_no_database(database_url: str, tmp_path: Path) -> None:
    """A closed pool proves it: allowed contacts (LOCKED match, ROAMING in country) work."""
    pool = await create_pool(database_url, max_size=2)
    locked = await new_phone(pool, ip_mode="LOCKED", ip_address="127.0.1.5")
    roaming = await new_phone(pool, ip_mode="ROAMING", ip_countries="DK")
    subjects = [await subject(pool, locked.id), await subject(pool, roaming.id)]
    gate = IpGate(pool=pool, geo=GeoDatabase(str(write_geo_db(tmp_path / "g.mmdb"))))
    await pool.close()
    for item in subjects:
        verdict = await gate.admit(item, source_ip="127.0.1.5", channel="prov", user_agent=None)
        assert verdict.allowed
    # A deny still answers when the event cannot be written; a lock fails closed.
    denied = await gate.admit(subjects[0], source_ip="127.0.2.1", channel="prov", user_agent=None)
    assert not denied.allowed
    open_subject = GateSubject(
        phone_id=locked.id,
        customer_id=locked.customer_id,
        ip_mode="OPEN",
        ip_countries=(),
        ip_address=None,
        vendor=None,
        model=None,
        mac_address=None,
    )
    failed = await gate.admit(open_subject, source_ip="127.0.2.1", channel="prov", user_agent=None)
    assert not failed.allowed and "database" in failed.reason


YEALINK_UA = "Yealink SIP-T54W 96.85.0.5 80:5e:c0:12:34:56"


@pytest.mark.parametrize("strict", [False, True])
async def test_identity_mismatch(pool: asyncpg.Pool[Any], strict: bool) -> None:
    phone = await new_phone(pool, model="yealink-t54w", mac_address="805EC0123456")
    gate = IpGate(pool=pool, geo=GeoDatabase(None), strict_identity=strict)
    item = await subject(pool, phone.id)
    assert (item.vendor, item.model) == ("yealink", "T54W")

    softphone = await gate.admit(
        item, source_ip="127.0.1.5", channel="sip:REGISTER", user_agent="Zoiper rv2.10.8.2"
    )
    assert softphone.allowed is (not strict)
    [mismatch] = await events(pool, "phone.mismatch")
    assert mismatch["details"]["userAgent"] == "Zoiper rv2.10.8.2"
    assert mismatch["details"]["fields"] == ["vendor"]
    assert mismatch["details"]["expected"]["model"] == "T54W"
    state = await ip_state(pool, phone.id)
    if strict:
        # Denied before locking: the leaked credential did not capture the phone.
        assert state["ip_mode"] == "OPEN"
        [denied] = await events(pool, "phone.denied")
        assert denied["details"]["reason"].startswith("User-Agent")
    else:
        assert state["ip_mode"] == "LOCKED"
    # The real phone's User-Agent is no mismatch.
    before = len(await events(pool, "phone.mismatch"))
    own = await gate.admit(item, source_ip="127.0.1.5", channel="prov", user_agent=YEALINK_UA)
    assert own.allowed
    assert len(await events(pool, "phone.mismatch")) == before


async def test_component_puts_the_gate_on_the_hub(
    pool: asyncpg.Pool[Any], settings: Settings, secret_box: Any, tmp_path: Path
) -> None:
    from aiohttp import web

    from provisioning.app.components import gate as gate_component

    path = write_geo_db(tmp_path / "geo.mmdb")
    configured = Settings(**{**_fields(settings), "geoip_database": str(path)})
    ctx = ServiceContext(
        settings=configured,
        pool=pool,
        secret_box=secret_box,
        hub=ServiceHub(),
        app=web.Application(),
        ssl_context=None,
    )
    async with gate_component.run(ctx) as gate:
        assert ctx.hub.gate is gate
        assert gate.geo.lookup("127.0.2.1").country == "SE"
    assert ctx.hub.gate is None


def _fields(settings: Settings) -> dict[str, Any]:
    from dataclasses import fields

    return {item.name: getattr(settings, item.name) for item in fields(settings)}


async def test_subject_from_policy(pool: asyncpg.Pool[Any]) -> None:
    from db.ip_policy import phone_policy

    phone = await new_phone(pool, ip_mode="ROAMING", ip_countries="SE, dk")
    async with pool.acquire() as conn:
        record = await phone_policy(conn, phone.id)
        assert await phone_policy(conn, "0" * 24) is None
    assert record is not None
    item = subject_from_policy(record)
    assert (item.ip_mode, item.ip_countries, item.customer_id) == (
        "ROAMING",
        ("SE", "DK"),
        phone.customer_id,
    )


async def test_cached_decisions_follow_a_policy_change(
    pool: asyncpg.Pool[Any], tmp_path: Path
) -> None:
    """Decisions are cached per (policy values, source): a changed policy (what the API's
    edit reaches the caller's subject as) is decided anew on the very next contact, and a
    replaced GeoIP file is consulted again."""
    from dataclasses import replace

    phone = await new_phone(pool, ip_mode="LOCKED", ip_address="127.0.1.5")
    clock = Clock()
    geo_path = write_geo_db(tmp_path / "geo.mmdb")
    gate = IpGate(pool=pool, geo=GeoDatabase(str(geo_path), clock=clock), clock=clock)
    item = await subject(pool, phone.id)

    async def allowed(who: GateSubject, source: str) -> bool:
        verdict = await gate.admit(who, source_ip=source, channel="sip:REGISTER", user_agent=None)
        return verdict.allowed

    assert await allowed(item, "127.0.1.5") and await allowed(item, "127.0.1.5")
    assert not await allowed(item, "127.0.2.5")
    moved = replace(item, ip_address="127.0.2.5")
    assert await allowed(moved, "127.0.2.5")
    assert not await allowed(moved, "127.0.1.5")
    roaming = replace(item, ip_mode="ROAMING", ip_address=None, ip_countries=("SE",))
    assert await allowed(roaming, "127.0.2.5")  # SE in the test database
    assert not await allowed(replace(roaming, ip_countries=("DK",)), "127.0.2.5")
    # the GeoIP file is replaced: 127.0.2.0/24 is DK now; seen after the change check
    write_geo_db(geo_path, {"127.0.2.0/24": "DK"})
    clock.now += 10
    assert not await allowed(roaming, "127.0.2.5")
    assert await allowed(replace(roaming, ip_countries=("DK",)), "127.0.2.5")


async def test_events_lost_to_a_failing_database_are_logged_once_per_interval(
    pool: asyncpg.Pool[Any], database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """While PostgreSQL is away every refused phone's event fails to be written: one log
    line per interval says how many, not one per REGISTER."""
    phone = await new_phone(pool, ip_mode="LOCKED", ip_address="127.0.1.5")
    item = await subject(pool, phone.id)
    gone = await create_pool(database_url, max_size=2)
    await gone.close()  # every acquire now fails: the database is "away"
    clock = Clock()
    gate = IpGate(pool=gone, geo=GeoDatabase(None), clock=clock)
    caplog.set_level("ERROR", logger="provisioning.gate.service")
    for n in range(30):  # 30 addresses: 30 denials, each wanting its event
        verdict = await gate.admit(
            item, source_ip=f"127.0.3.{n + 1}", channel="sip:REGISTER", user_agent=None
        )
        assert not verdict.allowed  # a lost event never turns into an allow
    lines = [r.getMessage() for r in caplog.records if "not recorded" in r.getMessage()]
    assert len(lines) == 1 and "1 event(s)" in lines[0]
    clock.now += 11
    await gate.admit(item, source_ip="127.0.3.200", channel="prov", user_agent=None)
    lines = [r.getMessage() for r in caplog.records if "not recorded" in r.getMessage()]
    assert len(lines) == 2 and "30 event(s)" in lines[1]
