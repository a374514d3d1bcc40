"""`sipfleet serve` with `workers` > 1: one supervisor and N worker processes sharing the
ports — the lever for a second core (one Python process saturates one).

The supervisor (the process `sipfleet serve` started) owns what must exist once: the
data-directory lock, the secret key, the embedded PostgreSQL and its migrations, the first
admin token — and the listening sockets: it checks that every port is free (so a port
in use is one clear line, as with one process), then binds each listener, HTTP and SIP,
as a group of N SO_REUSEPORT sockets, so the kernel spreads flows (by their 4-tuple)
across the workers. It starts the workers — `python -m provisioning.app.workers`, each with
its own event loop, asyncpg pool and node id — hands worker i socket i of every group
(inherited file descriptors), the node's shared memory (`provisioning.app.shared_limits`:
failed-auth counts and bans, the unknown-MAC throttle, counted once for all workers) and
its settings through a pipe (secrets never reach argv or the environment). Each worker
is a full sipfleet node (`provisioning.app.service.running_node`). The supervisor keeps the
sockets open for its whole life: a restarted worker gets the same sockets back, so the
groups never change and no flow is rehashed to another worker (see
`sipcore.server.transport.listeners`).

A worker reports "ready" or its one-line start-up error on its stdout pipe, then writes
nothing more there. The supervisor forwards SIGTERM/SIGINT, restarts a worker that dies
(with a growing delay, logged), and on stop waits for the workers before stopping the
database. A worker whose supervisor is gone (its stdin pipe closes) stops by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import signal
import socket
import sys
import time
from typing import Any

import asyncpg

from db import pool as pool_queries
from db.errors import DatabaseError
from provisioning.app import datadir
from provisioning.app.advertise import startup_lines
from provisioning.app.logs import configure_logging
from provisioning.app.runloop import run_main
from provisioning.app.service import (
    StartupError,
    data_dir_locked,
    ensure_admin_token,
    open_database,
    os_error_reason,
    running_node,
    ssl_context_for,
)
from provisioning.app.shared_limits import create_regions
from provisioning.config import ConfigError, Settings, describe_workers, validate
from provisioning.credentials import SecretBox
from sipcore.server.sharedmem import Region, use_regions
from sipcore.server.transport.client import mark_branches
from sipcore.server.transport.listeners import (
    bind_stream_socket,
    bind_udp_socket,
    partition_by_phone,
    share_ports,
    use_sockets,
)

# one listening socket of a worker: kind ("http", "udp", "tcp", "tls"), host, port
SocketKey = tuple[str, str, int]

log = logging.getLogger("provisioning.app.workers")  # also when run as __main__

READY_TIMEOUT = 120.0  # a worker loads the directory and its bindings before it is ready
STOP_TIMEOUT = 3.5  # then SIGKILL: the whole stop stays under 5 s
RESTART_DELAY = 0.5
RESTART_DELAY_MAX = 30.0
STABLE_AFTER = 60.0  # a worker that ran this long restarts after the shortest delay


# --- the supervisor -------------------------------------------------------------------


def check_ports(settings: Settings) -> None:
    """Bind each listener once without SO_REUSEPORT and release it: a port held by any
    other socket (another program, another sipfleet) is refused here with one line,
    where the workers' shared binds would not notice a sipfleet of the same user."""
    host, port = settings.http_address
    wanted = [("http_listen", "tcp", host, port, f"{host}:{port}")]
    wanted += [
        ("sip_listen", "udp" if item.transport == "udp" else "tcp", item.host, item.port, str(item))
        for item in settings.sip_listeners
    ]
    for setting, kind, host, port, label in wanted:
        if port == 0:
            raise StartupError(f"{setting}: {label}: workers > 1 need a fixed port, not 0")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        kind_value = socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM
        with socket.socket(family, kind_value) as sock:
            if kind == "tcp":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError as exc:
                raise StartupError(
                    f"{setting}: cannot listen on {label}: {os_error_reason(exc)}"
                ) from None


def bind_groups(settings: Settings, count: int) -> list[dict[SocketKey, socket.socket]]:
    """Every listener bound `count` times with SO_REUSEPORT: the sockets of each worker;
    with `sip_udp_partition = phone` each UDP group spreads datagrams by phone."""
    host, port = settings.http_address
    wanted = [("http_listen", "http", host, port, f"{host}:{port}")]
    wanted += [
        ("sip_listen", item.transport, item.host, item.port, str(item))
        for item in settings.sip_listeners
    ]
    groups: list[dict[SocketKey, socket.socket]] = [{} for _ in range(count)]
    try:
        for setting, kind, host, port, label in wanted:
            for group in groups:
                try:
                    if kind == "udp":
                        sock = bind_udp_socket(host, port, reuse_port=True)
                    else:
                        sock = bind_stream_socket(host, port, reuse_port=True)
                except OSError as exc:
                    raise StartupError(
                        f"{setting}: cannot listen on {label}: {os_error_reason(exc)}"
                    ) from None
                group[(kind, host, port)] = sock
            if kind == "udp" and settings.sip_udp_partition == "phone" and count > 1:
                # socket i of the group is worker i's: bound in that order just above
                try:
                    partition_by_phone(groups[0][(kind, host, port)], count)
                except (OSError, ValueError) as exc:
                    reason = os_error_reason(exc) if isinstance(exc, OSError) else str(exc)
                    raise StartupError(f"sip_udp_partition: phone on {label}: {reason}") from None
    except BaseException:
        close_groups(groups)
        raise
    return groups


