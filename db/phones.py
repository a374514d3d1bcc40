"""SIP phone records (`sip_phones`) joined with their live status (`phone_status`).

The API validates a whole candidate record and then writes every writable column at once
(`insert_phone` / `update_phone`), inside a transaction that first locks the row with
`phone_for_update` (SELECT … FOR UPDATE): two concurrent partial updates serialise on
the lock and the second merges onto the first's result, so neither is lost. Changes to
`sip_phones` notify `sipfleet_phones` through the trigger of migration 0003.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from db.redirects import JOB_JOIN_COLUMNS, RedirectJob, job_join, joined_job

# Columns the API writes, in this order, from a dict keyed by column name.
WRITABLE_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "extension_id",
    "model_id",
    "pbx_cluster",
    "mac_address",
    "serial",
    "product",
    "handset_index",
    "handset_address",
    "call_waiting",
    "side_panel",
    "side_panel_count",
    "softkey_configuration_on_device",
    "softkey_blf_blind_transfer",
    "headset_button",
    "dhsg",
    "display_brightness",
    "display_brightness_idle",
    "display_background",
    "display_font_color",
    "custom_config",
    "notes",
    "instance_id",
    "ip_mode",
    "ip_countries",
    "ip_address",
    "ringer",
    "volume",
    "softkeys",
    "codec",
    "network",
    "purchase_info",
)


class MacSlotTakenError(Exception):
    """Another record took the same (MAC, handset index) slot concurrently."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PhoneRecord:
    """One SIP phone with its status; `values` holds the writable columns by name."""

    id: str
    values: dict[str, Any]
    dect_base_id: str | None
    username: str
    password_enc: bytes
    device: dict[str, Any]
    config_saved: datetime | None
    config_loaded: datetime | None
    created: datetime
    version: int
    online: bool
    expires_at: datetime | None
    local_ip: str | None
    public_ip: str | None
    user_agent: str | None
    now: datetime
    redirect: RedirectJob | None = None  # the registration with the vendor's redirect service
    device_secrets_enc: bytes | None = None  # sealed web/door passwords (000)

    @property
    def customer_id(self) -> str:
        return str(self.values["customer_id"])


@dataclass(frozen=True, slots=True, kw_only=True)
class MacSlot:
    """A record already using a MAC address."""

    phone_id: str
    model_id: str
    handset_index: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class NewCredentials:
    username: str
    password_enc: bytes
    ha1_md5: str
    ha1_sha256: str


_WRITABLE = ", ".join(f"p.{c}" for c in WRITABLE_COLUMNS)
_SELECT = f"""
SELECT p.id, {_WRITABLE}, p.dect_base_id, p.username, p.password_enc, p.device,
       p.device_secrets_enc,
       p.config_saved, p.config_loaded, p.created, p.version,
       coalesce(s.online, false) AS online, s.expires_at, s.local_ip, s.public_ip,
       s.user_agent, now() AS now, {JOB_JOIN_COLUMNS}
FROM sip_phones p LEFT JOIN phone_status s ON s.phone_id = p.id
{job_join("phone", "p.id")}
"""
_BY_ID = _SELECT + " WHERE p.id = $1"
_FOR_UPDATE = _SELECT + " WHERE p.id = $1 FOR UPDATE OF p"
_ONLINE = "(coalesce(s.online, false) AND s.expires_at > now())"
_LIST = (
    _SELECT
    + f"""
WHERE ($1::text[] IS NULL OR p.customer_id = ANY($1::text[]))
  AND ($2::text IS NULL OR p.customer_id = $2)
  AND ($3::text IS NULL OR p.extension_id = $3)
  AND ($4::bool IS NULL OR {_ONLINE} = $4)
  AND ($5::text IS NULL OR p.mac_address = $5)
  AND ($6::text IS NULL OR p.id > $6)
ORDER BY p.id LIMIT $7
"""
)
_N = len(WRITABLE_COLUMNS)
_INSERT = f"""
INSERT INTO sip_phones ({", ".join(WRITABLE_COLUMNS)},
                        username, password_enc, ha1_md5, ha1_sha256, config_saved)
VALUES ({", ".join(f"${i + 1}" for i in range(_N))}, ${_N + 1}, ${_N + 2}, ${_N + 3}, ${_N + 4},
        now())
RETURNING id
"""
_INSERT_STATUS = "INSERT INTO phone_status (phone_id) VALUES ($1) ON CONFLICT DO NOTHING"
_UPDATE = f"""
UPDATE sip_phones SET {", ".join(f"{c} = ${i + 2}" for i, c in enumerate(WRITABLE_COLUMNS))},
    config_saved = now(), version = version + 1
WHERE id = $1
"""
_DELETE = "DELETE FROM sip_phones WHERE id = $1"
_LOCK_MAC = "SELECT pg_advisory_xact_lock(hashtext('sipfleet-mac:' || $1))"
_MAC_SLOTS = """
SELECT id, model_id, handset_index FROM sip_phones WHERE mac_address = $1 ORDER BY id
"""
_SIDE_PANEL_SERIALS = """
SELECT DISTINCT sp->>'serial' AS serial
FROM sip_phones p,
     jsonb_array_elements(CASE WHEN jsonb_typeof(p.purchase_info->'sidePanels') = 'array'
                          THEN p.purchase_info->'sidePanels' ELSE '[]'::jsonb END) sp
WHERE ($2::text IS NULL OR p.id <> $2) AND sp->>'serial' = ANY($1::text[])
"""
_CUSTOMERS_OF = "SELECT id, customer_id FROM sip_phones WHERE id = ANY($1::text[])"
_SET_CREDENTIALS = """
UPDATE sip_phones SET username = $2, password_enc = $3, ha1_md5 = $4, ha1_sha256 = $5,
    config_saved = now(), version = version + 1
WHERE id = $1
"""
_DROP_BINDINGS = "DELETE FROM bindings WHERE phone_id = $1"
_SET_OFFLINE = """
UPDATE phone_status SET online = false, expires_at = NULL, updated = now() WHERE phone_id = $1
"""


