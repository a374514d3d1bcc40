"""Files sipfleet keeps in its data directory: the secret key, the first admin token and
the lock saying who owns the directory and its embedded PostgreSQL.

The key and token are written with mode 0600 from the first byte (os.open with the mode,
no chmod race) and never printed: the CLI prints where the token file is, not its content.
The lock is held by a running server for its whole life, or by a CLI command while it
runs with no server; the lock file names the holder so that others know which it is.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from pathlib import Path

log = logging.getLogger(__name__)

SECRET_KEY_FILE = "secret.key"
ADMIN_TOKEN_FILE = "admin-token"


def prepare(data_dir: Path) -> None:
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)


def write_private(path: Path, content: str) -> None:
    """Create `path` with mode 0600 holding `content`; fails if it exists."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(content)


def load_or_create_secret_key(data_dir: Path, configured: str) -> bytes:
    """The configured key, else the one in data_dir, else a new one written there."""
    if configured:
        return bytes.fromhex(configured)
    path = data_dir / SECRET_KEY_FILE
    if not path.exists():
        write_private(path, secrets.token_hex(32) + "\n")
    return bytes.fromhex(path.read_text(encoding="utf-8").strip())


LOCK_FILE = "sipfleet.lock"

# Who holds the lock, written into the lock file after the pid: a server (`serve`), or a
# short CLI command (`cli`) that owns the embedded PostgreSQL only while it runs.
HOLDER_SERVE = "serve"
HOLDER_CLI = "cli"
# How long a process waits for a CLI command to release the data directory (a server
# starting while `sipfleet db upgrade` runs waits for it rather than refusing to start).
CLI_LOCK_PATIENCE_SECONDS = 30.0


class DataDirInUse(Exception):
    """Another running sipfleet holds the data directory."""

    def __init__(self, message: str, holder: str, pid: int | None) -> None:
        super().__init__(message)
        self.holder = holder
        self.pid = pid


def lock_holder(data_dir: Path) -> tuple[int | None, str]:
    """The pid and kind of the process recorded in the lock file (a file written by an
    older sipfleet holds only the pid: a server)."""
    try:
        fields = (data_dir / LOCK_FILE).read_text(encoding="ascii").split()
    except (OSError, UnicodeDecodeError):
        return None, HOLDER_SERVE
    pid = int(fields[0]) if fields and fields[0].isdigit() else None
    return pid, fields[1] if len(fields) > 1 else HOLDER_SERVE


def _try_lock(data_dir: Path, holder: str) -> int | None:
    import fcntl

    fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()} {holder}\n".encode())
    return fd


def lock_data_dir(
    data_dir: Path,
    holder: str = HOLDER_SERVE,
    *,
    patience: float = CLI_LOCK_PATIENCE_SECONDS,
) -> int:
    """Hold an exclusive lock on the data directory for the life of the process.

    The kernel drops it when the process dies (even by kill -9), so a stale lock file
    never blocks a restart. A lock held by a CLI command is waited for (up to `patience`
    seconds); one held by a server raises `DataDirInUse` at once. Returns the descriptor
    to keep open.
    """
    started = time.monotonic()
    waiting_logged = False
    while True:
        fd = _try_lock(data_dir, holder)
        if fd is not None:
            return fd
        pid, other = lock_holder(data_dir)
        waited = time.monotonic() - started
        if pid is None and waited < min(patience, 2.0):  # its holder is writing it
            time.sleep(0.05)
            continue
        if other == HOLDER_CLI and waited < patience:
            if not waiting_logged:
                log.info("waiting for the sipfleet command (pid %s) using %s", pid, data_dir)
                waiting_logged = True
            time.sleep(0.1)
            continue
        what = "a sipfleet command" if other == HOLDER_CLI else "another running sipfleet"
        raise DataDirInUse(
            f"data_dir: {data_dir} is in use by {what}" + (f" (pid {pid})" if pid else ""),
            other,
            pid,
        )


def unlock_data_dir(fd: int) -> None:
    os.close(fd)
