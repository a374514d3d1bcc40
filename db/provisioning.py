"""Queries of the provisioning file server: one read per fetch, batched writes after it.

`phones_for_mac` returns everything a config file needs in ONE round trip: the phone, its
model and side-panel model, its extension, its customer's secret path segment and its
soft keys with their targets already resolved (BLF → the watched extension's number,
PICKUPGROUP/QUEUE → the group's or queue's number, DNDOTHER → the other phone's extension
number). The writes a successful fetch causes (`config_loaded`, the sighting, the
`phone.config_fetched` event) are grouped by the caller and written with `record_fetches`.

The file server caches these records in memory; migration 0008 announces on `PROV_CHANNEL`
what else changes them (`'*'`: drop all, else a MAC), besides `sipfleet_phones` by phone id.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from db.events import EVENTS_CHANNEL
from db.seen_phones import Sighting, record_sightings

PROV_CHANNEL = "sipfleet_prov"
PROV_ALL = "*"  # the payload that drops every cached record


@dataclass(frozen=True, slots=True, kw_only=True)
class ResolvedKey:
    """A soft key as stored, plus its target resolved in the phone's own customer."""

    index: int
    function: str
    value: str | None
    label: str | None
    target: str | None  # number to dial/watch; None when the target no longer exists
    target_name: str | None  # display name of a BLF/DNDOTHER target extension


@dataclass(frozen=True, slots=True, kw_only=True)
class ProvisionedPhone:
    """One SIP phone record with what its config needs (the password still sealed)."""

    id: str
    customer_id: str
    customer_active: bool
    provisioning_secret: str | None
    mac_address: str
    handset_index: int | None
    handset_address: str | None
    serial: str | None
    model_name: str
    vendor: str
    model: str
    kind: str
    line_keys: int
    accounts: int
    softkey_functions: tuple[str, ...]
    template: str
    side_panel_model: str | None
    side_panel_count: int
    side_panel_keys: int
    extension_id: str | None
    extension_number: str | None
    extension_name: str | None
    username: str
    password_enc: bytes
    device_secrets_enc: bytes | None
    ip_mode: str
    ip_countries: tuple[str, ...]
    ip_address: str | None
    call_waiting: bool | None
    softkey_blf_blind_transfer: bool | None
    softkey_configuration_on_device: bool | None
    headset_button: str | None
    dhsg: bool | None
    display_brightness: int | None
    display_brightness_idle: int | None
    display_background: str | None
    display_font_color: str | None
    custom_config: str | None
    ringer: dict[str, Any] | None
    volume: dict[str, Any] | None
    codec: dict[str, Any] | None
    network: dict[str, Any] | None
    device: dict[str, Any]
    softkeys: tuple[ResolvedKey, ...]
    version: int
    rejected: bool  # the MAC was rejected from auto provisioning (403)
    # the customer's uploaded ringtone `ringer.tone` names (None: built-in or none left)
    ringtone_id: str | None
    ringtone_format: str | None
    firmware_url: str | None  # the model's (catalogue)
    firmware_version: str | None

    def __repr__(self) -> str:  # the sealed secrets stay out of logs and tracebacks
        return f"ProvisionedPhone(id={self.id!r}, mac_address={self.mac_address!r})"


@dataclass(frozen=True, slots=True, kw_only=True)
class Fetch:
    """A successful config fetch, to be written later in a batch."""

    phone_id: str
    customer_id: str
    mac_address: str
    vendor: str | None
    model: str | None
    address: str
    user_agent: str | None
    file: str
    time: datetime
    # write a `phone.config_fetched` event for it (the server leaves repeats of an unchanged
    # body out, see `provisioning.fileserver.server`); config_loaded and the sighting always
    event: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class CatalogueModel:
    id: str
    name: str
    vendor: str
    model: str
    kind: str
    line_keys: int
    accounts: int
    softkey_functions: tuple[str, ...]
    side_panel_model: str | None
    max_side_panels: int
    side_panel_keys: int
    dect_max_handsets: int
    config_files: tuple[str, ...]
    template: str
    features: dict[str, Any]
    firmware_url: str | None
    firmware_version: str | None