def _record(row: asyncpg.Record) -> PhoneRecord:
    return PhoneRecord(
        id=row["id"],
        values={c: row[c] for c in WRITABLE_COLUMNS},
        dect_base_id=row["dect_base_id"],
        username=row["username"],
        password_enc=bytes(row["password_enc"]),
        device=row["device"] or {},
        config_saved=row["config_saved"],
        config_loaded=row["config_loaded"],
        created=row["created"],
        version=row["version"],
        online=row["online"],
        expires_at=row["expires_at"],
        local_ip=row["local_ip"],
        public_ip=row["public_ip"],
        user_agent=row["user_agent"],
        now=row["now"],
        redirect=joined_job(row),
        device_secrets_enc=_bytes(row["device_secrets_enc"]),
    )


def _bytes(value: Any) -> bytes | None:
    return None if value is None else bytes(value)


async def phone_by_id(conn: asyncpg.Connection[Any], phone_id: str) -> PhoneRecord | None:
    row = await conn.fetchrow(_BY_ID, phone_id)
    return None if row is None else _record(row)


async def phone_for_update(conn: asyncpg.Connection[Any], phone_id: str) -> PhoneRecord | None:
    """The record, row-locked until the caller's transaction ends."""
    row = await conn.fetchrow(_FOR_UPDATE, phone_id)
    return None if row is None else _record(row)


async def list_phones(
    conn: asyncpg.Connection[Any],
    scope: list[str] | None,
    *,
    customer_id: str | None = None,
    extension_id: str | None = None,
    online: bool | None = None,
    mac_address: str | None = None,
    after: str | None = None,
    limit: int = 100,
) -> list[PhoneRecord]:
    """Phones in `scope` (None: all) matching every given filter, ordered by id."""
    rows = await conn.fetch(
        _LIST, scope, customer_id, extension_id, online, mac_address, after, limit
    )
    return [_record(row) for row in rows]


def _args(values: dict[str, Any]) -> list[Any]:
    return [values.get(c) for c in WRITABLE_COLUMNS]


async def insert_phone(
    conn: asyncpg.Connection[Any], values: dict[str, Any], credentials: NewCredentials
) -> str:
    """Insert a phone and its (offline) status row; returns the new id."""
    try:
        phone_id = await conn.fetchval(
            _INSERT,
            *_args(values),
            credentials.username,
            credentials.password_enc,
            credentials.ha1_md5,
            credentials.ha1_sha256,
        )
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == "sip_phones_mac_slot":
            raise MacSlotTakenError(values.get("mac_address")) from None
        raise
    await conn.execute(_INSERT_STATUS, phone_id)
    return str(phone_id)


