"""DECT bases (001 `/dect_phones`): create, update, delete, and their JSON.

A base is one box with one MAC. Its settings (language, handset language, tone set,
timezone, codecs, transport, passwords) are validated against the model's catalogue
row (`features.languages`, `handset_languages`, `tones`) and stored on `dect_bases`;
each handset's phone record gets a copy in its `device` document (see `members.py`),
which is what the provisioning file server renders. Passwords are sealed (AES-GCM) and
never returned. Every function runs in the caller's transaction and raises before
writing anything when the request is bad.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import asyncpg

from db import dect as queries
from db import phones as phone_queries
from db.dect import DectBase, DectModel
from provisioning.api.customers import resolve_customer
from provisioning.auth import Level, Principal
from provisioning.config import Settings
from provisioning.credentials import SecretBox
from provisioning.dect import fields
from provisioning.dect.serving import serving_errors
from provisioning.errors import ApiError, not_found
from provisioning.phones import capabilities
from provisioning.phones.render import iso_time
from provisioning.phones.service import raise_errors
from provisioning.redirect.render import redirect_json

BASE_NOT_FOUND = "DECT phone not found"
_SETTINGS = (
    "template",
    "vendor",
    "timezone",
    "region",
    "language",
    "handset_language",
    "tone",
    "rps",
    "https",
    "codecs",
    "interface",
    "preferred_transport",
)


def open_secrets(box: SecretBox, base: DectBase) -> dict[str, str]:
    if base.secrets_enc is None:
        return {}
    opened = json.loads(box.open(base.secrets_enc, f"dect:{base.mac_address}"))
    return opened if isinstance(opened, dict) else {}


def _seal(box: SecretBox, mac: str, secrets: Mapping[str, Any]) -> bytes | None:
    kept = {k: v for k, v in secrets.items() if v is not None}
    return box.seal(json.dumps(kept), f"dect:{mac}") if kept else None


def model_errors(model: DectModel, values: Mapping[str, Any]) -> list[ApiError]:
    """Language, handset language, tone set and region must be ones the model offers, and
    the passwords and settings ones it takes (catalogue `features.settings`)."""
    errors = capabilities.unsupported_errors(
        model.name, model.features, values, capabilities.DECT_SETTINGS
    ) + capabilities.choice_errors(model.name, model.features, values)
    offered = (
        ("language", "languages", "Language"),
        ("handset_language", "handset_languages", "Handset language"),
        ("tone", "tones", "Tone"),
    )
    for name, feature, label in offered:
        value = values.get(name)
        choices = model.features.get(feature)
        if value is None or not isinstance(choices, list) or value in choices:
            continue
        errors.append(
            ApiError(
                422,
                name,
                f"{label} '{value}' is not supported by {model.name} "
                f"(one of {', '.join(str(c) for c in choices)})",
            )
        )
    return errors


async def _model(
    conn: asyncpg.Connection[Any], values: Mapping[str, Any]
) -> tuple[DectModel | None, list[ApiError]]:
    if "model" not in values:
        return None, []
    model = await queries.dect_model(conn, values["model"], values.get("vendor"))
    model = model or await queries.dect_model(conn, values["model"])
    if model is None:
        return None, [ApiError(404, "model", "DECT phone model not found or invalid")]
    vendor = values.get("vendor")
    if vendor is not None and vendor.lower() != model.vendor:
        return model, [
            ApiError(422, "vendor", f"Vendor '{vendor}' does not make model '{model.name}'")
        ]
    return model, model_errors(model, values) + fields.template_errors(
        values.get("template"), model.vendor
    )


async def create_base(
    conn: asyncpg.Connection[Any],
    principal: Principal,
    body: Mapping[str, Any],
    box: SecretBox,
    settings: Settings,
) -> DectBase:
    principal.require(Level.MANAGER)
    values, errors = fields.parse_body(body, fields.DECT_FIELDS, fields.DECT_REQUIRED)
    customer = await resolve_customer(conn, principal, body.get("customer"))
    model, more = await _model(conn, values)
    errors += more
    mac = values.get("mac")
    if mac is not None and await phone_queries.mac_slots(conn, mac):
        errors.append(ApiError(409, "mac", "A phone with the same MAC address already exists"))
    raise_errors(errors + serving_errors(settings, values))
    assert model is not None and mac is not None
    stored = {k: values[k] for k in _SETTINGS if values.get(k) is not None}
    stored["vendor"] = model.vendor
    try:
        base_id = await queries.insert_base(
            conn,
            customer_id=customer.id,
            model_id=model.id,
            name=values["name"],
            mac_address=mac,
            settings=stored,
            secrets_enc=_seal(box, mac, {k: values.get(k) for k in fields.DECT_SECRETS}),
        )
    except queries.BaseMacTakenError:
        raise ApiError(409, "mac", "A phone with the same MAC address already exists") from None
    base = await queries.base_by_id(conn, base_id)
    assert base is not None
    return base


async def visible_base(
    conn: asyncpg.Connection[Any], principal: Principal, base_id: str, *, lock: bool = False
) -> DectBase:
    base = await queries.base_by_id(conn, base_id, lock=lock)
    if base is None or not principal.sees(base.customer_id):
        raise not_found(BASE_NOT_FOUND)
    return base


async def update_base(
    conn: asyncpg.Connection[Any],
    principal: Principal,
    base_id: str,
    body: Mapping[str, Any],
    box: SecretBox,
    settings: Settings,
) -> DectBase:
    """Partial update; the MAC, model, vendor, template and customer stay as created."""
    principal.require(Level.MANAGER)
    base = await visible_base(conn, principal, base_id, lock=True)
    fixed = [
        ApiError(422, name, f"{name.capitalize()} cannot be changed")
        for name in body
        if name in fields.DECT_FIELDS and name not in fields.DECT_UPDATABLE
    ]
    patch = {
        k: v for k, v in body.items() if k in fields.DECT_UPDATABLE or k not in fields.DECT_FIELDS
    }
    values, errors = fields.parse_body(patch, fields.DECT_FIELDS)
    nulls = [k for k in fields.DECT_REQUIRED if k in values]
    errors += [
        ApiError(422, k, f"{k.capitalize()} is required") for k in nulls if values[k] is None
    ]
    stored = {**base.settings, **{k: values[k] for k in _SETTINGS if k in values}}
    errors += model_errors(base.model, values)
    raise_errors(fixed + errors + serving_errors(settings, values))
    stored = {k: v for k, v in stored.items() if v is not None}
    secrets: dict[str, Any] = {**open_secrets(box, base)}
    secrets.update({k: values[k] for k in fields.DECT_SECRETS if k in values})
    await queries.update_base(
        conn,
        base.id,
        name=values.get("name") or base.name,
        settings=stored,
        secrets_enc=_seal(box, base.mac_address, secrets),
    )
    updated = await queries.base_by_id(conn, base.id)
    assert updated is not None
    await refresh_handsets(conn, updated, box)
    return updated


def handset_device(base: DectBase) -> dict[str, Any]:
    """The base settings as a handset record's `device` document (camelCase keys the
    provisioning loader reads: language, timezone, codecs, preferredTransport, …)."""
    device = {fields.DEVICE_KEYS[k]: v for k, v in base.settings.items() if k in fields.DEVICE_KEYS}
    device["dectName"] = base.name
    device["model"] = base.model.model
    return device


def handset_secrets(box: SecretBox, base: DectBase, phone_id: str) -> bytes | None:
    """The base passwords sealed for one handset record (`device:{id}`, as the loader
    opens them): `webPassword`, `userPassword`, `engineerPassword`."""
    secrets = {fields.SECRET_KEYS[k]: v for k, v in open_secrets(box, base).items()}
    return box.seal(json.dumps(secrets), f"device:{phone_id}") if secrets else None


async def refresh_handsets(conn: asyncpg.Connection[Any], base: DectBase, box: SecretBox) -> None:
    """Copy the base settings onto every handset record (a base holds at most a few
    hundred), bumping each record's version so caches and configs follow."""
    device = handset_device(base)
    for member in await queries.members(conn, base.id):
        await queries.attach_handset(
            conn,
            member.phone_id,
            base.id,
            device=device,
            device_secrets_enc=handset_secrets(box, base, member.phone_id),
        )


