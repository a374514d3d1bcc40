"""What config fetches write (`config_loaded`, the sighting), when several writers batch
them at once: with `workers` = 2 each worker process has its own recorder, and both write
the same phones' rows at the same time. No batch may die in a deadlock, and every fetch
is recorded exactly once."""

from __future__ import annotations

import asyncio
import random
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from db import bindings
from db import provisioning as prov_db
from db.bindings import StoredBinding
from db.phone_status import StatusWrite
from db.provisioning import Fetch
from provisioning.fileserver.recorder import FetchRecorder
from tests.support import factories
from tests.support.processes import start_sipfleet
from tests.support.workers import WORKER_HEADER


def _mac(index: int) -> str:
    return f"805EC0{index:06X}"


def _user_agent(mac: str) -> str:
    colons = ":".join(mac[i : i + 2] for i in range(0, 12, 2)).lower()
    return f"Yealink SIP-T54W 96.86.0.100 {colons}"


def _fetch(phone: factories.TestPhone, when: datetime) -> Fetch:
    assert phone.mac_address is not None
    return Fetch(
        phone_id=phone.id,
        customer_id=phone.customer_id,
        mac_address=phone.mac_address,
        vendor="yealink",
        model="T54W",
        address="127.0.0.1",
        user_agent=_user_agent(phone.mac_address),
        file=f"{phone.mac_address.lower()}.cfg",
        time=when,
        event=False,
    )


async def _make_phones(pool: asyncpg.Pool[Any], count: int) -> list[factories.TestPhone]:
    async with pool.acquire() as conn:
        customer = await factories.customer(conn)
        return [
            await factories.phone(conn, customer, model="yealink-t54w", mac_address=_mac(i))
            for i in range(count)
        ]


async def _recorded(
    pool: asyncpg.Pool[Any], macs: list[str]
) -> tuple[dict[str, datetime | None], dict[str, int]]:
    """config_loaded and the sighting's fetch count, by MAC."""
    async with pool.acquire() as conn:
        loaded = await conn.fetch(
            "SELECT mac_address, config_loaded FROM sip_phones WHERE mac_address = ANY($1)", macs
        )
        counted = await conn.fetch(
            "SELECT mac_address, fetch_count FROM seen_phones WHERE mac_address = ANY($1)", macs
        )
    return (
        {row["mac_address"]: row["config_loaded"] for row in loaded},
        {row["mac_address"]: row["fetch_count"] for row in counted},
    )


async def _add_fleet(pool: asyncpg.Pool[Any], like: factories.TestPhone, count: int) -> None:
    """`count` more phones (copies of `like` but for their usernames, no MAC) in the table:
    a fleet of which only some phones fetch, so PostgreSQL plans a small batch's writes
    otherwise than a large one's."""
    async with pool.acquire() as conn:
        await conn.execute(
            """INSERT INTO sip_phones (customer_id, model_id, username, password_enc, ha1_md5,
                                       ha1_sha256)
               SELECT customer_id, model_id, md5(n::text), password_enc, ha1_md5, ha1_sha256
               FROM sip_phones, generate_series(1, $2) n WHERE id = $1""",
            like.id,
            count,
        )
        await conn.execute("ANALYZE sip_phones")


async def test_concurrent_batches_in_opposite_orders_never_deadlock(
    pool: asyncpg.Pool[Any],
) -> None:
    """Two writers, back to back, each batch one transaction as the recorder writes it:
    one writes small batches in ascending phone order, the other large ones in descending
    order. PostgreSQL never has to break a deadlock, and every fetch counts."""
    phones = await _make_phones(pool, 150)
    await _add_fleet(pool, phones[0], 5000)
    base = datetime.now(UTC)
    answered: Counter[str] = Counter()
    latest: dict[str, datetime] = {}

    async def writer(seed: int, sizes: tuple[int, int], descending: bool) -> None:
        rng = random.Random(seed)
        for round_ in range(100):
            chosen = rng.sample(phones, rng.randint(*sizes))
            chosen.sort(key=lambda phone: phone.id, reverse=descending)
            when = base + timedelta(milliseconds=2 * round_ + seed)
            batch = [_fetch(phone, when) for phone in chosen for _ in range(rng.randint(1, 2))]
            async with pool.acquire() as conn, conn.transaction():
                await prov_db.record_fetches(conn, batch)
            for fetch in batch:
                answered[fetch.mac_address] += 1
                latest[fetch.mac_address] = max(latest.get(fetch.mac_address, when), when)

    await asyncio.gather(
        writer(0, (2, 20), descending=False), writer(1, (100, 150), descending=True)
    )
    loaded, counted = await _recorded(pool, [phone.mac_address or "" for phone in phones])
    assert counted == dict(answered)
    assert {mac: loaded[mac] for mac in latest} == latest


