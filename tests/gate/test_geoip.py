"""GeoIP lookups on real .mmdb files written by mmdb-writer, read by geoip2."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from provisioning.gate.geoip import GeoDatabase, bundled_database_path, resolve_database_path
from tests.support.geodb import write_geo_db


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("database_type", ["GeoIP2-Country", "GeoLite2-City", "DBIP-City-Lite"])
def test_country_and_city_databases(tmp_path: Path, database_type: str) -> None:
    path = write_geo_db(tmp_path / "geo.mmdb", database_type=database_type)
    geo = GeoDatabase(str(path))
    assert geo.lookup("127.0.1.7").country == "DK"
    assert geo.database_type == database_type
    assert geo.lookup("127.0.2.200").country == "SE"
    assert geo.lookup("::ffff:127.0.2.1").country == "SE"  # mapped: looked up as IPv4
    assert geo.lookup("2001:db8:1::99").country == "DK"
    assert geo.lookup("[2001:db8:2::1]").country == "SE"
    missing = geo.lookup("10.1.2.3")
    assert missing.country is None and "no entry for 10.1.2.3" in missing.reason
    empty = geo.lookup("127.0.3.9")
    assert empty.country is None and "no country" in empty.reason
    assert geo.lookup("nonsense").country is None
    geo.close()


def test_no_database(tmp_path: Path) -> None:
    absent = GeoDatabase(None)
    assert absent.lookup("127.0.1.1").reason == "no GeoIP database configured"
    missing = GeoDatabase(str(tmp_path / "nothing.mmdb"))
    answer = missing.lookup("127.0.1.1")
    assert answer.country is None and "does not exist" in answer.reason


def test_broken_and_countryless_files(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mmdb"
    junk.write_bytes(b"this is not a maxmind database" * 10)
    answer = GeoDatabase(str(junk)).lookup("127.0.1.1")
    assert answer.country is None and "cannot be read" in answer.reason
    asn = write_geo_db(tmp_path / "asn.mmdb", database_type="GeoLite2-ASN")
    answer = GeoDatabase(str(asn)).lookup("127.0.1.1")
    assert answer.country is None and "has no countries" in answer.reason


def test_file_change_is_picked_up_within_the_check_interval(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "geo.mmdb"
    geo = GeoDatabase(str(path), check_interval=5.0, clock=clock)
    assert geo.lookup("127.0.1.1").country is None  # no file yet
    write_geo_db(path)
    clock.now += 1  # within the interval: no stat, still the old answer
    assert geo.lookup("127.0.1.1").country is None
    clock.now += 5
    assert geo.lookup("127.0.1.1").country == "DK"
    assert geo.loads == 1
    write_geo_db(path, {"127.0.1.0/24": "NO", "127.0.2.0/24": "SE"})  # replaced by rename
    assert geo.lookup("127.0.1.1").country == "DK"  # cached until the next check
    clock.now += 5
    assert geo.lookup("127.0.1.1").country == "NO"
    assert geo.loads == 2
    clock.now += 5
    geo.lookup("127.0.1.1")
    assert geo.loads == 2  # unchanged file: not reopened
    # A broken replacement keeps the last good database.
    junk = tmp_path / "junk"
    junk.write_bytes(b"garbage" * 100)
    os.replace(junk, path)
    clock.now += 5
    assert geo.lookup("127.0.1.1").country == "NO"
    # The file vanishing keeps it too; a new file is read again.
    path.unlink()
    clock.now += 5
    assert geo.lookup("127.0.2.1").country == "SE"
    write_geo_db(path, {"127.0.1.0/24": "FI"})
    clock.now += 5
    assert geo.lookup("127.0.1.1").country == "FI"
    geo.close()


def test_default_path_falls_back_to_a_bundled_database(tmp_path: Path) -> None:
    assert resolve_database_path(str(tmp_path / "x.mmdb")) == str(tmp_path / "x.mmdb")
    bundled = bundled_database_path()
    assert resolve_database_path("") == bundled
    if bundled is None:
        pytest.skip("no public GeoIP database package installed (sipfleet[geo])")
    geo = GeoDatabase(bundled)
    assert geo.lookup("1.1.1.1").country == "AU"  # DB-IP City Lite, read with city()
    assert geo.database_type is not None and "City" in geo.database_type
    assert geo.lookup("127.0.0.1").country is None  # loopback has no country
    geo.close()
