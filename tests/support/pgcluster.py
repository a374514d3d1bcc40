"""PostgreSQL servers a test starts, stops, kills and promotes itself.

The binaries are pgserver's (the ones sipfleet's embedded PostgreSQL runs). Each server
listens on its own loopback TCP port, so its URL stays the same across a restart, and
its data directory lives in a fresh directory under the system temp dir: PostgreSQL
refuses to run as root, so as root it runs as the `pgserver` user, which must be able to
reach the directory.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pgserver
import psutil

BIN = Path(pgserver.__file__).parent / "pginstall" / "bin"
_RUN_AS = "pgserver" if os.geteuid() == 0 else None


def _run(*args: str, timeout: float = 60) -> str:
    result = subprocess.run(
        [str(BIN / args[0]), *args[1:]],
        user=_RUN_AS, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"{args[0]} failed ({result.returncode}): {result.stderr.strip()}")
    return result.stdout


def _own(path: Path) -> None:
    if _RUN_AS is not None:
        entry = pwd.getpwnam(_RUN_AS)
        os.chown(path, entry.pw_uid, entry.pw_gid)


@dataclass
class PgServer:
    """One PostgreSQL server on 127.0.0.1:`port`, data in `pgdata`."""

    pgdata: Path
    port: int
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.pgdata.parent / f"{self.pgdata.name}.log"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def uri(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@{self.host}/{database}"

    def _configure(self) -> None:
        conf = self.pgdata / "postgresql.conf"
        with conf.open("a") as out:
            out.write(
                f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.pgdata}'\n"
                "wal_level = replica\nmax_wal_senders = 4\nhot_standby = on\n"
                "max_connections = 200\n"
            )

    def init(self, *, synchronous_standby: bool = False) -> PgServer:
        """initdb (trust authentication, replication from loopback allowed).
        `synchronous_standby`: a commit returns once a standby has it too (without a
        standby connected, commits wait for one)."""
        _run("initdb", "-D", str(self.pgdata), "--auth=trust", "-U", "postgres",
             "--encoding=utf8")  # fmt: skip
        self._configure()
        if synchronous_standby:
            self._set("synchronous_standby_names = '*'")
        return self

    def _set(self, line: str) -> None:
        with (self.pgdata / "postgresql.conf").open("a") as out:
            out.write(line + "\n")

    def standby_of(self, primary: PgServer) -> PgServer:
        """A streaming-replication standby of `primary` (pg_basebackup -R). Promoted,
        it waits for no standby of its own."""
        _run("pg_basebackup", "-D", str(self.pgdata), "-h", "127.0.0.1", "-p",
             str(primary.port), "-U", "postgres", "-R", "-X", "stream", "-c", "fast")  # fmt: skip
        self._configure()  # its own port (the copied configuration names the primary's)
        self._set("synchronous_standby_names = ''")
        return self

    def start(self) -> None:
        _run("pg_ctl", "-D", str(self.pgdata), "-l", str(self.log_path), "-w", "-t", "30",
             "start")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """pg_ctl stop: `fast` rolls back open sessions, `immediate` is a crash."""
        _run("pg_ctl", "-D", str(self.pgdata), "-w", "-m", mode, "stop")

    def kill(self) -> None:
        """SIGKILL the postmaster and every backend at once, as if its host died."""
        pid = int((self.pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
        postmaster = psutil.Process(pid)
        processes = [postmaster, *postmaster.children(recursive=True)]
        kill_all(processes)

    def promote(self) -> None:
        _run("pg_ctl", "-D", str(self.pgdata), "-w", "promote")

    def running(self) -> bool:
        return subprocess.run(
            [str(BIN / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-t", "1"],
            capture_output=True, check=False,
        ).returncode == 0  # fmt: skip

    def stop_quietly(self) -> None:
        if (self.pgdata / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self.stop("immediate")


def kill_all(processes: list[psutil.Process]) -> None:
    """SIGKILL them and wait until each is gone or a zombie (its parent, now init,
    may not reap it at once)."""
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.send_signal(signal.SIGKILL)
    deadline = time.monotonic() + 10
    for process in processes:
        while time.monotonic() < deadline:
            try:
                if process.status() == psutil.STATUS_ZOMBIE:
                    break
            except psutil.NoSuchProcess:
                break
            time.sleep(0.01)


class PgCluster:
    """A directory holding the test's servers; `close` stops them and removes it."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="sf-outage-pg-"))
        self.root.chmod(0o755)  # the server user must reach its data directory
        self.servers: list[PgServer] = []

    def server(self, name: str, port: int) -> PgServer:
        pgdata = self.root / name
        pgdata.mkdir(mode=0o700)
        _own(pgdata)
        _own(self.root)
        server = PgServer(pgdata, port)
        self.servers.append(server)
        return server

    def close(self) -> None:
        for server in self.servers:
            server.stop_quietly()
        shutil.rmtree(self.root, ignore_errors=True)