def close_groups(groups: list[dict[SocketKey, socket.socket]]) -> None:
    for group in groups:
        for sock in group.values():
            sock.close()


@dataclasses.dataclass(slots=True)
class Worker:
    index: int
    process: asyncio.subprocess.Process | None = None
    started: float = 0.0
    restarts: int = 0


class Supervisor:
    """Starts, watches and stops the worker processes."""

    def __init__(
        self,
        settings: Settings,
        *,
        dsn: str,
        secret_key: bytes,
        sockets: list[dict[SocketKey, socket.socket]],
        regions: dict[str, Region] | None = None,
    ) -> None:
        self.sockets = sockets
        self.regions = {name: region.fd for name, region in (regions or {}).items() if region.fd}
        self.count = settings.worker_count
        # the workers are told the count, not `auto` (each would count CPUs again)
        worker_settings = dataclasses.replace(
            settings, database_url=dsn, secret_key=secret_key.hex(), workers=str(self.count)
        )
        self._settings = dataclasses.asdict(worker_settings)
        self.workers = [Worker(index) for index in range(self.count)]
        self.stopping = False
        self._watchers: list[asyncio.Task[None]] = []

    async def _spawn(self, worker: Worker) -> str | None:
        """Start one worker and wait for its report: None when ready, else its error."""
        sockets = self.sockets[worker.index]
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "provisioning.app.workers",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            pass_fds=[sock.fileno() for sock in sockets.values()] + list(self.regions.values()),
        )
        worker.process = process
        worker.started = time.monotonic()
        assert process.stdin is not None and process.stdout is not None
        message = {
            "settings": self._settings,
            "index": worker.index,
            "count": self.count,
            "sockets": [[*key, sock.fileno()] for key, sock in sockets.items()],
            "regions": self.regions,
        }
        process.stdin.write(json.dumps(message).encode() + b"\n")
        # stdin stays open: the worker stops when it closes (this process is gone)
        try:
            line = await asyncio.wait_for(process.stdout.readline(), READY_TIMEOUT)
        except TimeoutError:
            return f"workers: worker {worker.index} did not start in {READY_TIMEOUT:.0f} s"
        text = line.decode(errors="replace").strip()
        if text == "ready":
            return None
        if text.startswith("error "):
            return text[len("error ") :]
        code = await process.wait()
        return f"workers: worker {worker.index} exited with status {code} while starting"

    async def start(self) -> None:
        """Start every worker; the first start-up error stops the others and is raised."""
        errors = await asyncio.gather(*(self._spawn(worker) for worker in self.workers))
        failed = [error for error in errors if error is not None]
        if failed:
            await self.stop()
            raise StartupError(failed[0])
        self._watchers = [
            asyncio.get_running_loop().create_task(self._watch(worker)) for worker in self.workers
        ]

    async def _watch(self, worker: Worker) -> None:
        """Restart the worker whenever it dies, waiting longer after each quick death."""
        delay = RESTART_DELAY
        while True:
            assert worker.process is not None
            code = await worker.process.wait()
            if self.stopping:
                return
            if time.monotonic() - worker.started >= STABLE_AFTER:
                delay = RESTART_DELAY
            log.warning(
                "worker %d (pid %d) exited with status %s; restarting in %.1f s",
                worker.index,
                worker.process.pid,
                code,
                delay,
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, RESTART_DELAY_MAX)
            if self.stopping:
                return
            worker.restarts += 1
            error = await self._spawn(worker)
            if self.stopping:
                return
            if error is None:
                log.info("worker %d restarted (pid %d)", worker.index, worker.process.pid)
            else:
                log.warning("worker %d did not restart: %s", worker.index, error)

    async def stop(self) -> None:
        """SIGTERM every worker, wait for them (SIGKILL after STOP_TIMEOUT)."""
        self.stopping = True
        for task in self._watchers:  # no restart from here on
            task.cancel()
        await asyncio.gather(*self._watchers, return_exceptions=True)
        processes = [w.process for w in self.workers if w.process is not None]
        for process in processes:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
        waits = asyncio.gather(*(process.wait() for process in processes))
        try:
            await asyncio.wait_for(waits, STOP_TIMEOUT)
        except TimeoutError:
            for process in processes:
                if process.returncode is None:
                    log.warning("worker pid %d did not stop; killing it", process.pid)
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
            await asyncio.gather(*(process.wait() for process in processes))
        for process in processes:
            if process.stdin is not None:
                process.stdin.close()

    def pids(self) -> list[int]:
        return [w.process.pid for w in self.workers if w.process is not None]


