"""Redirect-service work (`redirect_jobs`, migration 0012): what each phone record and DECT
base wants registered with its vendor's redirect service, the removals still to do, and
the facts the decision is made from.

Callers own the transaction. `subject_facts(lock=True)` takes the subject's row lock,
so that a change of the record and the decision about its registration are serialised.
The runner claims due rows with FOR UPDATE SKIP LOCKED (any worker of any node), holds them
by a lease while it calls the vendor, and finishes them only if `generation` is still the
one it claimed: a row rewritten meanwhile (the MAC changed) is left to its new work.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg


@dataclass(frozen=True, slots=True, kw_only=True)
class RedirectJob:
    id: int
    subject_kind: str
    subject_id: str
    customer_id: str | None
    action: str
    vendor: str
    mac_address: str
    url: str
    serial: str | None
    state: str
    reason: str
    attempts: int
    next_attempt: datetime
    generation: int
    updated: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class SubjectRow:
    """A phone record or DECT base with what decides its redirection, and the
    registration it holds (`job`, None when none)."""

    kind: str
    subject_id: str
    customer_id: str
    vendor: str
    model_kind: str
    mac_address: str | None
    rps: bool
    https: bool
    serial: str | None
    secret: str | None
    handset: bool
    job: RedirectJob | None


_JOB_COLUMNS = """j.id, j.subject_kind, j.subject_id, j.customer_id, j.action, j.vendor,
    j.mac_address, j.url, j.serial, j.state, j.reason, j.attempts, j.next_attempt,
    j.generation, j.updated"""
_JOB_AS = """j.id AS job_id, j.subject_kind AS job_subject_kind, j.subject_id AS job_subject_id,
    j.customer_id AS job_customer_id, j.action AS job_action, j.vendor AS job_vendor,
    j.mac_address AS job_mac_address, j.url AS job_url, j.serial AS job_serial,
    j.state AS job_state, j.reason AS job_reason, j.attempts AS job_attempts,
    j.next_attempt AS job_next_attempt, j.generation AS job_generation,
    j.updated AS job_updated"""
# The columns a phone or base query joins to show its registration (prefix `job_`).
JOB_JOIN_COLUMNS = _JOB_AS


def job_join(kind: str, id_column: str) -> str:
    """LEFT JOIN of a subject's registration, for the record queries of db.phones/db.dect."""
    return (
        f"LEFT JOIN redirect_jobs j ON j.subject_kind = '{kind}' "
        f"AND j.subject_id = {id_column} AND j.action = 'register'"
    )


