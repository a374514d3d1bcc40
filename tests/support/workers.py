"""Helpers for `sipfleet serve` with worker processes: the workers of a running service,
HTTP over a fresh connection per request (so requests spread across workers), and a phone
whose Contact stays put while its source port changes (a NAT rebinding)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import aiohttp
import psutil

from tests.support.processes import SipfleetProcess
from tests.support.sip_client import SipClient

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
class RebindingPhone(SipClient):
    """A SipClient whose Contact can name another phone socket's address: the same device
    behind a NAT that gave it a new public port."""

    contact_address: tuple[str, int] | None = None

    @property
    def contact(self) -> str:
        if self.contact_address is None:
            return super().contact
        host, port = self.contact_address
        return f"<sip:{self.username}@{host}:{port}>"


async def settle(seconds: float = 0.3) -> None:
    """Let notifications between nodes arrive (they follow a commit)."""
    await asyncio.sleep(seconds)