async def update_phone(
    conn: asyncpg.Connection[Any], phone_id: str, values: dict[str, Any]
) -> None:
    """Write every writable column, stamp `config_saved` and bump `version`."""
    try:
        await conn.execute(_UPDATE, phone_id, *_args(values))
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == "sip_phones_mac_slot":
            raise MacSlotTakenError(values.get("mac_address")) from None
        raise


async def delete_phone(conn: asyncpg.Connection[Any], phone_id: str) -> bool:
    return str(await conn.execute(_DELETE, phone_id)) == "DELETE 1"


async def mac_slots(conn: asyncpg.Connection[Any], mac_address: str) -> list[MacSlot]:
    """Records using the MAC, after taking a transaction-long lock on that MAC so that
    concurrent creates for one DECT base pick distinct handset indexes."""
    await conn.execute(_LOCK_MAC, mac_address)
    return [
        MacSlot(phone_id=r["id"], model_id=r["model_id"], handset_index=r["handset_index"])
        for r in await conn.fetch(_MAC_SLOTS, mac_address)
    ]


async def side_panel_serials_in_use(
    conn: asyncpg.Connection[Any], serials: list[str], exclude_phone_id: str | None
) -> set[str]:
    """Which of these side-panel serials another phone's purchase info already lists."""
    if not serials:
        return set()
    rows = await conn.fetch(_SIDE_PANEL_SERIALS, serials, exclude_phone_id)
    return {row["serial"] for row in rows}


async def phone_customers(conn: asyncpg.Connection[Any], phone_ids: list[str]) -> dict[str, str]:
    """Customer id of each existing phone among `phone_ids`."""
    return {row["id"]: row["customer_id"] for row in await conn.fetch(_CUSTOMERS_OF, phone_ids)}


async def reset_credentials(
    conn: asyncpg.Connection[Any], phone_id: str, credentials: NewCredentials
) -> None:
    """New credentials, and the phone's bindings gone with them, in one transaction:
    from the commit on only the new credentials can register (the registrar's directory
    learns of it through the `sipfleet_phones` notification)."""
    async with conn.transaction():
        await conn.execute(
            _SET_CREDENTIALS,
            phone_id,
            credentials.username,
            credentials.password_enc,
            credentials.ha1_md5,
            credentials.ha1_sha256,
        )
        await conn.execute(_DROP_BINDINGS, phone_id)
        await conn.execute(_SET_OFFLINE, phone_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceSecrets:
    """A phone's sealed device secrets with what decides their form: its model's vendor."""

    phone_id: str
    vendor: str
    sealed: bytes | None


_SECRETS = """
SELECT p.id, m.vendor, p.device_secrets_enc FROM sip_phones p
JOIN sip_phone_models m ON m.id = p.model_id WHERE p.id = $1
"""
# Records that never got a device secret (before web passwords were generated); a DECT
# handset carries its base's.
_WITHOUT_SECRETS = """
SELECT p.id, m.vendor, p.device_secrets_enc FROM sip_phones p
JOIN sip_phone_models m ON m.id = p.model_id
WHERE p.device_secrets_enc IS NULL AND p.dect_base_id IS NULL AND p.id > $1
ORDER BY p.id LIMIT $2
"""
# Compare-and-set: a concurrent writer of the same secrets wins, and this write is dropped.
_SET_SECRETS = """
UPDATE sip_phones SET device_secrets_enc = $2
WHERE id = $1 AND device_secrets_enc IS NOT DISTINCT FROM $3
"""


def _secrets(row: asyncpg.Record) -> DeviceSecrets:
    return DeviceSecrets(
        phone_id=row["id"], vendor=row["vendor"], sealed=_bytes(row["device_secrets_enc"])
    )


async def device_secrets(conn: asyncpg.Connection[Any], phone_id: str) -> DeviceSecrets | None:
    row = await conn.fetchrow(_SECRETS, phone_id)
    return None if row is None else _secrets(row)


async def phones_without_secrets(
    conn: asyncpg.Connection[Any], *, after: str = "", limit: int = 500
) -> list[DeviceSecrets]:
    return [_secrets(row) for row in await conn.fetch(_WITHOUT_SECRETS, after, limit)]


async def replace_device_secrets(
    conn: asyncpg.Connection[Any], phone_id: str, sealed: bytes | None, expected: bytes | None
) -> bool:
    """Write the sealed secrets if they are still `expected`; False when they changed."""
    return str(await conn.execute(_SET_SECRETS, phone_id, sealed, expected)) == "UPDATE 1"
