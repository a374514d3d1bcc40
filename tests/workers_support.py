"""Helpers for `sipfleet serve` with worker processes: the workers of a running service,
HTTP over a fresh connection per request (so requests spread across workers), and a phone
whose Contact stays put while its source port changes (a NAT rebinding)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import psutil

from tests.process import SipfleetProcess
from tests.prov.sipclient import SipPhone

WORKER_HEADER = "X-Sipfleet-Worker"
ADMIN_TOKEN = "sft_workers-test-admin-token"


def worker_pids(service: SipfleetProcess) -> list[int]:
    """PIDs of the worker processes (children running provisioning.app.workers)."""
    try:
        children = psutil.Process(service.process.pid).children()
    except psutil.NoSuchProcess:
        return []
    pids = []
    for child in children:
        try:
            if "provisioning.app.workers" in " ".join(child.cmdline()):
                pids.append(child.pid)
        except psutil.NoSuchProcess:
            continue
    return sorted(pids)


def wait_for(predicate: Any, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class Http:
    """JSON over HTTP, one new TCP connection per request."""

    base_url: str
    token: str = ADMIN_TOKEN

    async def request(
        self, method: str, path: str, body: Any = None
    ) -> tuple[int, Any, str | None]:
        """(status, JSON body, answering worker)."""
        connector = aiohttp.TCPConnector(force_close=True)
        headers = {"Authorization": f"Bearer {self.token}"}
        async with (
            aiohttp.ClientSession(connector=connector) as session,
            session.request(method, self.base_url + path, json=body, headers=headers) as response,
        ):
            data = await response.json(content_type=None)
            return response.status, data, response.headers.get(WORKER_HEADER)


@dataclass
class RebindingPhone(SipPhone):
    """A SipPhone whose Contact can name another phone socket's address: the same device
    behind a NAT that gave it a new public port."""

    contact_address: tuple[str, int] | None = None

    def _register_request(self, cseq: int, call_id: str, auth: str | None) -> bytes:
        data = super()._register_request(cseq, call_id, auth)
        if self.contact_address is None:
            return data
        host, port = self.local
        fixed_host, fixed_port = self.contact_address
        return data.replace(
            f"Contact: <sip:{self.username}@{host}:{port};".encode(),
            f"Contact: <sip:{self.username}@{fixed_host}:{fixed_port};".encode(),
        )


async def settle(seconds: float = 0.3) -> None:
    """Let notifications between nodes arrive (they follow a commit)."""
    await asyncio.sleep(seconds)