async def test_recorder_writes_a_deadlock_victim_batch_again(pool: asyncpg.Pool[Any]) -> None:
    """Another transaction locks a phone's sighting, then its config_loaded row, while a
    recorder batch holds the row and waits for the sighting: PostgreSQL breaks the cycle
    by rolling the batch back; the recorder writes it again instead of losing it."""
    [phone] = await _make_phones(pool, 1)
    assert phone.mac_address is not None
    recorder = FetchRecorder(pool, interval=3600)
    async with pool.acquire() as conn:
        await conn.execute("INSERT INTO seen_phones (mac_address) VALUES ($1)", phone.mac_address)
        other = conn.transaction()
        await other.start()
        try:
            # the recorder's backend detects the cycle (after its 1 s deadlock_timeout)
            await conn.execute("SET LOCAL deadlock_timeout = '60s'")
            await conn.execute(
                "SELECT 1 FROM seen_phones WHERE mac_address = $1 FOR UPDATE", phone.mac_address
            )
            recorder.add(_fetch(phone, datetime.now(UTC)))
            flush = asyncio.ensure_future(recorder.flush())
            # the batch has locked the phone's row and waits for the sighting
            for _ in range(200):
                async with pool.acquire() as watcher:  # a fresh view of the activity
                    waiting = await watcher.fetchval(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                        "AND query LIKE '%INSERT INTO seen_phones%'"
                    )
                if waiting:
                    break
                await asyncio.sleep(0.05)
            assert waiting, "the recorder's batch never waited for the sighting"
            await conn.execute(
                "UPDATE sip_phones SET config_loaded = now() - interval '1 day' WHERE id = $1",
                phone.id,
            )
        finally:
            await other.commit()
        await flush
    loaded, counted = await _recorded(pool, [phone.mac_address])
    assert recorder.written == 1
    assert counted == {phone.mac_address: 1}
    when = loaded[phone.mac_address]
    assert when is not None and when > datetime.now(UTC) - timedelta(minutes=1)


async def test_registrar_writes_never_wait_for_fetch_records(pool: asyncpg.Pool[Any]) -> None:
    """The registrar's batches write the same phones' bindings, status rows and events,
    never their sip_phones rows: the foreign keys' KEY SHARE locks are compatible with the
    config_loaded update's NO KEY UPDATE, so neither side waits for the other and the two
    can take no part in one deadlock."""
    [phone] = await _make_phones(pool, 1)
    binding = StoredBinding(
        phone_id=phone.id, contact="sip:a@10.0.0.1", call_id="c1@10.0.0.1", cseq=1,
        expires_at=datetime.now(UTC) + timedelta(hours=1), q=None, transport="udp",
        source_ip="10.0.0.1", source_port=5060, local_ip="192.168.1.2",
        user_agent="Phone/1.0", instance_id=None, reg_id=None, node="node-a",
    )  # fmt: skip
    status = StatusWrite(
        phone_id=phone.id, online=True, expires_at=binding.expires_at, local_ip="192.168.1.2",
        public_ip="10.0.0.1", user_agent="Phone/1.0", transport="udp",
    )  # fmt: skip
    async with pool.acquire() as fetches, pool.acquire() as registrar:
        async with fetches.transaction():
            await prov_db.record_fetches(fetches, [_fetch(phone, datetime.now(UTC))])
            async with registrar.transaction():
                await asyncio.wait_for(
                    bindings.write_batch(registrar, upserts=[binding], statuses=[status]), 10
                )
        async with registrar.transaction():
            await bindings.write_batch(registrar, refreshes=[binding], statuses=[status])
            await asyncio.wait_for(
                prov_db.record_fetches(fetches, [_fetch(phone, datetime.now(UTC))]), 10
            )


PHONES = 200  # fetched
FLEET = 5000  # more phones in the table, never fetched
SECONDS = 8.0


@dataclass
class Fetched:
    """What the clients saw: the 200s per MAC, the time before the last 200 of each MAC
    was asked for, and the number of fetches each worker answered."""

    answered: Counter[str] = field(default_factory=Counter)
    last_asked: dict[str, datetime] = field(default_factory=dict)
    by_worker: Counter[str] = field(default_factory=Counter)


