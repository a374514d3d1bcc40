"""The SIP phone model catalogue (`sip_phone_models`), read by the API and validation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg


@dataclass(frozen=True, slots=True, kw_only=True)
class PhoneModel:
    id: str
    name: str
    vendor: str
    model: str
    kind: str  # desk | dect | sidepanel | softphone
    line_keys: int
    accounts: int
    softkey_functions: tuple[str, ...]
    side_panel_model: str | None
    max_side_panels: int
    side_panel_keys: int
    dect_max_handsets: int
    handset_address_required: bool
    serial_required: bool
    features: dict[str, Any]
    firmware_url: str | None = None
    firmware_version: str | None = None


_COLUMNS = """id, name, vendor, model, kind, line_keys, accounts, softkey_functions,
    side_panel_model, max_side_panels, side_panel_keys, dect_max_handsets,
    handset_address_required, serial_required, features, firmware_url, firmware_version"""
_BY_ID_OR_NAME = f"SELECT {_COLUMNS} FROM sip_phone_models WHERE id = $1 OR name = $1"
_SET_FIRMWARE = f"""
UPDATE sip_phone_models SET firmware_url = $2, firmware_version = $3 WHERE id = $1
RETURNING {_COLUMNS}
"""
_LIST = f"""
SELECT {_COLUMNS} FROM sip_phone_models
WHERE ($1::text IS NULL OR vendor = $1) AND ($2::text IS NULL OR kind = $2)
  AND ($3::text IS NULL OR id > $3)
ORDER BY id LIMIT $4
"""


def _record(row: asyncpg.Record) -> PhoneModel:
    values = dict(row)
    values["softkey_functions"] = tuple(values["softkey_functions"] or ())
    values["features"] = values["features"] or {}
    return PhoneModel(**values)


async def model_by_id_or_name(conn: asyncpg.Connection[Any], key: str) -> PhoneModel | None:
    """A model by its 24-hex id or by its catalogue name (`yealink-t54w`)."""
    row = await conn.fetchrow(_BY_ID_OR_NAME, key)
    return None if row is None else _record(row)


async def list_models(
    conn: asyncpg.Connection[Any],
    *,
    vendor: str | None = None,
    kind: str | None = None,
    after: str | None = None,
    limit: int = 100,
) -> list[PhoneModel]:
    return [_record(row) for row in await conn.fetch(_LIST, vendor, kind, after, limit)]


async def set_firmware(
    conn: asyncpg.Connection[Any], model_id: str, url: str | None, version: str | None
) -> PhoneModel | None:
    """The model's firmware URL and version (None clears); the changed row."""
    row = await conn.fetchrow(_SET_FIRMWARE, model_id, url, version)
    return None if row is None else _record(row)
