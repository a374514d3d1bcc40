"""What the outage tests share: sipfleet on a PostgreSQL the test controls, phones that
register in a loop and remember every answer, and the check that no 200 was lost."""

from __future__ import annotations

import asyncio
import os
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from tests.support import factories
from tests.support.pgcluster import PgCluster, PgServer
from tests.support.processes import SipfleetProcess, free_port, start_sipfleet
from tests.support.sip_client import SipClient
from tests.support.workers import ADMIN_TOKEN, Http

DATABASE = "sipfleet"


@contextmanager
def one_postgres() -> Iterator[PgServer]:
    """A PostgreSQL of its own, started, with the empty database DATABASE; removed after."""
    cluster = PgCluster()
    try:
        server = cluster.server("pg", free_port()).init()
        server.start()
        asyncio.run(create_database(server.uri()))
        yield server
    finally:
        cluster.close()


@contextmanager
def synchronous_pair() -> Iterator[tuple[PgServer, PgServer]]:
    """A primary and its synchronous streaming standby (replicating before this yields),
    the empty database DATABASE on them; removed after."""
    cluster = PgCluster()
    try:
        primary = cluster.server("primary", free_port()).init(synchronous_standby=True)
        primary.start()
        standby = cluster.server("standby", free_port()).standby_of(primary)
        standby.start()
        asyncio.run(wait_synchronous(primary))
        asyncio.run(create_database(primary.uri()))
        yield primary, standby
    finally:
        cluster.close()


def pair_url(primary: PgServer, standby: PgServer) -> str:
    """The database URL naming both hosts: whichever takes writes is used."""
    return (f"postgresql://postgres@{primary.host},{standby.host}/{DATABASE}"
            "?target_session_attrs=read-write")  # fmt: skip


async def wait_synchronous(primary: PgServer) -> None:
    """Until the primary has a synchronous standby (10 s at most: AssertionError)."""
    conn = await asyncpg.connect(primary.uri())
    try:
        for _ in range(100):
            if await conn.fetchval(
                "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'"
            ):
                return
            await asyncio.sleep(0.1)
    finally:
        await conn.close()
    raise AssertionError("the standby did not become a synchronous standby")


async def create_database(admin_uri: str) -> None:
    conn = await asyncpg.connect(admin_uri)
    try:
        await conn.execute(f"CREATE DATABASE {DATABASE}")
    finally:
        await conn.close()


def start_node(data_dir: Path, database_url: str, workers: str = "2") -> SipfleetProcess:
    return start_sipfleet(
        data_dir,
        workers=workers,
        env={
            "SIPFLEET_DATABASE_URL": database_url,
            "SIPFLEET_ADMIN_TOKEN": ADMIN_TOKEN,
            "SIPFLEET_AUTH_FAILURE_LIMIT": "100000",
        },
    )


def http_get(node: SipfleetProcess, path: str, headers: dict[str, str] | None = None,
             ) -> tuple[int, bytes, dict[str, str]]:  # fmt: skip
    """(status, body, headers) of a GET on a fresh connection; status 0: no answer
    within 10 s."""
    request = urllib.request.Request(node.base_url + path, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status), response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read(), dict(exc.headers)
    except OSError:  # timed out
        return 0, b"", {}


def fetch_config(node: SipfleetProcess, mac: str) -> int:
    """A Yealink T54W fetching its configuration file: the status."""
    colons = ":".join(mac.lower()[i : i + 2] for i in range(0, 12, 2))
    agent = {"User-Agent": f"Yealink SIP-T54W 96.86.0.100 {colons}"}
    return http_get(node, f"/prov/{mac.lower()}.cfg", agent)[0]