# The soft keys as parallel arrays (cheaper to build and decode than jsonb), ordered by
# index, each target resolved in the phone's own customer by one join per kind.
_KEY_TARGETS = """
LEFT JOIN LATERAL (
    SELECT array_agg((k.item->>'index')::int ORDER BY (k.item->>'index')::int) AS key_index,
           array_agg(k.item->>'function' ORDER BY (k.item->>'index')::int) AS key_function,
           array_agg(k.item->>'value' ORDER BY (k.item->>'index')::int) AS key_value,
           array_agg(k.item->>'label' ORDER BY (k.item->>'index')::int) AS key_label,
           array_agg(CASE k.item->>'function'
                         WHEN 'BLF' THEN x.number WHEN 'PICKUPGROUP' THEN g.number
                         WHEN 'QUEUE' THEN q.number WHEN 'DNDOTHER' THEN ox.number
                         ELSE k.item->>'value' END
                     ORDER BY (k.item->>'index')::int) AS key_target,
           array_agg(coalesce(x.name, g.name, q.name)
                     ORDER BY (k.item->>'index')::int) AS key_target_name
    FROM jsonb_array_elements(
        CASE jsonb_typeof(p.softkeys) WHEN 'array' THEN p.softkeys ELSE '[]'::jsonb END
    ) AS k(item)
    LEFT JOIN extensions x ON k.item->>'function' = 'BLF'
         AND x.id = k.item->>'value' AND x.customer_id = p.customer_id
    LEFT JOIN pickup_groups g ON k.item->>'function' = 'PICKUPGROUP'
         AND g.id = k.item->>'value' AND g.customer_id = p.customer_id
    LEFT JOIN queues q ON k.item->>'function' = 'QUEUE'
         AND q.id = k.item->>'value' AND q.customer_id = p.customer_id
    LEFT JOIN sip_phones o ON k.item->>'function' = 'DNDOTHER'
         AND o.id = k.item->>'value' AND o.customer_id = p.customer_id
    LEFT JOIN extensions ox ON ox.id = o.extension_id
) keys ON true
"""
# Many MACs at once (a boot storm's cache misses come together), grouped by MAC.
_PHONES_FOR_MACS = f"""
SELECT p.id, p.customer_id, c.active AS customer_active, c.provisioning_secret,
       p.mac_address, p.handset_index, p.handset_address, p.serial,
       m.name AS model_name, m.vendor, m.model, m.kind, m.line_keys, m.accounts,
       m.softkey_functions, m.template, m.firmware_url, m.firmware_version,
       sp.name AS side_panel_model, coalesce(p.side_panel_count, 0) AS side_panel_count,
       coalesce(sp.side_panel_keys, sp.line_keys, m.side_panel_keys, 0) AS side_panel_keys,
       p.extension_id, e.number AS extension_number, e.name AS extension_name,
       p.username, p.password_enc, p.device_secrets_enc,
       p.ip_mode, p.ip_countries, p.ip_address,
       p.call_waiting, p.softkey_blf_blind_transfer, p.softkey_configuration_on_device,
       p.headset_button, p.dhsg,
       p.display_brightness, p.display_brightness_idle, p.display_background,
       p.display_font_color, p.custom_config,
       p.ringer, p.volume, p.codec, p.network, p.device, p.version,
       coalesce((SELECT s.rejected FROM seen_phones s WHERE s.mac_address = p.mac_address),
                false) AS rejected,
       rt.id AS ringtone_id, rt.format AS ringtone_format,
       keys.key_index, keys.key_function, keys.key_value, keys.key_label, keys.key_target,
       keys.key_target_name
FROM sip_phones p
JOIN customers c ON c.id = p.customer_id
JOIN sip_phone_models m ON m.id = p.model_id
LEFT JOIN sip_phone_models sp ON p.side_panel IS NOT NULL
     AND (sp.id = p.side_panel OR sp.name = p.side_panel)
LEFT JOIN extensions e ON e.id = p.extension_id
LEFT JOIN ringtones rt ON rt.id = p.ringer->>'tone' AND rt.customer_id = p.customer_id
{_KEY_TARGETS}
WHERE p.mac_address = ANY($1::text[])
ORDER BY p.mac_address, coalesce(p.handset_index, -1), p.id
"""
_KEY_COLUMNS = (
    "key_index",
    "key_function",
    "key_value",
    "key_label",
    "key_target",
    "key_target_name",
)
# Every worker process writes its own batches of the same phones' rows at the same time.
# A bare UPDATE … FROM locks rows in whatever order its plan visits them (a hash join over
# a sequential scan: the physical order, which each update changes; a nested loop: the
# hash order of the batch, which depends on its size), so two batches could each hold a
# row the other waits for: a deadlock, and one batch lost. The rows are locked first, in
# id order (LockRows above the Sort), then updated; every batch takes its locks in that
# one order, and the sightings after them in MAC order (db.seen_phones).
_CONFIG_LOADED = """
WITH v AS (
    SELECT id, max(t) AS t FROM unnest($1::text[], $2::timestamptz[]) AS u(id, t) GROUP BY id
), locked AS MATERIALIZED (
    SELECT p.id, v.t FROM sip_phones p JOIN v ON v.id = p.id
    WHERE p.config_loaded IS NULL OR p.config_loaded < v.t
    ORDER BY p.id
    FOR NO KEY UPDATE OF p
)
UPDATE sip_phones p SET config_loaded = l.t FROM locked l WHERE p.id = l.id
"""
_EVENTS = f"""
WITH inserted AS (
    INSERT INTO events (type, phone_id, customer_id, details, time)
    SELECT type, phone, customer, details::jsonb, t
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])
         AS u(type, phone, customer, details, t)
    RETURNING id
)
SELECT pg_notify('{EVENTS_CHANNEL}', inserted.id::text) FROM inserted ORDER BY inserted.id
"""
_REGISTERED = """
SELECT DISTINCT b.phone_id FROM bindings b JOIN sip_phones p ON p.id = b.phone_id
WHERE b.expires_at > now() AND ($1::text[] IS NULL OR p.customer_id = ANY($1::text[]))
ORDER BY b.phone_id
"""
_CATALOGUE = """
SELECT id, name, vendor, model, kind, line_keys, accounts, softkey_functions, side_panel_model,
       max_side_panels, side_panel_keys, dect_max_handsets, config_files, template, features,
       firmware_url, firmware_version
FROM sip_phone_models ORDER BY vendor, name
"""


