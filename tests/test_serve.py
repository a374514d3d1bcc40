"""`sipfleet serve` as a real process: embedded database, healthz, shutdown, recovery,
file modes, the CLI's other commands, and one clear line for each bad configuration."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.processes import (
    base_env,
    free_port,
    http_json,
    postgres_processes,
    sigterm,
    sipfleet_command,
    start_sipfleet,
)


def test_embedded_serve_healthz_files_and_clean_sigterm(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    started = time.monotonic()
    service = start_sipfleet(data_dir, env={"SIPFLEET_SECRET_KEY": ""})
    try:
        assert time.monotonic() - started < 15  # includes initdb on a new data dir
        status, body = http_json(service.base_url + "/healthz")
        assert (status, body) == (200, {"status": "ok"})
        for name in ("secret.key", "admin-token"):
            mode = stat.S_IMODE((data_dir / name).stat().st_mode)
            assert mode == 0o600, name
        token = (data_dir / "admin-token").read_text().strip()
        assert token not in service.log()  # printed where, never what
        assert "admin-token" in service.log()
        status, body = http_json(service.base_url + "/api/tokens", token)
        assert status == 200 and body["items"][0]["level"] == "ADMIN"
        assert http_json(service.base_url + "/api/tokens", "wrong")[0] == 401
        assert postgres_processes(data_dir)
    finally:
        code, took = sigterm(service)
    assert code == 0, service.log()
    assert took < 5
    assert "Traceback" not in service.log()
    deadline = time.monotonic() + 5
    while postgres_processes(data_dir) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert postgres_processes(data_dir) == []


def test_restart_after_kill_9_recovers_without_cleanup(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = start_sipfleet(data_dir)
    first.process.kill()
    first.process.wait()
    # the embedded PostgreSQL was left running by the killed process: it is reused
    second = start_sipfleet(data_dir)
    try:
        assert http_json(second.base_url + "/healthz")[0] == 200
    finally:
        assert second.stop() == 0
    # and after PostgreSQL itself was killed (stale postmaster.pid), it restarts
    third = start_sipfleet(data_dir)
    third.process.kill()
    third.process.wait()
    for proc in postgres_processes(data_dir):
        proc.kill()
    fourth = start_sipfleet(data_dir)
    try:
        assert http_json(fourth.base_url + "/healthz")[0] == 200
    finally:
        assert fourth.stop() == 0


def test_admin_token_from_environment(tmp_path: Path, database_url: str) -> None:
    service = start_sipfleet(
        tmp_path / "data",
        env={"SIPFLEET_DATABASE_URL": database_url, "SIPFLEET_ADMIN_TOKEN": "sft_given-token"},
    )
    try:
        assert http_json(service.base_url + "/api/tokens", "sft_given-token")[0] == 200
        assert not (tmp_path / "data" / "admin-token").exists()
        assert "sft_given-token" not in service.log()
    finally:
        service.stop()


def _run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        sipfleet_command(*args),
        env=base_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=Path(__file__).resolve().parent.parent,
    )


def test_token_create_and_db_status(database_url: str) -> None:
    env = {"SIPFLEET_DATABASE_URL": database_url}
    result = _run_cli("db", "status", env=env)
    assert result.returncode == 0, result.stderr
    assert "0001 inventory" in result.stdout and "applied" in result.stdout
    result = _run_cli("token", "create", "--level", "ADMIN", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith("sft_")
    result = _run_cli("token", "create", "--level", "MANAGER", env=env)
    assert result.returncode == 2
    assert result.stderr.startswith("sipfleet: --customer:")


def _assert_one_clear_line(result: subprocess.CompletedProcess[str], setting: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and lines[-1].startswith(f"sipfleet: {setting}"), result.stderr


def test_bad_configuration_unknown_key(tmp_path: Path) -> None:
    config = tmp_path / "sipfleet.toml"
    config.write_text('colour = "blue"\n')
    result = _run_cli("serve", "--config", str(config), env={"SIPFLEET_DATA_DIR": str(tmp_path)})
    _assert_one_clear_line(result, "colour: unknown setting")


def test_bad_configuration_listen_address(tmp_path: Path) -> None:
    result = _run_cli(
        "serve", env={"SIPFLEET_DATA_DIR": str(tmp_path), "SIPFLEET_SIP_LISTEN": "udp:nowhere"}
    )
    _assert_one_clear_line(result, "sip_listen")


def test_bad_configuration_unreachable_database(tmp_path: Path) -> None:
    port = free_port()
    result = _run_cli(
        "serve",
        env={
            "SIPFLEET_DATA_DIR": str(tmp_path),
            "SIPFLEET_DATABASE_URL": f"postgresql://nobody@127.0.0.1:{port}/none",
        },
    )
    _assert_one_clear_line(result, "database_url")


@pytest.mark.parametrize("which", ["http", "sip-udp", "sip-tcp"])
def test_bad_configuration_port_in_use(tmp_path: Path, database_url: str, which: str) -> None:
    kind = socket.SOCK_DGRAM if which == "sip-udp" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as blocker:
        blocker.bind(("127.0.0.1", 0))
        if kind == socket.SOCK_STREAM:
            blocker.listen()
        port = blocker.getsockname()[1]
        env = {
            "SIPFLEET_DATA_DIR": str(tmp_path),
            "SIPFLEET_DATABASE_URL": database_url,
            "SIPFLEET_HTTP_LISTEN": f"127.0.0.1:{port if which == 'http' else free_port()}",
            "SIPFLEET_SIP_LISTEN": (
                f"udp:127.0.0.1:{port}"
                if which == "sip-udp"
                else f"tcp:127.0.0.1:{port}"
                if which == "sip-tcp"
                else f"udp:127.0.0.1:{free_port()}"
            ),
        }
        result = _run_cli("serve", env=env)
    _assert_one_clear_line(result, "http_listen" if which == "http" else "sip_listen")
    assert "in use" in result.stderr


def test_second_serve_on_same_data_dir_is_refused(tmp_path: Path, database_url: str) -> None:
    service = start_sipfleet(tmp_path / "data", env={"SIPFLEET_DATABASE_URL": database_url})
    try:
        result = _run_cli(
            "serve",
            env={
                **{k: v for k, v in service.env.items() if k.startswith("SIPFLEET_")},
                "SIPFLEET_HTTP_LISTEN": f"127.0.0.1:{free_port()}",
                "SIPFLEET_SIP_LISTEN": f"udp:127.0.0.1:{free_port()}",
            },
        )
        _assert_one_clear_line(result, "data_dir")
        assert http_json(service.base_url + "/healthz")[0] == 200
    finally:
        service.stop()


def test_help_documents_every_setting() -> None:
    result = _run_cli("serve", "--help")
    assert result.returncode == 0
    for option in (
        "--data-dir",
        "--database-url",
        "--sip-listen",
        "--sip-domain",
        "--http-listen",
        "--tls-cert",
        "--tls-key",
        "--geoip-database",
        "--secret-key",
    ):
        assert option in result.stdout
    assert "SIPFLEET_SIP_LISTEN" in result.stdout
    _ = os.environ
