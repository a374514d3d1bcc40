"""Configuration: file, environment and overrides; every bad value names its setting."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from provisioning.app.components.sip import sip_config
from provisioning.config import (
    ConfigError,
    ListenAddress,
    describe_workers,
    load_settings,
    parse_sip_listen,
)


def test_defaults_work_without_anything() -> None:
    settings = load_settings(environ={})
    assert settings.http_address == ("0.0.0.0", 8080)
    assert [str(item) for item in settings.sip_listeners] == [
        "udp:0.0.0.0:5060",
        "tcp:0.0.0.0:5060",
    ]


def test_precedence_file_then_env_then_override(tmp_path: Path) -> None:
    config = tmp_path / "sipfleet.toml"
    config.write_text('[sip]\ndomain = "file.example"\n[http]\nlisten = "127.0.0.1:1"\n')
    settings = load_settings(
        config_file=str(config),
        environ={"SIPFLEET_HTTP_LISTEN": "127.0.0.1:2"},
        overrides={"min_expires": "30"},
    )
    assert settings.sip_domain == "file.example"
    assert settings.http_address == ("127.0.0.1", 2)
    assert settings.min_expires == 30


def test_listen_addresses_parse_ipv6_and_tls() -> None:
    assert parse_sip_listen("udp:[::1]:5060,tls:127.0.0.1:5061") == (
        ListenAddress(transport="udp", host="::1", port=5060),
        ListenAddress(transport="tls", host="127.0.0.1", port=5061),
    )


@pytest.mark.parametrize(
    ("environ", "setting"),
    [
        ({"SIPFLEET_SIP_LISTEN": "sctp:1.2.3.4:5060"}, "sip_listen"),
        ({"SIPFLEET_SIP_LISTEN": "udp:1.2.3.4"}, "sip_listen"),
        ({"SIPFLEET_SIP_LISTEN": "udp:1.2.3.4:99999"}, "sip_listen"),
        ({"SIPFLEET_HTTP_LISTEN": "nonsense"}, "http_listen"),
        ({"SIPFLEET_MIN_EXPIRES": "soon"}, "min_expires"),
        ({"SIPFLEET_DATABASE_URL": "mysql://x"}, "database_url"),
        ({"SIPFLEET_TLS_CERT": "/nonexistent.pem"}, "tls_key"),
        ({"SIPFLEET_SECRET_KEY": "abcd"}, "secret_key"),
        ({"SIPFLEET_TRUSTED_PROXIES": "not-an-address"}, "trusted_proxies"),
        ({"SIPFLEET_WRITE_GATHER_MS": "1.5"}, "write_gather_ms"),
        ({"SIPFLEET_WRITE_GATHER_MS": "-1"}, "write_gather_ms"),
        ({"SIPFLEET_WRITE_GATHER_MS": "500"}, "write_gather_ms"),
        ({"SIPFLEET_CONTACTS_PER_PHONE": "0"}, "contacts_per_phone"),
        ({"SIPFLEET_SUBSCRIPTIONS_PER_PHONE": "0"}, "subscriptions_per_phone"),
        ({"SIPFLEET_SUBSCRIPTIONS_PER_RESOURCE": "-1"}, "subscriptions_per_resource"),
    ],
)
def test_bad_values_name_the_setting(environ: dict[str, str], setting: str) -> None:
    with pytest.raises(ConfigError, match=f"^{setting}:"):
        load_settings(environ=environ)


def test_limits_reach_the_registrar_and_the_presence_config() -> None:
    defaults = load_settings(environ={})
    assert (defaults.contacts_per_phone, defaults.subscriptions_per_phone) == (10, 50)
    assert defaults.subscriptions_per_resource == 200
    settings = load_settings(environ={"SIPFLEET_CONTACTS_PER_PHONE": "3"})
    assert sip_config(settings, secret_key=b"k" * 32, node_id="n").max_contacts == 3


def test_unknown_key_in_file(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('sip_listn = "udp:0.0.0.0:5060"\n')
    with pytest.raises(ConfigError, match="^sip_listn: unknown setting"):
        load_settings(config_file=str(config), environ={})


@pytest.mark.parametrize(("raw", "seconds"), [(None, 0.01), ("0", 0.0), ("5", 0.005)])
def test_the_group_commit_window_reaches_the_sip_service_in_seconds(
    raw: str | None, seconds: float
) -> None:
    settings = load_settings(environ={} if raw is None else {"SIPFLEET_WRITE_GATHER_MS": raw})
    assert sip_config(settings, secret_key=b"k" * 32, node_id="n").write_gather == seconds


def test_workers_default_to_one_per_available_cpu() -> None:
    settings = load_settings(environ={})
    assert settings.workers == "auto"
    assert settings.worker_count == len(os.sched_getaffinity(0)) >= 1


@pytest.mark.parametrize(
    ("source", "raw", "count"),
    [
        ("env", "auto", None),
        ("env", " AUTO ", None),
        ("env", "1", 1),
        ("env", "3", 3),
        ("file", '"auto"', None),
        ("file", "1", 1),
        ("file", "3", 3),
        ("file", '"3"', 3),
        ("option", "3", 3),
    ],
)
def test_workers_auto_or_a_number(tmp_path: Path, source: str, raw: str, count: int | None) -> None:
    config = tmp_path / "sipfleet.toml"
    config.write_text(f"workers = {raw}\n")
    settings = load_settings(
        config_file=str(config) if source == "file" else None,
        environ={"SIPFLEET_WORKERS": raw} if source == "env" else {},
        overrides={"workers": raw} if source == "option" else None,
    )
    expected = len(os.sched_getaffinity(0)) if count is None else count
    assert settings.worker_count == expected


def test_auto_counts_the_cpus_this_process_may_run_on() -> None:
    """`taskset`, a container's cpuset: the affinity mask, not every CPU of the machine."""
    before = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {min(before)})
        assert load_settings(environ={}).worker_count == 1
    finally:
        os.sched_setaffinity(0, before)


@pytest.mark.parametrize("raw", ["0", "-2", "two", "", "1.5", "auto2"])
def test_bad_workers_name_the_setting(raw: str) -> None:
    with pytest.raises(ConfigError, match="^workers: .*(auto|at least 1)"):
        load_settings(environ={"SIPFLEET_WORKERS": raw})


@pytest.mark.parametrize("raw", ["0", "true"])
def test_bad_workers_in_a_file_name_the_setting(tmp_path: Path, raw: str) -> None:
    config = tmp_path / "sipfleet.toml"
    config.write_text(f"workers = {raw}\n")
    with pytest.raises(ConfigError, match="^workers:"):
        load_settings(config_file=str(config), environ={})


def test_the_workers_line_says_how_many_and_why() -> None:
    assert describe_workers("auto", 4) == "4 worker processes (workers = auto: 4 CPUs)"
    assert describe_workers("auto", 1) == "1 process (workers = auto: 1 CPU)"
    assert describe_workers("3", 3) == "3 worker processes (workers = 3)"
    assert describe_workers("1", 1) == "1 process (workers = 1)"