_PHONES = f"""
SELECT 'phone' AS kind, p.id AS subject_id, p.customer_id, m.vendor, m.kind AS model_kind,
       p.mac_address, coalesce(p.device->'rps' = 'true'::jsonb, false) AS rps,
       coalesce(p.device->'https' = 'true'::jsonb, false) AS https, p.serial,
       c.provisioning_secret AS secret, p.dect_base_id IS NOT NULL AS handset, {_JOB_AS}
FROM sip_phones p
JOIN sip_phone_models m ON m.id = p.model_id
JOIN customers c ON c.id = p.customer_id
{job_join("phone", "p.id")}
"""
_BASES = f"""
SELECT 'dect' AS kind, b.id AS subject_id, b.customer_id, m.vendor, 'dect' AS model_kind,
       b.mac_address, coalesce(b.settings->'rps' = 'true'::jsonb, false) AS rps,
       coalesce(b.settings->'https' = 'true'::jsonb, false) AS https, NULL::text AS serial,
       c.provisioning_secret AS secret, false AS handset, {_JOB_AS}
FROM dect_bases b
JOIN sip_phone_models m ON m.id = b.model_id
JOIN customers c ON c.id = b.customer_id
{job_join("dect", "b.id")}
"""
_PHONE_BY_ID = _PHONES + " WHERE p.id = $1"
_PHONE_LOCK = "SELECT id FROM sip_phones WHERE id = $1 FOR UPDATE"
_BASE_BY_ID = _BASES + " WHERE b.id = $1"
_BASE_LOCK = "SELECT id FROM dect_bases WHERE id = $1 FOR UPDATE"
_ORPHAN = f"""
SELECT {_JOB_COLUMNS} FROM redirect_jobs j
WHERE j.subject_kind = $1 AND j.subject_id = $2 AND j.action = 'register'
"""
_WRITE = """
WITH removals AS (
    DELETE FROM redirect_jobs
    WHERE action = 'unregister' AND vendor = $4 AND mac_address = $5
    RETURNING leased_until
), waited AS (
    SELECT greatest(now(), max(leased_until)) AS at FROM removals
)
INSERT INTO redirect_jobs AS j
    (subject_kind, subject_id, customer_id, action, vendor, mac_address, url, serial, state,
     reason, next_attempt)
SELECT $1, $2, $3, 'register', $4, $5, $6, $7, $8, $9, coalesce(waited.at, now()) FROM waited
ON CONFLICT (subject_kind, subject_id) WHERE action = 'register' DO UPDATE
SET customer_id = EXCLUDED.customer_id, vendor = EXCLUDED.vendor,
    mac_address = EXCLUDED.mac_address, url = EXCLUDED.url, serial = EXCLUDED.serial,
    state = EXCLUDED.state, reason = EXCLUDED.reason, attempts = 0,
    next_attempt = greatest(EXCLUDED.next_attempt, coalesce(j.leased_until, now())),
    generation = j.generation + 1, updated = now()
"""
_RELEASE = "SELECT sipfleet_redirect_release($1, $2)"
_CLAIM = f"""
WITH due AS (
    SELECT id FROM redirect_jobs
    WHERE state = 'pending' AND next_attempt <= now()
      AND (leased_until IS NULL OR leased_until < now())
    ORDER BY next_attempt, id
    LIMIT $1
    FOR UPDATE SKIP LOCKED
)
UPDATE redirect_jobs j
SET attempts = j.attempts + 1, leased_until = now() + make_interval(secs => $2)
FROM due WHERE j.id = due.id
RETURNING {_JOB_COLUMNS}
"""
_REGISTERED = """
UPDATE redirect_jobs SET state = 'registered', reason = '', leased_until = NULL, updated = now()
WHERE id = $1 AND generation = $2 AND action = 'register'
"""
_RETRY_LATER = """
UPDATE redirect_jobs
SET reason = $3, leased_until = NULL, next_attempt = now() + make_interval(secs => $4),
    updated = now()
WHERE id = $1 AND generation = $2
"""
_FAILED = """
UPDATE redirect_jobs SET state = 'failed', reason = $3, leased_until = NULL, updated = now()
WHERE id = $1 AND generation = $2
"""
_REMOVED = "DELETE FROM redirect_jobs WHERE id = $1 AND generation = $2 AND action = 'unregister'"
_RETRY_SUBJECT = """
UPDATE redirect_jobs
SET state = 'pending', reason = '', attempts = 0, next_attempt = greatest(now(),
        coalesce(leased_until, now())), generation = generation + 1, updated = now()
WHERE subject_kind = $1 AND subject_id = $2
  AND ((action = 'register' AND state IN ('pending', 'registered', 'failed'))
       OR (action = 'unregister' AND state = 'failed'))
"""


def _job(row: asyncpg.Record, prefix: str = "") -> RedirectJob:
    return RedirectJob(
        id=row[f"{prefix}id"],
        subject_kind=row[f"{prefix}subject_kind"],
        subject_id=row[f"{prefix}subject_id"],
        customer_id=row[f"{prefix}customer_id"],
        action=row[f"{prefix}action"],
        vendor=row[f"{prefix}vendor"],
        mac_address=row[f"{prefix}mac_address"],
        url=row[f"{prefix}url"],
        serial=row[f"{prefix}serial"],
        state=row[f"{prefix}state"],
        reason=row[f"{prefix}reason"],
        attempts=row[f"{prefix}attempts"],
        next_attempt=row[f"{prefix}next_attempt"],
        generation=row[f"{prefix}generation"],
        updated=row[f"{prefix}updated"],
    )