async def _client(
    fetched: Fetched,
    base_url: str,
    macs: list[str],
    *,
    worker: str,
    pause: float,
    seed: int,
    deadline: float,
) -> None:
    """Fetch random phones' per-MAC files (their own User-Agent) over one connection at a
    time, `pause` seconds apart; a connection the kernel gave to another worker than
    `worker` is replaced after its first answer."""
    rng = random.Random(seed)
    while time.monotonic() < deadline:
        connector = aiohttp.TCPConnector(limit=1)
        async with aiohttp.ClientSession(connector=connector) as session:
            while time.monotonic() < deadline:
                mac = rng.choice(macs)
                asked = datetime.now(UTC)
                url = f"{base_url}/prov/{mac.lower()}.cfg"
                async with session.get(url, headers={"User-Agent": _user_agent(mac)}) as response:
                    await response.read()
                    assert response.status == 200, (mac, response.status)
                    answered_by = response.headers.get(WORKER_HEADER, "?")
                fetched.answered[mac] += 1
                fetched.last_asked[mac] = max(fetched.last_asked.get(mac, asked), asked)
                fetched.by_worker[answered_by] += 1
                if answered_by != worker:
                    break
                await asyncio.sleep(pause)


async def _slow_edits(pool: asyncpg.Pool[Any], phone_ids: list[str], deadline: float) -> int:
    """An operator's slow edits meanwhile: twenty phones at a time locked (in id order, as
    `db.phones` locks a phone) and held a moment; both workers' next batches want one of
    them, wait, then run side by side. Returns the number of edits."""
    rng = random.Random(7)
    edits = 0
    while time.monotonic() < deadline:
        chosen = rng.sample(phone_ids, 20)
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "SELECT 1 FROM sip_phones WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE", chosen
            )
            await asyncio.sleep(0.15)
            await conn.execute("UPDATE sip_phones SET notes = 'edited' WHERE id = ANY($1)", chosen)
        edits += 1
        await asyncio.sleep(0.05)
    return edits


async def test_two_workers_record_every_fetch_without_deadlock(
    tmp_path: Path, database_url: str, pool: asyncpg.Pool[Any]
) -> None:
    """A real `sipfleet serve` with two workers, clients fetching the same phones' files
    for several seconds: many connections on worker 0, two slow ones on worker 1, so one
    writes large batches and the other small ones (which PostgreSQL plans differently),
    while an operator edits some of the phones."""
    phones = await _make_phones(pool, PHONES)
    macs = [phone.mac_address or "" for phone in phones]
    async with pool.acquire() as conn:
        await conn.execute("UPDATE sip_phones SET ip_mode = 'LOCKED', ip_address = '127.0.0.1'")
    await _add_fleet(pool, phones[0], FLEET)
    env = {"SIPFLEET_WORKERS": "2", "SIPFLEET_DATABASE_URL": database_url}
    service = await asyncio.to_thread(start_sipfleet, tmp_path / "data", env=env)
    fetched = Fetched()
    try:
        deadline = time.monotonic() + SECONDS
        heavy = [
            _client(fetched, service.base_url, macs, worker="0", pause=0, seed=n, deadline=deadline)
            for n in range(16)
        ]
        light = [
            _client(
                fetched,
                service.base_url,
                macs,
                worker="1",
                pause=0.02,
                seed=100 + n,
                deadline=deadline,
            )
            for n in range(2)
        ]
        editor = asyncio.ensure_future(_slow_edits(pool, [p.id for p in phones], deadline))
        await asyncio.gather(*heavy, *light, editor)
        edits = editor.result()
    finally:
        service.process.send_signal(signal.SIGTERM)  # the workers write what they hold
        code = await asyncio.to_thread(service.process.wait, 30)
    log = service.log()
    assert code == 0, log
    assert fetched.by_worker["0"] > fetched.by_worker["1"] > 0 and edits > 1
    assert "deadlock" not in log.lower(), log
    assert "could not record" not in log, log

    loaded, counted = await _recorded(pool, macs)
    # every fetch counted once in its phone's sighting: no batch lost, none written twice
    assert counted == dict(fetched.answered)
    for mac, asked in fetched.last_asked.items():
        when = loaded[mac]
        assert when is not None and when >= asked, mac
