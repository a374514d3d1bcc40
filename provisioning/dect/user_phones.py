"""Phones of a user (000 `/users/{id}/phones`): users are extensions.

Assigning creates (or, for a MAC the customer already has on an unassigned record, takes
over) a SIP phone record through the SIP phone service, so `/api/pbx/sipphone` shows the
same record; the 000 device settings go to the record's `device` document in camelCase
and its door/web passwords into the sealed device secrets. Removing unassigns the record
(it stays in the inventory, `extension` null). Errors of the SIP phone rules are renamed
to this route's snake_case (`macAddress` → `mac`).

`ringtone` is the record's `ringer.tone` (002) under its 000 name: one setting, written
through the SIP phone service. A setting the model does not take (catalogue
`features.settings`), a ringtone it does not have, HTTPS without a certificate, a SIP
transport or interface this server does not serve are refused before anything is written.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Any, TypeVar

import asyncpg

from db import extensions as extension_queries
from db import phone_models as model_queries
from db import phones as phone_queries
from db import user_phones as queries
from db.extensions import Extension
from db.phones import PhoneRecord
from provisioning.auth import Level, Principal
from provisioning.config import Settings
from provisioning.credentials import SecretBox
from provisioning.dect import fields
from provisioning.dect.serving import serving_errors
from provisioning.errors import ApiError, MultipleErrors, not_found
from provisioning.phones import capabilities, webpassword
from provisioning.phones import service as phone_service
from provisioning.phones.render import status_json
from provisioning.phones.service import raise_errors

USER_NOT_FOUND = "User not found"
PHONE_NOT_FOUND = "Phone not found"
_T = TypeVar("_T")
_CREATE_FIELDS = {**fields.USER_PHONE_FIELDS, **fields.USER_CREATE_ONLY}
_CAMEL = {camel: snake for snake, camel in fields.DEVICE_KEYS.items()}


async def _snake(call: Awaitable[_T]) -> _T:
    """Run a SIP phone service call, renaming its errors to snake_case."""
    try:
        return await call
    except MultipleErrors as many:
        renamed = [fields.snake_error(e) for e in many.errors]
        combined = MultipleErrors(renamed)
        combined.code = many.code
        raise combined from None
    except ApiError as error:
        raise fields.snake_error(error) from None


async def visible_user(
    conn: asyncpg.Connection[Any], principal: Principal, extension_id: str
) -> Extension:
    extension = await extension_queries.extension_by_id(conn, extension_id)
    if extension is None or not principal.sees(extension.customer_id):
        raise not_found(USER_NOT_FOUND)
    return extension


async def users_phone(
    conn: asyncpg.Connection[Any], principal: Principal, user: Extension, phone_id: str
) -> PhoneRecord:
    record = await phone_queries.phone_by_id(conn, phone_id)
    if record is None or record.values.get("extension_id") != user.id:
        raise not_found(PHONE_NOT_FOUND)
    return record


async def _write_device(
    conn: asyncpg.Connection[Any], box: SecretBox, phone_id: str, values: Mapping[str, Any]
) -> None:
    """Merge the 000 settings onto the record's device document (null removes a value)."""
    current = await queries.device_of(conn, phone_id)
    assert current is not None
    device = dict(current.device)
    secrets = webpassword.open_secrets(box, phone_id, current.secrets_enc)
    for name, value in values.items():
        target, key = (
            (secrets, fields.SECRET_KEYS[name])
            if name in fields.USER_SECRETS
            else (device, fields.DEVICE_KEYS.get(name))
        )
        if key is None:
            continue
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value
    if "ringtone" in values:
        device.pop("ringtone", None)  # stored here before it became ringer.tone
    sealed = webpassword.seal_secrets(box, phone_id, secrets)
    await queries.set_device(conn, phone_id, device, sealed)
    await webpassword.ensure(conn, box, phone_id)  # a cleared web password gets a new one


async def assign_phone(
    conn: asyncpg.Connection[Any],
    principal: Principal,
    user_id: str,
    body: Mapping[str, Any],
    *,
    box: SecretBox,
    realm: str,
    settings: Settings,
) -> PhoneRecord:
    principal.require(Level.MANAGER)
    user = await visible_user(conn, principal, user_id)
    values, errors = fields.parse_body(body, _CREATE_FIELDS, fields.USER_REQUIRED)
    model = None
    if "model" in values:
        model = await queries.phone_model(conn, values["model"], values.get("vendor"))
        model = model or await queries.phone_model(conn, values["model"])
        if model is None:
            errors.append(ApiError(404, "model", "SIP phone model not found or invalid"))
        elif values.get("vendor") and values["vendor"].lower() != model.vendor:
            errors.append(
                ApiError(422, "vendor", f"Vendor '{values['vendor']}' does not make {model.name}")
            )
        elif model.kind == "dect":
            errors.append(
                ApiError(
                    422,
                    "model",
                    f"{model.name} is a DECT base: use /api/dect_phones and its members",
                )
            )
        else:
            errors += fields.template_errors(values.get("template"), model.vendor)
            errors += await _setting_errors(conn, model.id, values)
    raise_errors(errors + serving_errors(settings, values))
    assert model is not None
    values = {**values, "vendor": model.vendor, "model": model.model}
    record_fields: dict[str, Any] = {
        "extension": user.id,
        "sipPhoneModel": model.id,
        "serial": values.get("serial"),
    }
    if values.get("ringtone") is not None:
        record_fields["ringer"] = {"tone": values["ringtone"]}
    mac = values.get("mac")
    existing = await queries.unassigned_phone_with_mac(conn, mac, user.customer_id) if mac else None
    if existing is not None:
        record = await _snake(
            phone_service.update_phone(conn, principal, existing, record_fields, box=box)
        )
    else:
        record_fields.update(customer=user.customer_id, macAddress=mac)
        record = await _snake(
            phone_service.create_phone(conn, principal, record_fields, box=box, realm=realm)
        )
    await _write_device(conn, box, record.id, values)
    return await _reload(conn, record.id)


