"""The device settings of `000_…txt` on a phone record (`sip_phones.device` and the sealed
`device_secrets_enc`), for `/api/users/{id}/phones`.

The rest of the record (model, MAC, extension, serial) is written through `db.phones`
like any SIP phone, so the two APIs share one row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceDocument:
    phone_id: str
    device: dict[str, Any]
    secrets_enc: bytes | None


_SET_DEVICE = """
UPDATE sip_phones SET device = $2, device_secrets_enc = $3,
    config_saved = now(), version = version + 1
WHERE id = $1
"""
_DEVICE = "SELECT id, device, device_secrets_enc FROM sip_phones WHERE id = $1"
_FREE_BY_MAC = """
SELECT p.id FROM sip_phones p
WHERE p.mac_address = $1 AND p.customer_id = $2 AND p.extension_id IS NULL
  AND p.dect_base_id IS NULL
ORDER BY p.id LIMIT 1
"""


async def set_device(
    conn: asyncpg.Connection[Any],
    phone_id: str,
    device: dict[str, Any],
    secrets_enc: bytes | None,
) -> None:
    """Replace the device document and its secrets; stamps `config_saved`."""
    await conn.execute(_SET_DEVICE, phone_id, device, secrets_enc)


async def device_of(conn: asyncpg.Connection[Any], phone_id: str) -> DeviceDocument | None:
    row = await conn.fetchrow(_DEVICE, phone_id)
    if row is None:
        return None
    device = row["device"]
    enc = row["device_secrets_enc"]
    return DeviceDocument(
        phone_id=row["id"],
        device=device if isinstance(device, dict) else {},
        secrets_enc=None if enc is None else bytes(enc),
    )


async def unassigned_phone_with_mac(
    conn: asyncpg.Connection[Any], mac_address: str, customer_id: str
) -> str | None:
    """A record of the customer with this MAC and no user yet (created through
    `/api/pbx/sipphone`): assigning the MAC to a user takes that record over."""
    value = await conn.fetchval(_FREE_BY_MAC, mac_address, customer_id)
    return None if value is None else str(value)


_MODEL = """
SELECT id, name, vendor, model, kind FROM sip_phone_models
WHERE kind <> 'sidepanel'
  AND (id = $1 OR name = $1
       OR (lower(model) = lower($1) AND ($2 = '' OR lower(vendor) = lower($2))))
ORDER BY name LIMIT 1
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelName:
    id: str
    name: str
    vendor: str
    model: str
    kind: str


async def phone_model(
    conn: asyncpg.Connection[Any], key: str, vendor: str | None = None
) -> ModelName | None:
    """A phone model by id, catalogue name (`yealink-t54w`) or vendor + model (`T54W`)."""
    row = await conn.fetchrow(_MODEL, key, vendor or "")
    if row is None:
        return None
    return ModelName(
        id=row["id"], name=row["name"], vendor=row["vendor"], model=row["model"], kind=row["kind"]
    )
