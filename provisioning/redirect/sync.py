"""Keep each record's registration in line with the record: called by the API in the
transaction that changed a phone or DECT base (create, MAC or model change, `rps` or
`https` change), by the retry route, and at start for the whole fleet (a vendor account
configured or removed since).

Deletion needs no call: a trigger of migration 0012 releases the registration of every
deleted record, whichever way it went (its own DELETE, a customer's or a base's cascade).
"""

from __future__ import annotations

import logging
from typing import Any

import asyncpg

from db import redirects as queries
from db.redirects import RedirectJob, SubjectRow
from provisioning.config import Settings
from provisioning.fileserver.loader import server_info
from provisioning.redirect import desired, registry
from provisioning.redirect.desired import Current, Facts, Plan

log = logging.getLogger(__name__)


def base_url(settings: Settings) -> str:
    return server_info(settings).provisioning_url


def facts_of(row: SubjectRow) -> Facts:
    return Facts(
        kind=row.kind,
        subject_id=row.subject_id,
        customer_id=row.customer_id,
        vendor=row.vendor,
        model_kind=row.model_kind,
        mac=row.mac_address,
        rps=row.rps,
        https=row.https,
        serial=row.serial,
        secret=row.secret,
        handset=row.handset,
    )


def current_of(job: RedirectJob | None) -> Current | None:
    if job is None:
        return None
    return Current(
        vendor=job.vendor, mac=job.mac_address, url=job.url, serial=job.serial, state=job.state
    )


def plan_for(row: SubjectRow, configured: frozenset[str], base: str) -> Plan:
    return desired.plan(current_of(row.job), desired.wanted(facts_of(row), configured, base))


async def apply(conn: asyncpg.Connection[Any], row: SubjectRow, plan: Plan) -> bool:
    """Write the plan; True when anything changed."""
    if plan.release:
        await queries.release(conn, row.kind, row.subject_id)
    if plan.write is not None:
        want = plan.write
        await queries.write_registration(
            conn,
            kind=row.kind,
            subject_id=row.subject_id,
            customer_id=row.customer_id,
            vendor=want.vendor,
            mac_address=want.mac,
            url=want.url,
            serial=want.serial,
            state=want.state,
            reason=want.reason,
        )
    return plan.release or plan.write is not None


async def sync_subject(
    conn: asyncpg.Connection[Any], settings: Settings, kind: str, subject_id: str
) -> bool:
    """Bring one subject's registration in line (in the caller's transaction); True when
    it changed (the caller then re-reads the record, and wakes the runner after commit)."""
    row = await queries.subject(conn, kind, subject_id, lock=True)
    if row is None:
        return False
    plan = plan_for(row, registry.configured_vendors(settings), base_url(settings))
    return await apply(conn, row, plan)


async def reconcile(pool: asyncpg.Pool[Any], settings: Settings) -> int:
    """Every record whose registration is out of line (the configuration changed since
    it was decided), each brought in line in a transaction of its own. Returns how many."""
    configured = registry.configured_vendors(settings)
    base = base_url(settings)
    async with pool.acquire() as conn:
        rows = await queries.all_subjects(conn)
    changed = 0
    for row in rows:
        plan = plan_for(row, configured, base)
        if not plan.release and plan.write is None:
            continue
        async with pool.acquire() as conn, conn.transaction():
            if await sync_subject(conn, settings, row.kind, row.subject_id):
                changed += 1
    if changed:
        log.info("redirect: %d records brought in line with the configured services", changed)
    return changed