def joined_job(row: asyncpg.Record) -> RedirectJob | None:
    """The registration of a record query that joined `JOB_JOIN_COLUMNS`."""
    return None if row["job_id"] is None else _job(row, "job_")


def _subject(row: asyncpg.Record) -> SubjectRow:
    return SubjectRow(
        kind=row["kind"],
        subject_id=row["subject_id"],
        customer_id=row["customer_id"],
        vendor=row["vendor"],
        model_kind=row["model_kind"],
        mac_address=row["mac_address"],
        rps=row["rps"],
        https=row["https"],
        serial=row["serial"],
        secret=row["secret"],
        handset=row["handset"],
        job=joined_job(row),
    )


async def subject(
    conn: asyncpg.Connection[Any], kind: str, subject_id: str, *, lock: bool = False
) -> SubjectRow | None:
    """The subject with its registration; with `lock`, row-locked for the transaction."""
    if lock:
        locked = await conn.fetchval(_PHONE_LOCK if kind == "phone" else _BASE_LOCK, subject_id)
        if locked is None:
            return None
    row = await conn.fetchrow(_PHONE_BY_ID if kind == "phone" else _BASE_BY_ID, subject_id)
    return None if row is None else _subject(row)


async def all_subjects(conn: asyncpg.Connection[Any]) -> list[SubjectRow]:
    """Every phone record and DECT base (startup reconciliation)."""
    rows = await conn.fetch(_PHONES)
    rows += await conn.fetch(_BASES)
    return [_subject(row) for row in rows]


async def registration(
    conn: asyncpg.Connection[Any], kind: str, subject_id: str
) -> RedirectJob | None:
    """The registration row of a subject, also when the subject itself is gone."""
    row = await conn.fetchrow(_ORPHAN, kind, subject_id)
    return None if row is None else _job(row)


async def write_registration(
    conn: asyncpg.Connection[Any],
    *,
    kind: str,
    subject_id: str,
    customer_id: str,
    vendor: str,
    mac_address: str,
    url: str,
    serial: str | None,
    state: str,
    reason: str,
) -> None:
    """The registration the subject wants from now on, its attempts counted afresh.
    Removals of the same MAC at the same vendor are dropped: registering replaces the
    entry anyway, and a removal running after it would undo it."""
    await conn.execute(
        _WRITE, kind, subject_id, customer_id, vendor, mac_address, url, serial, state, reason
    )


async def release(conn: asyncpg.Connection[Any], kind: str, subject_id: str) -> None:
    await conn.execute(_RELEASE, kind, subject_id)


async def claim(
    conn: asyncpg.Connection[Any], *, limit: int, lease_seconds: float
) -> list[RedirectJob]:
    """Due work for this runner, each row leased for `lease_seconds`, attempts counted."""
    return [_job(row) for row in await conn.fetch(_CLAIM, limit, lease_seconds)]


async def mark_registered(conn: asyncpg.Connection[Any], job: RedirectJob) -> bool:
    return str(await conn.execute(_REGISTERED, job.id, job.generation)) == "UPDATE 1"


async def retry_later(
    conn: asyncpg.Connection[Any], job: RedirectJob, reason: str, delay_seconds: float
) -> bool:
    result = await conn.execute(_RETRY_LATER, job.id, job.generation, reason, delay_seconds)
    return str(result) == "UPDATE 1"


async def mark_failed(conn: asyncpg.Connection[Any], job: RedirectJob, reason: str) -> bool:
    return str(await conn.execute(_FAILED, job.id, job.generation, reason)) == "UPDATE 1"


async def mark_removed(conn: asyncpg.Connection[Any], job: RedirectJob) -> bool:
    return str(await conn.execute(_REMOVED, job.id, job.generation)) == "DELETE 1"


async def retry_subject(conn: asyncpg.Connection[Any], kind: str, subject_id: str) -> int:
    """Everything of the subject that failed or waits, due now with fresh attempts."""
    result = str(await conn.execute(_RETRY_SUBJECT, kind, subject_id))
    return int(result.rsplit(" ", 1)[-1])
