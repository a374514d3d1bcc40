"""Test GeoIP databases (MaxMind DB format) written with mmdb-writer.

An IPv6 tree with IPv4-compatible addresses so that both families answer; loopback
sub-ranges get countries on purpose so real sockets on 127.0.x.y can exercise ROAMING.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from mmdb_writer import MMDBWriter
from netaddr import IPSet

DEFAULT_MAP: dict[str, str | None] = {
    "127.0.1.0/24": "DK",
    "127.0.2.0/24": "SE",
    "127.0.3.0/24": None,  # in the database, but without a country
    "2001:db8:1::/48": "DK",
    "2001:db8:2::/48": "SE",
    "198.51.100.0/24": "US",
}


def write_geo_db(
    path: Path,
    networks: Mapping[str, str | None] | None = None,
    *,
    database_type: str = "GeoIP2-Country",
) -> Path:
    """Write a database mapping each network to a country (None: an entry with no country).

    Written to a temporary name and renamed, as geoipupdate replaces its files."""
    writer = MMDBWriter(
        ip_version=6, database_type=database_type, ipv4_compatible=True, description="sipfleet test"
    )
    for network, country in (DEFAULT_MAP if networks is None else networks).items():
        record: dict[str, object] = {"continent": {"code": "EU"}}
        if country is not None:
            record["country"] = {"iso_code": country, "names": {"en": country}}
        if "City" in database_type:
            record["city"] = {"names": {"en": f"Somewhere in {country}"}}
        writer.insert_network(IPSet([network]), record)
    temporary = path.with_name(path.name + ".tmp")
    writer.to_db_file(str(temporary))
    os.replace(temporary, path)
    return path
