"""The background worker: takes due redirect work from the database, calls the vendors,
writes the outcome and its event.

Theory of operation. Work lives in `redirect_jobs` (db/redirects.py), so it survives a
restart: a row is claimed with its attempt counted and a lease; the vendor is called
outside any transaction; the outcome is written only if the row is still the claimed
generation. A call that dies with its process leaves the lease to expire and the row due
again. Outcomes:
- success: a registration becomes `registered` (event `phone.redirect_registered`), a
  removal row is deleted (`phone.redirect_removed`);
- a permanent refusal, or a transient one at the last allowed attempt: `failed` with the
  service's reason (`phone.redirect_failed`), until retried by hand;
- otherwise: still pending, due again after an exponential backoff
  (`redirect_retry_seconds` × 2^(attempt−1), at most an hour).
Reasons are scrubbed of every credential before they are stored, shown or logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

import aiohttp
import asyncpg

from db import events as event_queries
from db import redirects as queries
from db.errors import DB_ERRORS
from db.redirects import RedirectJob
from provisioning.config import Settings
from provisioning.credentials import SecretBox
from provisioning.fileserver.httpauth import provisioning_password
from provisioning.redirect import registry, sync
from provisioning.redirect.model import RedirectError, Send, Target, VendorClient, scrub
from provisioning.redirect.transport import aiohttp_sender

log = logging.getLogger(__name__)

BACKOFF_CAP = 3600.0
REGISTERED_EVENT = "phone.redirect_registered"
REMOVED_EVENT = "phone.redirect_removed"
FAILED_EVENT = "phone.redirect_failed"


def backoff(attempt: int, base: float, cap: float = BACKOFF_CAP) -> float:
    """Seconds to wait after the `attempt`-th failed call (1-based)."""
    return float(min(base * 2 ** max(attempt - 1, 0), cap))


def event_subject(job: RedirectJob) -> tuple[str | None, dict[str, Any]]:
    """(phone id, details) of an event about the job's subject."""
    details: dict[str, Any] = {
        "vendor": job.vendor,
        "service": registry.SERVICES[job.vendor].name if job.vendor in registry.SERVICES else "",
        "mac": job.mac_address,
        "action": job.action,
        "attempts": job.attempts,
    }
    if job.subject_kind == "dect":
        details["dectPhone"] = job.subject_id
        return None, details
    return job.subject_id, details


class RedirectRunner:
    """One per worker process; any number of them share the work through the database."""

    def __init__(
        self,
        pool: asyncpg.Pool[Any],
        settings: Settings,
        box: SecretBox,
        *,
        clients: Mapping[str, VendorClient] | None = None,
        send: Send | None = None,
        batch: int = 8,
        poll_seconds: float = 2.0,
        reconcile: bool = True,
    ) -> None:
        self.pool = pool
        self.settings = settings
        self.box = box
        self.clients = dict(registry.clients(settings) if clients is None else clients)
        self._send = send
        self.batch = batch
        self.poll_seconds = poll_seconds
        self.reconcile_at_start = reconcile
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def lease_seconds(self) -> float:
        return self.settings.redirect_timeout * 2 + 5.0

    async def open(self) -> None:
        """The HTTP client, without the background loop (`run_once` drives the work)."""
        if self._send is None:
            timeout = aiohttp.ClientTimeout(total=self.settings.redirect_timeout)
            self._session = aiohttp.ClientSession(timeout=timeout)
            self._send = aiohttp_sender(self._session)

    async def start(self) -> None:
        await self.open()
        self._task = asyncio.create_task(self._loop(), name="redirect-runner")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    def wake(self) -> None:
        """Work was queued: look now instead of at the next poll."""
        self._wake.set()

    async def _loop(self) -> None:
        if self.reconcile_at_start:
            try:
                await sync.reconcile(self.pool, self.settings)
            except DB_ERRORS as exc:
                log.warning("redirect: start-up reconciliation failed: %s", type(exc).__name__)
        while True:
            try:
                done = await self.run_once()
            except DB_ERRORS as exc:
                log.warning("redirect: cannot read pending work: %s", type(exc).__name__)
                done = 0
            if done:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
            self._wake.clear()

    async def run_once(self) -> int:
        """Claim what is due and do it; returns how many jobs were done."""
        async with self.pool.acquire() as conn, conn.transaction():
            jobs = await queries.claim(conn, limit=self.batch, lease_seconds=self.lease_seconds)
        await asyncio.gather(*(self._process(job) for job in jobs))
        return len(jobs)

    def _target(self, job: RedirectJob) -> Target:
        user = password = None
        if self.settings.provisioning_http_auth:
            user, password = job.mac_address, provisioning_password(self.box.key, job.mac_address)
        return Target(
            mac=job.mac_address,
            url=job.url,
            serial=job.serial,
            http_user=user,
            http_password=password,
        )

    async def _call(self, job: RedirectJob, target: Target) -> None:
        client = self.clients.get(job.vendor)
        if client is None:
            raise RedirectError(registry.not_configured_reason(job.vendor), permanent=True)
        assert self._send is not None, "start() first"
        work = client.register if job.action == "register" else client.unregister
        try:
            await asyncio.wait_for(work(self._send, target), self.settings.redirect_timeout)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            what = "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
            raise RedirectError(f"could not reach {client.service}: {what}") from None

    async def _process(self, job: RedirectJob) -> None:
        target = self._target(job)
        secrets = tuple(s for client in self.clients.values() for s in client.secrets())
        secrets += tuple(s for s in (target.http_password,) if s)
        try:
            await self._call(job, target)
        except RedirectError as error:
            await self._failed(job, scrub(error.reason, secrets), permanent=error.permanent)
            return
        except Exception as exc:  # a surprise in one answer must not stop the runner
            log.exception("redirect: %s %s: unexpected error", job.subject_kind, job.subject_id)
            await self._failed(job, f"unexpected error: {type(exc).__name__}", permanent=False)
            return
        await self._succeeded(job)

    async def _succeeded(self, job: RedirectJob) -> None:
        phone_id, details = event_subject(job)
        async with self.pool.acquire() as conn, conn.transaction():
            if job.action == "register":
                if not await queries.mark_registered(conn, job):
                    return
                event, details["url"] = REGISTERED_EVENT, job.url
            else:
                if not await queries.mark_removed(conn, job):
                    return
                event = REMOVED_EVENT
            await event_queries.append_event(
                conn, event, phone_id=phone_id, customer_id=job.customer_id, details=details
            )
        log.info(
            "redirect: %s %s %s with %s",
            job.subject_kind,
            job.subject_id,
            "registered" if job.action == "register" else "removed",
            details["service"],
        )

    async def _failed(self, job: RedirectJob, reason: str, *, permanent: bool) -> None:
        final = permanent or job.attempts >= self.settings.redirect_max_attempts
        async with self.pool.acquire() as conn, conn.transaction():
            if not final:
                delay = backoff(job.attempts, self.settings.redirect_retry_seconds)
                await queries.retry_later(conn, job, reason, delay)
                log.info(
                    "redirect: %s %s attempt %d failed (%s); again in %.0f s",
                    job.subject_kind,
                    job.subject_id,
                    job.attempts,
                    reason,
                    delay,
                )
                return
            if not await queries.mark_failed(conn, job, reason):
                return
            phone_id, details = event_subject(job)
            details["reason"] = reason
            await event_queries.append_event(
                conn, FAILED_EVENT, phone_id=phone_id, customer_id=job.customer_id, details=details
            )
        log.warning(
            "redirect: %s %s %s failed: %s", job.subject_kind, job.subject_id, job.action, reason
        )
