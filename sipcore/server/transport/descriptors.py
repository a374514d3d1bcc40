"""File descriptors: the open-files limit, the share of it SIP connections may use, and
what happens when none is left.

Every TCP, TLS or WebSocket connection holds a descriptor for its whole life, and the
usual soft limit is 1,024: about a thousand idle connections used to starve the process
— `/healthz`, the API and new SIP connections failed, and nothing said why. So:

- `raise_open_files_limit` lifts the soft limit to the hard one once at start (the
  supervisor before it starts the workers, which inherit it) and the start-up log says
  what it is;
- `connection_budget` is how many SIP stream connections one process may hold: the
  limit less a reserve (an eighth, at least `RESERVE_MIN`) for HTTP, the database pool,
  LISTEN connections and the listeners themselves, so that a flood of SIP connections is
  refused at the SIP door (`sipcore.server.transport.connections.ConnectionTable.admit`) while
  `/healthz` and the API still get descriptors;
- `DescriptorGuard` keeps one spare descriptor: when `accept()` fails for lack of them
  (EMFILE/ENFILE, some other part of the process used them up) the listener releases it
  to accept the waiting connection and close it at once — so the connection is refused
  rather than left hanging in the backlog, and the listener does not spin on a socket
  that stays readable — and the failure is logged once per `LOG_INTERVAL`, with how many
  connections were refused, not once per attempt. Each periodic sweep also tries to take
  one descriptor, so running out is logged when no SIP connection is being accepted too.
"""

from __future__ import annotations

import errno
import logging
import os
import resource
import socket
import time

from sipcore import metrics

log = logging.getLogger(__name__)

RESERVE_MIN = 128  # descriptors kept from SIP connections, at the least
LOG_INTERVAL = 10.0  # seconds between two warnings about running out of descriptors
NO_DESCRIPTORS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_NR_OPEN = "/proc/sys/fs/nr_open"  # the kernel's ceiling for an unlimited hard limit


def raise_open_files_limit() -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE to the hard one; (soft, hard) afterwards. Logged."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard
    if hard == resource.RLIM_INFINITY:
        try:
            with open(_NR_OPEN, encoding="ascii") as handle:
                wanted = int(handle.read().strip())
        except (OSError, ValueError):
            wanted = 1 << 20
    if wanted > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (OSError, ValueError) as exc:
            log.warning("open files limit stays %d: cannot raise it to %d: %s", soft, wanted, exc)
    shown = "unlimited" if hard == resource.RLIM_INFINITY else str(hard)
    log.info(
        "open files limit %d (hard limit %s); SIP stream connections up to %d per process",
        soft, shown, connection_budget(soft),
    )  # fmt: skip
    return soft, hard


def open_files_limit() -> int:
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def connection_budget(limit: int | None = None) -> int:
    """SIP stream connections one process may hold: the soft limit less the reserve."""
    soft = open_files_limit() if limit is None else limit
    if soft == resource.RLIM_INFINITY or soft <= 0:
        return 1 << 30
    return max(soft - max(RESERVE_MIN, soft // 8), 16)


class DescriptorGuard:
    """One spare descriptor and the once-per-interval warning about running out."""

    def __init__(self) -> None:
        self._spare: int | None = None
        self._last_log = -LOG_INTERVAL
        self._refused = 0  # connections refused for lack of descriptors since the last log
        self._take_spare()

    def _take_spare(self) -> None:
        if self._spare is None:
            try:
                self._spare = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                self._spare = None

    def close(self) -> None:
        if self._spare is not None:
            os.close(self._spare)
            self._spare = None

    def out_of_descriptors(self, transport: str, exc: OSError) -> None:
        """`accept()` on a SIP listener failed for lack of descriptors: count it, and log
        at most once per LOG_INTERVAL."""
        self._refused += 1
        metrics.SIP_CONNECTIONS_REFUSED.labels(transport=transport, reason="no_descriptors").inc()
        self._warn(
            exc,
            f"{self._refused} SIP connection(s) refused in the last "
            f"{LOG_INTERVAL:.0f} s (sipfleet_sip_connections_refused)",
        )

    def _warn(self, exc: OSError, what: str) -> None:
        now = time.monotonic()
        if now - self._last_log < LOG_INTERVAL:
            return
        self._last_log = now
        self._refused = 0
        log.warning(
            "out of file descriptors (%s; open files limit %d): %s",
            os.strerror(exc.errno or errno.EMFILE), open_files_limit(), what,
        )  # fmt: skip

    def shed(self, listener: socket.socket) -> bool:
        """Accept one waiting connection on the spare descriptor and close it at once.
        False when there is no spare (the caller should stop reading for a moment)."""
        if self._spare is None:
            self._take_spare()
            return False
        os.close(self._spare)
        self._spare = None
        try:
            conn, _ = listener.accept()
        except OSError:
            pass
        else:
            conn.close()
        self._take_spare()
        return True

    def probe(self) -> None:
        """Try to take one descriptor (each sweep): running out is logged even when no
        SIP listener is the one that meets it (HTTP, database connections)."""
        try:
            fd = os.dup(self._spare) if self._spare is not None else os.open(os.devnull, 0)
        except OSError as exc:
            if exc.errno in NO_DESCRIPTORS:
                self._warn(exc, "new HTTP, SIP and database connections fail")
            return
        os.close(fd)
        self._take_spare()
