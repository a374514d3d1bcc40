"""DECT bases (`dect_bases`, 001 `/dect_phones`) and their handsets.

A base is one MAC; each handset is a `sip_phones` row with `dect_base_id` set, its own
credentials and `handset_index` (created through `db.phones.insert_phone` like any SIP
phone, then tied to the base with `attach_handset`). The base's settings are copied into
each handset's `device` document so that the provisioning loader, which reads phone
records by MAC, renders them without a second query. Deleting a base deletes its
handsets (foreign key ON DELETE CASCADE).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from db.redirects import JOB_JOIN_COLUMNS, RedirectJob, job_join, joined_job


class BaseMacTakenError(Exception):
    """Another DECT base already has this MAC address."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DectModel:
    """A catalogue row of kind 'dect'."""

    id: str
    name: str
    vendor: str
    model: str
    max_handsets: int
    accounts: int
    handset_address_required: bool
    template: str
    features: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class DectBase:
    id: str
    customer_id: str
    model: DectModel
    name: str
    mac_address: str
    settings: dict[str, Any]
    secrets_enc: bytes | None
    created: datetime
    handsets: int
    redirect: RedirectJob | None = None  # the registration with the vendor's redirect service


@dataclass(frozen=True, slots=True, kw_only=True)
class Member:
    """One handset of a base: its phone record and the extension it serves."""

    phone_id: str
    extension_id: str | None
    extension_number: str | None
    extension_name: str | None
    handset_index: int | None
    handset_address: str | None
    online: bool  # registered now (each handset registers on its own)


_MODEL_COLUMNS = """m.id AS model_id, m.name AS model_name, m.vendor, m.model,
       m.dect_max_handsets, m.accounts, m.handset_address_required, m.template, m.features"""
_MODELS = f"""
SELECT {_MODEL_COLUMNS} FROM sip_phone_models m WHERE m.kind = 'dect' ORDER BY m.vendor, m.name
"""
_MODEL = f"""
SELECT {_MODEL_COLUMNS} FROM sip_phone_models m
WHERE m.kind = 'dect' AND (m.id = $1 OR m.name = $1
      OR (lower(m.model) = lower($1) AND ($2 = '' OR lower(m.vendor) = lower($2))))
ORDER BY m.name LIMIT 1
"""
_BASE_SELECT = f"""
SELECT b.id, b.customer_id, b.name, b.mac_address, b.settings, b.secrets_enc, b.created,
       (SELECT count(*) FROM sip_phones p WHERE p.dect_base_id = b.id) AS handsets,
       {_MODEL_COLUMNS}, {JOB_JOIN_COLUMNS}
FROM dect_bases b JOIN sip_phone_models m ON m.id = b.model_id
{job_join("dect", "b.id")}
"""
_BY_ID = _BASE_SELECT + " WHERE b.id = $1"
_LOCK = "SELECT id FROM dect_bases WHERE id = $1 FOR UPDATE"
_LIST = (
    _BASE_SELECT
    + """
WHERE ($1::text[] IS NULL OR b.customer_id = ANY($1::text[]))
  AND ($2::text IS NULL OR b.id > $2)
ORDER BY b.id LIMIT $3
"""
)
_INSERT = """
INSERT INTO dect_bases (customer_id, model_id, name, mac_address, settings, secrets_enc)
VALUES ($1, $2, $3, $4, $5, $6) RETURNING id
"""
_UPDATE = "UPDATE dect_bases SET name = $2, settings = $3, secrets_enc = $4 WHERE id = $1"
_DELETE = "DELETE FROM dect_bases WHERE id = $1"
_MEMBERS = """
SELECT p.id AS phone_id, p.extension_id, e.number AS extension_number,
       e.name AS extension_name, p.handset_index, p.handset_address,
       coalesce(s.online AND s.expires_at > now(), false) AS online
FROM sip_phones p LEFT JOIN extensions e ON e.id = p.extension_id
LEFT JOIN phone_status s ON s.phone_id = p.id
WHERE p.dect_base_id = $1
ORDER BY p.handset_index NULLS LAST, p.id
"""
_ATTACH = """
UPDATE sip_phones SET dect_base_id = $2, device = $3, device_secrets_enc = $4,
    config_saved = now(), version = version + 1
WHERE id = $1
"""
_EXTENSIONS_BY_NUMBER = """
SELECT id, number, name FROM extensions WHERE customer_id = $1 AND number = ANY($2::text[])
"""


