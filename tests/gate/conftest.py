"""Fixtures of the gate's end-to-end tests: `sipfleet serve` with a test GeoIP database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.geodb import write_geo_db
from tests.support.processes import SipfleetProcess, start_sipfleet


@pytest.fixture
def start_server(tmp_path: Path, database_url: str) -> Iterator[Callable[..., SipfleetProcess]]:
    """Start `sipfleet serve` on the test's database with 127.0.1/24 = DK, 127.0.2/24 = SE."""
    started: list[SipfleetProcess] = []

    def start(**env: str) -> SipfleetProcess:
        geo = write_geo_db(tmp_path / "geo.mmdb")
        running = start_sipfleet(
            tmp_path / f"data{len(started)}",
            env={
                "SIPFLEET_DATABASE_URL": database_url,
                "SIPFLEET_GEOIP_DATABASE": str(geo),
                **{f"SIPFLEET_{key.upper()}": value for key, value in env.items()},
            },
            sip_transports=("udp",),
        )
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()
