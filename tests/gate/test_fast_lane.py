"""The gate's fast lane equals its general path: wherever `IpGate.admit_now` answers,
`IpGate.admit` gives the same verdict and does no I/O (the pool is closed, so any
database work would fail or change the verdict); and the fast lane answers every case the
general path allows without a lock or a record to write.

Every combination of policy, source address, countries, identity on record and
User-Agent is tried: a table, not a sample."""

from __future__ import annotations

import itertools
from pathlib import Path

from db.pool import create_pool
from provisioning.gate.geoip import GeoDatabase
from provisioning.gate.service import IpGate
from sipcore.gateport import GateSubject
from tests.support.geodb import write_geo_db

MODES = ("OPEN", "LOCKED", "ROAMING")
ADDRESSES = (None, "127.0.1.5", "198.51.100.7")
COUNTRIES: tuple[tuple[str, ...], ...] = ((), ("DK",), ("SE", "US"))
SOURCES = ("127.0.1.5", "127.0.2.9", "127.0.3.1", "198.51.100.7", "203.0.113.1")
IDENTITIES = ((None, None, None), ("yealink", "T54W", "805EC0123456"))
USER_AGENTS = (
    None,
    "Yealink SIP-T54W 96.85.0.5 80:5e:c0:12:34:56",
    "Yealink SIP-T46U 108.86.0.20 80:5e:c0:12:34:56",
    "Zoiper rv2.10.8.2",
)


async def test_admit_now_equals_the_general_path(database_url: str, tmp_path: Path) -> None:
    pool = await create_pool(database_url, max_size=1)
    await pool.close()  # the fast lane, and its equal in the general path, need no database
    geo = GeoDatabase(str(write_geo_db(tmp_path / "geo.mmdb")))
    gate = IpGate(pool=pool, geo=geo)
    answered = 0
    for mode, address, countries, (vendor, model, mac), source, agent in itertools.product(
        MODES, ADDRESSES, COUNTRIES, IDENTITIES, SOURCES, USER_AGENTS
    ):
        subject = GateSubject(
            phone_id="p1", customer_id="c1", ip_mode=mode, ip_countries=countries,
            ip_address=address, vendor=vendor, model=model, mac_address=mac,
        )  # fmt: skip
        case = (mode, address, countries, vendor, source, agent)
        fast = gate.admit_now(subject, source_ip=source, channel="sip:REGISTER", user_agent=agent)
        general = await gate.admit(
            subject, source_ip=source, channel="sip:REGISTER", user_agent=agent
        )
        if fast is not None:
            answered += 1
            assert fast == general, case
            assert fast.allowed and not fast.locked, case
        elif general.allowed and not general.locked:
            # the general path allowed with nothing written: only an identity mismatch
            # (recorded as an event, which the closed pool refused) keeps it off the lane
            assert agent is not None and vendor is not None, case
    assert answered > 0
    geo.close()