def _model(row: asyncpg.Record) -> DectModel:
    features = row["features"]
    return DectModel(
        id=row["model_id"],
        name=row["model_name"],
        vendor=row["vendor"],
        model=row["model"],
        max_handsets=row["dect_max_handsets"],
        accounts=row["accounts"],
        handset_address_required=row["handset_address_required"],
        template=row["template"],
        features=features if isinstance(features, dict) else {},
    )


def _base(row: asyncpg.Record) -> DectBase:
    settings = row["settings"]
    return DectBase(
        id=row["id"],
        customer_id=row["customer_id"],
        model=_model(row),
        name=row["name"],
        mac_address=row["mac_address"],
        settings=settings if isinstance(settings, dict) else {},
        secrets_enc=None if row["secrets_enc"] is None else bytes(row["secrets_enc"]),
        created=row["created"],
        handsets=row["handsets"],
        redirect=joined_job(row),
    )


async def dect_models(conn: asyncpg.Connection[Any]) -> list[DectModel]:
    return [_model(row) for row in await conn.fetch(_MODELS)]


async def dect_model(
    conn: asyncpg.Connection[Any], key: str, vendor: str | None = None
) -> DectModel | None:
    """A DECT model by id, catalogue name (`yealink-w60b`) or vendor + model (`W60B`)."""
    row = await conn.fetchrow(_MODEL, key, vendor or "")
    return None if row is None else _model(row)


async def base_by_id(
    conn: asyncpg.Connection[Any], base_id: str, *, lock: bool = False
) -> DectBase | None:
    """The base; with `lock`, row-locked until the caller's transaction ends (member
    list replacements of one base then run one after the other)."""
    if lock and await conn.fetchval(_LOCK, base_id) is None:
        return None
    row = await conn.fetchrow(_BY_ID, base_id)
    return None if row is None else _base(row)


async def list_bases(
    conn: asyncpg.Connection[Any], scope: list[str] | None, *, after: str | None, limit: int
) -> list[DectBase]:
    return [_base(row) for row in await conn.fetch(_LIST, scope, after, limit)]


async def insert_base(
    conn: asyncpg.Connection[Any],
    *,
    customer_id: str,
    model_id: str,
    name: str,
    mac_address: str,
    settings: dict[str, Any],
    secrets_enc: bytes | None,
) -> str:
    try:
        base_id = await conn.fetchval(
            _INSERT, customer_id, model_id, name, mac_address, settings, secrets_enc
        )
    except asyncpg.UniqueViolationError:
        raise BaseMacTakenError(mac_address) from None
    return str(base_id)


async def update_base(
    conn: asyncpg.Connection[Any],
    base_id: str,
    *,
    name: str,
    settings: dict[str, Any],
    secrets_enc: bytes | None,
) -> None:
    await conn.execute(_UPDATE, base_id, name, settings, secrets_enc)


async def delete_base(conn: asyncpg.Connection[Any], base_id: str) -> bool:
    return str(await conn.execute(_DELETE, base_id)) == "DELETE 1"


async def members(conn: asyncpg.Connection[Any], base_id: str) -> list[Member]:
    return [
        Member(
            phone_id=row["phone_id"],
            extension_id=row["extension_id"],
            extension_number=row["extension_number"],
            extension_name=row["extension_name"],
            handset_index=row["handset_index"],
            handset_address=row["handset_address"],
            online=row["online"],
        )
        for row in await conn.fetch(_MEMBERS, base_id)
    ]


async def attach_handset(
    conn: asyncpg.Connection[Any],
    phone_id: str,
    base_id: str,
    *,
    device: dict[str, Any],
    device_secrets_enc: bytes | None,
) -> None:
    """Tie a phone record to its base and write the base settings it renders with."""
    await conn.execute(_ATTACH, phone_id, base_id, device, device_secrets_enc)


async def extensions_by_number(
    conn: asyncpg.Connection[Any], customer_id: str, numbers: list[str]
) -> dict[str, tuple[str, str]]:
    """number → (extension id, name) for the customer's extensions among `numbers`."""
    rows = await conn.fetch(_EXTENSIONS_BY_NUMBER, customer_id, numbers)
    return {row["number"]: (row["id"], row["name"]) for row in rows}
