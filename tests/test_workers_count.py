"""How many worker processes `sipfleet serve` starts, as a real process: by default
(`workers = auto`) one per CPU it may run on, and it says so; a database that allows
fewer connections than the workers' pools may need is warned about at start."""

from __future__ import annotations

import os
import re
from pathlib import Path

import asyncpg

from provisioning.config import describe_workers
from tests.support.processes import start_sipfleet
from tests.support.waiting import wait_for
from tests.support.workers import worker_pids


def test_default_starts_one_worker_per_cpu_and_says_so(tmp_path: Path, database_url: str) -> None:
    cpus = len(os.sched_getaffinity(0))
    service = start_sipfleet(
        tmp_path / "data", env={"SIPFLEET_DATABASE_URL": database_url}, workers=None
    )
    try:
        running = describe_workers("auto", cpus)
        # the line on stdout (once every worker is ready: /healthz answers before that)
        printed = re.compile(rf"^sipfleet: HTTP on .* \({re.escape(running)}\)$", re.M)
        wait_for(lambda: printed.search(service.log()), 60, "the line naming the workers")
        log = service.log()
        if cpus > 1:
            assert f"INFO provisioning.app.workers: started {running}" in log, log
            assert len(worker_pids(service)) == cpus
            for index in range(cpus):
                assert f"worker {index} of {cpus} ready" in log, log
        else:  # one CPU: one process, no supervisor
            assert f"INFO provisioning.app.service: running as {running}" in log, log
            assert worker_pids(service) == []
    finally:
        assert service.stop() == 0


def test_explicit_one_is_one_process(tmp_path: Path, database_url: str) -> None:
    service = start_sipfleet(tmp_path / "data", env={"SIPFLEET_DATABASE_URL": database_url})
    try:
        assert "(1 process (workers = 1))" in service.log()
        assert "running as 1 process (workers = 1)" in service.log()
        assert worker_pids(service) == []
    finally:
        assert service.stop() == 0


async def test_too_many_connections_for_the_database_are_warned_about(
    tmp_path: Path, database_url: str
) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        limit = int(await conn.fetchval("SHOW max_connections"))
    finally:
        await conn.close()
    env = {
        "SIPFLEET_DATABASE_URL": database_url,
        "SIPFLEET_WORKERS": "2",
        "SIPFLEET_DATABASE_POOL_SIZE": str(limit),  # each pool opens one until it needs more
    }
    service = start_sipfleet(tmp_path / "data", env=env)
    try:
        wait_for(lambda: "started 2 worker processes" in service.log(), 60, "every worker")
        log = service.log()
        assert len(worker_pids(service)) == 2
        assert re.search(
            rf"WARNING provisioning.app.workers: workers: 2 worker processes with "
            rf"database_pool_size {limit} may open {2 * limit + 1} database connections, "
            rf"more than the \d+ the database allows",
            log,
        ), log
    finally:
        assert service.stop() == 0
