"""The CLI (`token create`, `db status`, `db upgrade`) beside a running `sipfleet serve`,
as real processes: it uses the server's embedded PostgreSQL and never stops it, stops
only a PostgreSQL it started itself, and never creates a data directory."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from provisioning.app import datadir
from tests.support.processes import (
    base_env,
    http_json,
    sipfleet_command,
    start_sipfleet,
    wait_healthy,
)


@pytest.fixture
def data_root() -> Iterator[Path]:
    """A directory for data directories outside pytest's base temp directory: pytest
    resets that one to mode 0700 when another session starts, and PostgreSQL, run as its
    own user under root, could then no longer be stopped there."""
    root = Path(tempfile.mkdtemp(prefix="sf-cli-"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        sipfleet_command(*args),
        env=base_env(env),
        capture_output=True,
        text=True,
        timeout=90,
        cwd=Path(__file__).resolve().parent.parent,
    )


def _postgres_pids(data_dir: Path) -> set[int]:
    found = set()
    for proc in psutil.process_iter(attrs=["name", "cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if proc.info["name"] == "postgres" and any(str(data_dir) in part for part in cmdline):
            found.add(proc.pid)
    return found


def _wait_no_postgres(data_dir: Path, timeout: float = 5.0) -> set[int]:
    deadline = time.monotonic() + timeout
    while (pids := _postgres_pids(data_dir)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return pids


def _one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def _assert_healthy_for(base_url: str, seconds: float) -> None:
    """/healthz answers 200 throughout, not only once (a stopped PostgreSQL shows at once)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert http_json(base_url + "/healthz") == (200, {"status": "ok"})
        time.sleep(0.1)


def test_token_create_and_db_commands_beside_a_running_server(data_root: Path) -> None:
    data_dir = data_root / "data"
    service = start_sipfleet(data_dir)
    try:
        admin = (data_dir / "admin-token").read_text().strip()
        status, customer = http_json(service.base_url + "/api/customers", admin, {"name": "Acme"})
        assert status == 201, customer
        postgres = _postgres_pids(data_dir)
        assert postgres
        env = {"SIPFLEET_DATA_DIR": str(data_dir)}

        result = _cli(
            "token", "create", "--level", "MANAGER", "--customer", customer["_id"], env=env
        )
        assert result.returncode == 0, result.stderr
        token = result.stdout.strip()
        assert token.startswith("sft_") and token not in result.stderr

        _assert_healthy_for(service.base_url, 1.0)
        status, listed = http_json(service.base_url + "/api/customers", token)
        assert status == 200 and [c["_id"] for c in listed["items"]] == [customer["_id"]]
        status, created = http_json(
            service.base_url + "/api/extensions",
            token,
            {"customer": customer["_id"], "number": "101", "name": "Reception"},
        )
        assert status == 201, created

        for command in (("db", "status"), ("db", "upgrade")):
            result = _cli(*command, env=env)
            assert result.returncode == 0, result.stderr
            assert "0001 inventory" in result.stdout and "pending" not in result.stdout
        _assert_healthy_for(service.base_url, 1.0)

        # a bad customer: one line naming the data directory; the server is untouched
        line = _one_line(
            _cli("token", "create", "--level", "OWNER", "--customer", "f" * 24, env=env)
        )
        assert line.startswith("sipfleet: --customer: no customer") and str(data_dir) in line
        assert http_json(service.base_url + "/api/customers", token)[0] == 200
        assert _postgres_pids(data_dir) == postgres  # the same server, never restarted
        assert "database unavailable" not in service.log()
    finally:
        assert service.stop() == 0
    assert "Traceback" not in service.log()
    assert _wait_no_postgres(data_dir) == set()


