"""Files sipfleet keeps in its data directory: the secret key and the first admin token.

Both are written with mode 0600 from the first byte (os.open with the mode, no chmod
race) and never printed: the CLI prints where the token file is, not its content.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

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


class DataDirInUse(Exception):
    """Another running sipfleet holds the data directory."""


def lock_data_dir(data_dir: Path) -> int:
    """Hold an exclusive lock on the data directory for the life of the process.

    The kernel drops it when the process dies (even by kill -9), so a stale lock file
    never blocks a restart. Returns the descriptor to keep open.
    """
    import fcntl

    fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DataDirInUse(f"data_dir: {data_dir} is in use by another running sipfleet") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def unlock_data_dir(fd: int) -> None:
    os.close(fd)
