"""The embedded PostgreSQL of the default setup, kept in `<data_dir>/postgres`.

pgserver ships the PostgreSQL binaries. We start the server through it and stop it
ourselves: pgserver only stops a server from the process that started it, and a server
left running by a process that was killed (kill -9) is found again and reused here, so
the next `sipfleet serve` recovers with no manual cleanup. A stale `postmaster.pid` left
by a killed server is handled by `pg_ctl start` itself.

`start_embedded` records whether this process started the server or found it running, so
a caller that must not stop what others use (the CLI) can tell; `running_embedded` only
reads `postmaster.pid` and never starts, creates or stops anything.
"""

from __future__ import annotations

import logging
import os
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path

from db.errors import DatabaseError

log = logging.getLogger(__name__)


@dataclass(slots=True)
class EmbeddedPostgres:
    """A running embedded server: its data directory, connection URI, and whether this
    process started it (False: it was found running)."""

    pgdata: Path
    uri: str
    started: bool = True

    def running(self) -> bool:
        """Whether its postmaster is alive (ready or not: it may be recovering)."""
        try:
            pid = int((self.pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return False
        return _alive(pid)

    def start_again(self) -> None:
        """Start the server again after it stopped under us (killed, crashed, stopped from
        outside): the same data directory and socket, so the same URI."""
        _remove_stale_pid_file(self.pgdata)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR unset
            import pgserver

            try:
                # the instance of this data directory (pgserver keeps one per process)
                server = pgserver.get_server(self.pgdata, cleanup_mode=None)  # type: ignore[attr-defined]
                server.ensure_postgres_running()
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
                raise DatabaseError(
                    f"the embedded PostgreSQL in {self.pgdata} did not start again ({exc})"
                ) from None

    def stop(self) -> None:
        """Stop the server (fast shutdown: open sessions are rolled back)."""
        from pgserver import _commands

        user = "pgserver" if os.geteuid() == 0 else None
        try:
            _commands.pg_ctl(  # type: ignore[attr-defined]
                ["-w", "-m", "fast", "stop"], pgdata=self.pgdata, user=user
            )
        except subprocess.CalledProcessError as exc:  # already stopped
            log.info("embedded PostgreSQL was not running: %s", exc)


def _alive(pid: int) -> bool:
    """Whether `pid` is a live postgres process (a zombie is not)."""
    import psutil

    try:
        process = psutil.Process(pid)
        return bool(process.status() != psutil.STATUS_ZOMBIE and process.name() == "postgres")
    except psutil.Error:
        return False


def _remove_stale_pid_file(pgdata: Path) -> None:
    """Drop `postmaster.pid` when its server is gone.

    pgserver trusts the pid file when the pid exists; a killed server whose process
    is left as a zombie (no init reaping it, as in some containers) would be taken
    for a running one, and the connection then refused.
    """
    pid_file = pgdata / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return
    if not _alive(pid):
        log.info("removing stale %s (pid %d is gone)", pid_file, pid)
        pid_file.unlink(missing_ok=True)
        # the socket lock names the same dead pid; PostgreSQL would refuse to start
        for stale in pgdata.glob(".s.PGSQL.*"):
            stale.unlink(missing_ok=True)


def _running_uri(pgdata: Path) -> str | None:
    """The URI of the server `postmaster.pid` names, when it is alive and ready."""
    from pgserver.utils import PostmasterInfo

    try:
        info = PostmasterInfo.read_from_pgdata(pgdata)
    except (OSError, ValueError, AssertionError):  # absent, or half written at start
        return None
    if info is None or not info.is_running() or info.status != "ready":
        return None
    return str(info.get_uri())


def running_embedded(data_dir: Path) -> EmbeddedPostgres | None:
    """The embedded PostgreSQL of `data_dir` if it is running; starts nothing."""
    pgdata = data_dir / "postgres"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR unset
        uri = _running_uri(pgdata)
    return None if uri is None else EmbeddedPostgres(pgdata=pgdata, uri=uri, started=False)


def start_embedded(data_dir: Path) -> EmbeddedPostgres:
    """Start (or find running) the embedded PostgreSQL under `data_dir`."""
    pgdata = data_dir / "postgres"
    pgdata.mkdir(parents=True, exist_ok=True)
    _remove_stale_pid_file(pgdata)
    # what is left in postmaster.pid now is a live server: found, not started here
    found_running = (pgdata / "postmaster.pid").exists()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR unset
        import pgserver

        try:
            server = pgserver.get_server(pgdata, cleanup_mode=None)  # type: ignore[attr-defined]
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
            raise DatabaseError(
                f"database_url: the embedded PostgreSQL in {pgdata} did not start ({exc})"
            ) from None
    return EmbeddedPostgres(pgdata=pgdata, uri=server.get_uri(), started=not found_running)