def _keys(values: dict[str, Any]) -> tuple[ResolvedKey, ...]:
    """The parallel key arrays of a row as ResolvedKeys (the arrays leave `values`)."""
    columns = [values.pop(name) for name in _KEY_COLUMNS]
    if columns[0] is None:
        return ()
    return tuple(
        ResolvedKey(
            index=index or 0,
            function=function or "",
            value=value,
            label=label,
            target=target,
            target_name=target_name,
        )
        for index, function, value, label, target, target_name in zip(*columns, strict=True)
    )


def _phone(row: asyncpg.Record) -> ProvisionedPhone:
    values = dict(row)
    values["softkey_functions"] = tuple(values["softkey_functions"] or ())
    values["ip_countries"] = tuple(
        code.strip().upper() for code in (values["ip_countries"] or "").split(",") if code.strip()
    )
    values["softkeys"] = _keys(values)
    values["device"] = values["device"] if isinstance(values["device"], dict) else {}
    return ProvisionedPhone(**values)


async def phones_for_mac(conn: asyncpg.Connection[Any], mac_address: str) -> list[ProvisionedPhone]:
    """Every SIP phone record of a MAC (one, or one per handset of a DECT base)."""
    return (await phones_for_macs(conn, [mac_address])).get(mac_address, [])


async def phones_for_macs(
    conn: asyncpg.Connection[Any], mac_addresses: Sequence[str], *, timeout: float | None = None
) -> dict[str, list[ProvisionedPhone]]:
    """`phones_for_mac` of many MACs in one statement; MACs without a phone are absent.
    `timeout` (seconds): TimeoutError past it instead of the pool's command timeout."""
    found: dict[str, list[ProvisionedPhone]] = {}
    for row in await conn.fetch(_PHONES_FOR_MACS, list(mac_addresses), timeout=timeout):
        found.setdefault(row["mac_address"], []).append(_phone(row))
    return found


async def record_fetches(conn: asyncpg.Connection[Any], fetches: Sequence[Fetch]) -> None:
    """`config_loaded`, the sightings and one `phone.config_fetched` event per fetch that
    asks for one (`Fetch.event`).

    Three statements, whatever the number of fetches; the caller owns the transaction.
    Rows are locked in one order whatever the batch's (phones by id, then sightings by
    MAC; events lock nothing), so concurrent batches never deadlock.
    """
    if not fetches:
        return
    await conn.execute(_CONFIG_LOADED, [f.phone_id for f in fetches], [f.time for f in fetches])
    await record_sightings(
        conn,
        [
            Sighting(
                mac_address=f.mac_address,
                vendor=f.vendor,
                model=f.model,
                address=f.address,
                user_agent=f.user_agent,
                file=f.file,
                time=f.time,
            )
            for f in fetches
        ],
    )
    await append_events(
        conn,
        [
            (
                "phone.config_fetched",
                f.phone_id,
                f.customer_id,
                {"file": f.file, "address": f.address, "userAgent": f.user_agent},
                f.time,
            )
            for f in fetches
            if f.event
        ],
    )


async def append_events(
    conn: asyncpg.Connection[Any],
    events: Sequence[tuple[str, str | None, str | None, dict[str, Any], datetime]],
) -> None:
    """Many events in one statement, each announced on the events channel."""
    if not events:
        return
    await conn.fetch(
        _EVENTS,
        [e[0] for e in events],
        [e[1] for e in events],
        [e[2] for e in events],
        [json.dumps(e[3]) for e in events],
        [e[4] for e in events],
    )


async def notify_prov(conn: asyncpg.Connection[Any], payload: str) -> None:
    """Send `payload` on `PROV_CHANNEL` (a cache's round-trip marker: notifications reach a
    listener in commit order, so once it sees this one it has seen every earlier change)."""
    await conn.execute("SELECT pg_notify($1, $2)", PROV_CHANNEL, payload)


async def registered_phone_ids(conn: asyncpg.Connection[Any], scope: list[str] | None) -> list[str]:
    """Phones with at least one unexpired binding, among the customers of `scope`."""
    return [row["phone_id"] for row in await conn.fetch(_REGISTERED, scope)]


async def catalogue(conn: asyncpg.Connection[Any]) -> list[CatalogueModel]:
    models = []
    for row in await conn.fetch(_CATALOGUE):
        values = dict(row)
        values["softkey_functions"] = tuple(values["softkey_functions"] or ())
        values["config_files"] = tuple(values["config_files"] or ())
        values["features"] = values["features"] if isinstance(values["features"], dict) else {}
        models.append(CatalogueModel(**values))
    return models