async def check_connection_budget(pool: asyncpg.Pool[Any], settings: Settings, count: int) -> None:
    """Warn when the workers' pools together may need more connections than PostgreSQL
    allows: `workers = auto` on a machine with many CPUs, at the default
    `database_pool_size` and PostgreSQL's default max_connections (100), would have some
    refused under load."""
    wanted = count * settings.database_pool_size + 1  # and the supervisor's one
    try:
        async with pool.acquire() as conn:
            allowed = await pool_queries.connection_limit(conn)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        log.warning("could not read the database's connection limit: %s", exc)
        return
    if wanted > allowed:
        log.warning(
            "workers: %d worker processes with database_pool_size %d may open %d database "
            "connections, more than the %d the database allows; lower workers or "
            "database_pool_size, or raise PostgreSQL's max_connections",
            count,
            settings.database_pool_size,
            wanted,
            allowed,
        )


async def supervise(settings: Settings, stop: asyncio.Event) -> None:
    """Run the database and `settings.workers` worker processes until `stop` is set."""
    count = settings.worker_count
    with data_dir_locked(settings):
        key = datadir.load_or_create_secret_key(settings.data_path, settings.secret_key)
        ssl_context_for(settings)  # a bad certificate is one line here, not one per worker
        check_ports(settings)
        groups = bind_groups(settings, count)
        try:
            database_cm = open_database(settings)
            database = await database_cm.__aenter__()
        except DatabaseError as exc:
            close_groups(groups)
            raise StartupError(str(exc)) from None
        try:
            admin_path = await ensure_admin_token(database.pool, settings)
            await check_connection_budget(database.pool, settings, count)
            dsn = database.embedded.uri if database.embedded else settings.database_url
            supervisor = Supervisor(
                settings, dsn=dsn, secret_key=key, sockets=groups, regions=create_regions(settings)
            )
            await supervisor.start()
            try:
                running = describe_workers(settings.workers, count)
                log.info("started %s", running)
                if admin_path is not None:
                    print(f"sipfleet: first admin API token written to {admin_path}")
                print(
                    f"sipfleet: HTTP on {settings.http_listen}, SIP on "
                    + ", ".join(str(item) for item in settings.sip_listeners)
                    + f" ({running})",
                    flush=True,
                )
                lines = startup_lines(settings, settings.http_address[1])
                print("\n".join(lines), flush=True)
                await stop.wait()
                log.info("shutting down")
            finally:
                await supervisor.stop()
        finally:
            close_groups(groups)
            await database_cm.__aexit__(None, None, None)


# --- a worker -------------------------------------------------------------------------


async def _worker(
    settings: Settings,
    index: int,
    count: int,
    sockets: dict[SocketKey, socket.socket],
    report: Any,
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    def supervisor_pipe() -> None:
        if not os.read(0, 4096):  # EOF: the supervisor is gone
            loop.remove_reader(0)
            stop.set()

    loop.add_reader(0, supervisor_pipe)
    http_socket = sockets.pop(("http", *settings.http_address), None)
    use_sockets(sockets)
    share_ports(count > 1)  # a listener the supervisor did not bind joins the group
    mark_branches(index if count > 1 else None)  # the answers to its requests come back here
    box = SecretBox(bytes.fromhex(settings.secret_key))
    try:
        ssl_context = ssl_context_for(settings)
        database_cm = open_database(settings, upgrade=False)
        database = await database_cm.__aenter__()
    except DatabaseError as exc:
        raise StartupError(str(exc)) from None
    try:
        async with running_node(
            settings,
            database.pool,
            box,
            ssl_context,
            worker_index=index,
            worker_count=count,
            http_socket=http_socket,
        ):
            with contextlib.suppress(OSError):  # the supervisor is gone: stdin says so too
                report.write("ready\n")
                report.close()
            log.info("worker %d of %d ready (pid %d)", index, count, os.getpid())
            await stop.wait()
    finally:
        await database_cm.__aexit__(None, None, None)


def worker_main() -> int:
    """Entry point of a worker process: settings from stdin, "ready" on stdout."""
    report = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # anything printed later goes where the logs go, not into the report pipe
    message = json.loads(sys.stdin.buffer.readline())
    settings = Settings(**message["settings"])
    index, count = int(message["index"]), int(message["count"])
    sockets = {
        (str(kind), str(host), int(port)): socket.socket(fileno=int(fd))
        for kind, host, port, fd in message["sockets"]
    }
    use_regions({str(name): int(fd) for name, fd in message.get("regions", {}).items()})
    try:
        validate(settings)
        configure_logging(settings.log_format, settings.log_level)
        run_main(lambda: _worker(settings, index, count, sockets, report))
    except (ConfigError, StartupError, DatabaseError) as exc:
        with contextlib.suppress(OSError, ValueError):
            report.write(f"error {exc}\n")
            report.close()
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(worker_main())