async def _setting_errors(
    conn: asyncpg.Connection[Any], model_id: str, values: Mapping[str, Any]
) -> list[ApiError]:
    """The model's own limits: optional settings it takes, its built-in ringtones."""
    found = await model_queries.model_by_id_or_name(conn, model_id)
    if found is None:
        return []
    errors = capabilities.unsupported_errors(
        found.name, found.features, values, capabilities.USER_PHONE_SETTINGS
    ) + capabilities.ringtone_errors(
        found.name, found.features, values, capabilities.USER_PHONE_RINGTONES
    )
    password = values.get("web_password")
    refused = webpassword.refusal(found.vendor, found.name, "web_password", password)
    return errors + ([refused] if refused else [])


async def _reload(conn: asyncpg.Connection[Any], phone_id: str) -> PhoneRecord:
    record = await phone_queries.phone_by_id(conn, phone_id)
    assert record is not None
    return record


async def update_phone(
    conn: asyncpg.Connection[Any],
    principal: Principal,
    user_id: str,
    phone_id: str,
    body: Mapping[str, Any],
    *,
    box: SecretBox,
    settings: Settings,
) -> PhoneRecord:
    """Partial update of the 000 settings (the model, MAC and template stay)."""
    principal.require(Level.MANAGER)
    user = await visible_user(conn, principal, user_id)
    record = await users_phone(conn, principal, user, phone_id)
    fixed = [
        ApiError(422, name, f"{name.capitalize()} cannot be changed here")
        for name in body
        if name in fields.USER_CREATE_ONLY
    ]
    patch = {k: v for k, v in body.items() if k not in fields.USER_CREATE_ONLY}
    values, errors = fields.parse_body(patch, fields.USER_PHONE_FIELDS)
    errors += await _setting_errors(conn, str(record.values["model_id"]), values)
    raise_errors(fixed + errors + serving_errors(settings, values))
    record_fields = {k: values[k] for k in ("serial",) if k in values}
    if "ringtone" in values:
        record_fields["ringer"] = {"tone": values["ringtone"]}
    if record_fields:
        await _snake(phone_service.update_phone(conn, principal, phone_id, record_fields, box=box))
    await _write_device(conn, box, phone_id, values)
    return await _reload(conn, phone_id)


async def remove_phone(
    conn: asyncpg.Connection[Any], principal: Principal, user_id: str, phone_id: str, box: SecretBox
) -> None:
    """The phone stops being the user's; its record stays, unassigned. A DECT handset
    belongs to its base's member list, which is where it is removed."""
    principal.require(Level.MANAGER)
    user = await visible_user(conn, principal, user_id)
    record = await users_phone(conn, principal, user, phone_id)
    if record.dect_base_id is not None:
        raise ApiError(
            409, "phone_id", "This phone is a DECT handset; change the base's member list"
        )
    unassign = {"extension": None}
    await _snake(phone_service.update_phone(conn, principal, phone_id, unassign, box=box))


async def user_phone_json(
    conn: asyncpg.Connection[Any],
    record: PhoneRecord,
    *,
    box: SecretBox | None = None,
    with_secrets: bool = False,
) -> dict[str, Any]:
    """The record as this route shows it: snake_case 000 fields; the web admin password
    (`web_password`) only `with_secrets` (OWNER and above), no other password ever."""
    model = await queries.phone_model(conn, str(record.values["model_id"]))
    body: dict[str, Any] = {
        "_id": record.id,
        "user": record.values.get("extension_id"),
        "customer": record.customer_id,
        "mac": record.values.get("mac_address"),
        "sip_phone_model": record.values["model_id"],
        "vendor": None if model is None else model.vendor,
        "model": None if model is None else model.model,
        "serial": record.values.get("serial"),
        "handset_index": record.values.get("handset_index"),
        "dect_phone": record.dect_base_id,
    }
    for key, value in record.device.items():
        name = _CAMEL.get(key)
        if name is not None and name not in ("name",):
            body[name] = value
    tone = (record.values.get("ringer") or {}).get("tone", record.device.get("ringtone"))
    body["ringtone"] = tone
    if with_secrets and box is not None:
        body["web_password"] = webpassword.web_password(box, record.id, record.device_secrets_enc)
    body = {k: v for k, v in body.items() if v is not None}
    body["status"] = status_json(record)
    return body