def healthz(node: SipfleetProcess) -> int:
    """/healthz's status, on a fresh connection (any worker may answer); 0: no answer
    within 5 s."""
    try:
        with urllib.request.urlopen(node.base_url + "/healthz", timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:  # timed out
        return 0


async def make_phones(uri: str, count: int) -> tuple[str, str, str, list[factories.TestPhone]]:
    """(customer, extension, model, phones) written straight to the database; the
    phones are Yealink T54W with MAC addresses 001565000000, 001565000001, …"""
    conn = await asyncpg.connect(uri)
    try:
        customer = await factories.customer(conn, "Outage")
        extension = await factories.extension(conn, customer, "100")
        model = await factories.model_id(conn, "yealink-t54w")
        phones = [
            await factories.phone(conn, customer, extension_id=extension, model="yealink-t54w",
                                  mac_address=f"001565{n:06X}")
            for n in range(count)
        ]  # fmt: skip
    finally:
        await conn.close()
    return customer, extension, model, phones


@dataclass
class Attempt:
    at: float  # monotonic time the answer (or the time-out) came
    call_id: str
    status: int  # 0: no answer
    sent: float = 0.0  # monotonic time the attempt began


@dataclass
class LoopPhone(SipClient):
    """A phone that registers again and again over one UDP socket (so its Contact stays
    the same) with a new Call-ID each time, remembering each authenticated attempt."""

    phone_id: str = ""
    mac: str = ""
    attempts: list[Attempt] = field(default_factory=list)
    no_retry_after: int = 0  # 503 answers without Retry-After

    def __post_init__(self) -> None:
        if self.mac:  # the User-Agent of the model, with the phone's MAC as a Yealink sends it
            colons = ":".join(self.mac.lower()[i : i + 2] for i in range(0, 12, 2))
            self.user_agent = f"Yealink SIP-T54W 96.86.0.100 {colons}"

    def received(self, data: bytes, addr: Any) -> None:
        if data.startswith(b"SIP/2.0 503") and b"\r\nretry-after:" not in data.lower():
            self.no_retry_after += 1
        super().received(data, addr)

    @property
    def binding_contact(self) -> str:
        """The Contact URI as the bindings table holds it."""
        return self.contact.strip("<>")

    async def attempt(self, timeout: float = 2.0) -> int:
        self.authorized_call_id = ""
        sent = time.monotonic()
        status = await self.register_status(timeout=timeout, call_id=os.urandom(8).hex())
        if status == 0:
            while not self.queue.empty():  # a late answer must not be taken for the next
                self.queue.get_nowait()
        if self.authorized_call_id:
            self.attempts.append(Attempt(time.monotonic(), self.authorized_call_id, status, sent))
        return status


class RegisterLoad:
    """`phones` registering in a loop, each `pause` seconds after its last answer (or
    after `timeout` seconds without one)."""

    def __init__(
        self, node: SipfleetProcess, phones: list[Any], pause: float = 0.05, timeout: float = 2.0
    ) -> None:
        self.phones = [
            LoopPhone(
                p.username,
                p.password,
                ("127.0.0.1", node.sip_port),
                phone_id=p.id,
                mac=p.mac_address or "",
            )
            for p in phones
        ]
        self.pause = pause
        self.timeout = timeout  # for an answer to each request of an attempt
        self._running = False
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        for phone in self.phones:
            await phone.open()
        self._running = True
        self._tasks = [asyncio.create_task(self._loop(phone)) for phone in self.phones]

    async def _loop(self, phone: LoopPhone) -> None:
        while self._running:
            await phone.attempt(self.timeout)
            await asyncio.sleep(self.pause)

    async def stop(self) -> None:
        self._running = False
        await asyncio.gather(*self._tasks)
        for phone in self.phones:
            phone.close()

    def statuses(self, since: float = 0.0, until: float = float("inf")) -> Counter[int]:
        return Counter(a.status for p in self.phones for a in p.attempts if since <= a.at < until)

    def first_ok_after(self, moment: float) -> float | None:
        """When the first 200 after `moment` came."""
        times = [
            a.at for p in self.phones for a in p.attempts if a.at >= moment and a.status == 200
        ]
        return min(times) if times else None

    async def recovered_after(self, moment: float, limit: float) -> float | None:
        """Wait (at most `limit` seconds past `moment`) for every phone to have had a 200
        after `moment`: when that was, or None."""
        while self.all_ok_after(moment) is None and time.monotonic() - moment < limit:
            await asyncio.sleep(0.1)
        return self.all_ok_after(moment)

    def all_ok_after(self, moment: float) -> float | None:
        """When every phone had had a 200 after `moment` (None: some never did)."""
        firsts = []
        for phone in self.phones:
            times = [a.at for a in phone.attempts if a.at >= moment and a.status == 200]
            if not times:
                return None
            firsts.append(min(times))
        return max(firsts)


async def lost_bindings(uri: str, phones: list[LoopPhone]) -> list[str]:
    """Phones whose last 200 is not what the bindings table holds: the row must exist
    with the phone's contact and the Call-ID of the last acknowledged REGISTER or of one
    sent after it (one answered 503 may still have committed: its commit's answer was
    lost with the connection)."""
    conn = await asyncpg.connect(uri)
    try:
        rows = await conn.fetch("SELECT phone_id, contact, call_id FROM bindings")
    finally:
        await conn.close()
    stored: dict[str, list[tuple[str, str]]] = {}
    for row in rows:
        stored.setdefault(str(row["phone_id"]), []).append((row["contact"], row["call_id"]))
    lost = []
    for phone in phones:
        acked = [i for i, a in enumerate(phone.attempts) if a.status == 200]
        if not acked:
            continue
        allowed = {a.call_id for a in phone.attempts[acked[-1] :]}
        held = stored.get(phone.phone_id, [])
        if not any(
            contact == phone.binding_contact and call_id in allowed for contact, call_id in held
        ):
            lost.append(f"{phone.username}: acked {phone.attempts[acked[-1]].call_id}, "
                        f"stored {held}")  # fmt: skip
    return lost


async def register_new_phone(node: SipfleetProcess, customer: str, extension: str,
                             model: str, created: list[str] | None = None) -> list[int]:  # fmt: skip
    """Create a phone through the API (its id appended to `created`), then REGISTER it
    at once, several times over fresh sockets (each may reach either worker): the
    statuses."""
    body = {"customer": customer, "extension": extension, "sipPhoneModel": model}
    status, phone, _ = await Http(node.base_url).request("PUT", "/api/pbx/sipphone", body)
    assert status == 201, phone
    if created is not None:
        created.append(phone["_id"])
    statuses = []
    for _ in range(6):
        client = SipClient(phone["username"], phone["password"], ("127.0.0.1", node.sip_port))
        await client.open()
        try:
            statuses.append(await client.register_status(timeout=3.0))
        finally:
            client.close()
    return statuses