async def delete_base(conn: asyncpg.Connection[Any], principal: Principal, base_id: str) -> None:
    """The base and every handset record with it (their registrations go too)."""
    principal.require(Level.MANAGER)
    base = await visible_base(conn, principal, base_id, lock=True)
    await queries.delete_base(conn, base.id)


def base_json(base: DectBase) -> dict[str, Any]:
    """001's fields in snake_case; passwords are write-only."""
    body: dict[str, Any] = {
        "_id": base.id,
        "customer": base.customer_id,
        "name": base.name,
        "mac": base.mac_address,
        "model": base.model.name,
    }
    body.update({k: base.settings[k] for k in _SETTINGS if k in base.settings})
    body["max_handsets"] = base.model.max_handsets
    body["handsets"] = base.handsets
    body["created"] = iso_time(base.created)
    redirect = redirect_json(base.redirect, snake=True)
    if redirect is not None:
        body["redirect"] = redirect
    return body


def model_json(model: DectModel) -> dict[str, Any]:
    """A DECT model of the catalogue: capacity, languages, handset languages, tone sets."""
    return {
        "_id": model.id,
        "name": model.name,
        "vendor": model.vendor,
        "model": model.model,
        "template": model.template,
        "max_handsets": model.max_handsets,
        "handset_address_required": model.handset_address_required,
        "languages": list(model.features.get("languages") or []),
        "handset_languages": list(model.features.get("handset_languages") or []),
        "tones": list(model.features.get("tones") or []),
        "regions": list(model.features.get("regions") or []),
        "settings": list(model.features.get("settings") or []),
        "multi_cell": bool(model.features.get("multiCell", False)),
    }
