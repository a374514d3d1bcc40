"""Every worker's HTTP socket queues a burst of new connections instead of dropping them:
a building's phones booting at once open two connections each within a second, and a SYN
the kernel drops is retried by the phone only after 1, 3, 7 s."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.processes import start_sipfleet
from tests.support.waiting import wait_for


@pytest.mark.skipif(shutil.which("ss") is None, reason="needs ss (Debian iproute2)")
def test_each_worker_listens_with_a_deep_backlog(tmp_path: Path, database_url: str) -> None:
    service = start_sipfleet(
        tmp_path / "data", env={"SIPFLEET_DATABASE_URL": database_url}, workers="2"
    )
    try:
        wait_for(lambda: "started 2 worker processes" in service.log(), 60, "every worker")

        def backlogs() -> list[int]:
            listing = subprocess.run(
                ["ss", "-ltnH", f"sport = :{service.http_port}"],
                capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip
            # State Recv-Q Send-Q Local Peer: for a listening socket Send-Q is its backlog
            return [int(line.split()[2]) for line in listing.splitlines() if line.strip()]

        wait_for(lambda: len(backlogs()) == 2, 30, "two listening HTTP sockets")
        assert all(backlog == 1024 for backlog in backlogs()), backlogs()
    finally:
        assert service.stop() == 0