def test_cli_without_a_server_stops_only_the_postgres_it_started(data_root: Path) -> None:
    data_dir = data_root / "data"
    env = {"SIPFLEET_DATA_DIR": str(data_dir)}
    service = start_sipfleet(data_dir)
    assert service.stop() == 0
    assert _wait_no_postgres(data_dir) == set()

    # nobody holds the data directory: the command starts PostgreSQL and stops it after
    result = _cli("token", "create", "--level", "ADMIN", "--name", "cli", env=env)
    assert result.returncode == 0, result.stderr
    assert _wait_no_postgres(data_dir) == set()

    # a PostgreSQL left running by a killed server is used and left running
    killed = start_sipfleet(data_dir)
    killed.process.kill()
    killed.process.wait()
    left = _postgres_pids(data_dir)
    assert left
    try:
        result = _cli("db", "status", env=env)
        assert result.returncode == 0, result.stderr
        assert _postgres_pids(data_dir) == left
        # and the next server adopts it, with the token the command created
        again = start_sipfleet(data_dir)
        try:
            admin = (data_dir / "admin-token").read_text().strip()
            status, tokens = http_json(again.base_url + "/api/tokens", admin)
            assert status == 200 and "cli" in [t["name"] for t in tokens["items"]]
        finally:
            assert again.stop() == 0
    finally:
        for pid in _postgres_pids(data_dir):
            psutil.Process(pid).kill()


def test_a_server_starting_waits_for_a_cli_command_holding_the_data_dir(
    tmp_path: Path, database_url: str
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    fd = datadir.lock_data_dir(data_dir, datadir.HOLDER_CLI)
    try:
        service = start_sipfleet(data_dir, env={"SIPFLEET_DATABASE_URL": database_url}, wait=False)
        time.sleep(1.5)
        assert service.process.poll() is None, service.log()  # waiting, not refused
    finally:
        datadir.unlock_data_dir(fd)
    try:
        wait_healthy(service)
    finally:
        assert service.stop() == 0


@pytest.mark.parametrize(
    "command", [("token", "create", "--level", "ADMIN"), ("db", "status"), ("db", "upgrade")]
)
@pytest.mark.parametrize("xdg", [False, True])
def test_cli_with_no_data_dir_says_so_and_creates_nothing(
    tmp_path: Path, command: tuple[str, ...], xdg: bool
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home)}
    expected = home / ".local" / "share" / "sipfleet"
    if xdg:
        env["XDG_DATA_HOME"] = str(tmp_path / "xdg")
        expected = tmp_path / "xdg" / "sipfleet"
    result = _cli(*command, env=env)
    line = _one_line(result)
    assert line.startswith(f"sipfleet: data_dir: {expected} does not exist"), line
    assert result.stdout == ""
    assert list(home.iterdir()) == []
    assert not (tmp_path / "xdg").exists()


def test_cli_on_a_directory_with_no_database_creates_nothing(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    line = _one_line(_cli("db", "upgrade", env={"SIPFLEET_DATA_DIR": str(empty)}))
    assert line.startswith(f"sipfleet: data_dir: {empty} holds no embedded database ("), line
    assert list(empty.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "start"),
    [
        (("--level", "MANAGER"), "--customer: a MANAGER token belongs to a customer"),
        (("--level", "ADMIN", "--customer", "a" * 24), "--customer: an ADMIN token belongs to no"),
        (("--level", "RESELLER"), "--reseller: a RESELLER token belongs to a reseller"),
        (("--level", "OWNER", "--customer", "a" * 24, "--reseller", "b" * 24), "--reseller:"),
        (("--level", "ADMIN", "--name", "x" * 201), "--name: at most 200 characters"),
    ],
)
def test_token_create_misuse_is_one_line_naming_the_data_dir(
    tmp_path: Path, args: tuple[str, ...], start: str
) -> None:
    line = _one_line(_cli("token", "create", *args, env={"SIPFLEET_DATA_DIR": str(tmp_path)}))
    assert line.startswith(f"sipfleet: {start}"), line
    assert line.endswith(f"(data_dir {tmp_path})"), line
    assert list(tmp_path.iterdir()) == []
