"""Create, update and reset SIP phones: parse, merge, look up, check, then write.

Every function runs inside the caller's transaction and raises `ApiError` before
writing anything when the request is bad, so a failed request changes nothing. An
update locks the row first (`phone_for_update`), merges the patch onto what is stored
now and writes the result: concurrent updates of different fields both survive.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg

from db import customers as customer_queries
from db import extensions as extension_queries
from db import groups as group_queries
from db import phone_models as model_queries
from db import phones as phone_queries
from db import ringtones as ringtone_queries
from db.phones import NewCredentials, PhoneRecord
from provisioning.auth import Level, Principal
from provisioning.credentials import SecretBox, new_credentials, reveal_password
from provisioning.errors import ApiError, MultipleErrors, access_denied, not_found
from provisioning.phones import rules, webpassword
from provisioning.phones.fields import PHONE_FIELDS
from provisioning.phones.parse import parse_object
from provisioning.phones.record import defaults, merge, to_columns, to_document

PHONE_NOT_FOUND = "SIP phone not found"


def raise_errors(errors: list[ApiError]) -> None:
    """Nothing, the one error, or 422 `multiple` with all of them (003's first row:
    `multiple` is a 422 whatever the inner codes are)."""
    unique = list({(e.code, e.message, e.description): e for e in errors}.values())
    if len(unique) == 1:
        raise unique[0]
    if unique:
        combined = MultipleErrors(unique)
        combined.code = 422
        raise combined


def _read_only_errors(
    body: Mapping[str, Any], current: PhoneRecord | None, current_password: str | None
) -> list[ApiError]:
    """Server-owned fields may be echoed back unchanged (a GET result posted back), never
    set: credentials are generated (004), the handset index is assigned (002)."""
    errors = []
    if "_id" in body and (current is None or body["_id"] != current.id):
        errors.append(ApiError(422, "_id", "Id is assigned by the server and cannot be changed"))
    echoed = {
        "username": None if current is None else current.username,
        "password": current_password,
    }
    for name, value in echoed.items():
        if name in body and (value is None or body[name] != value):
            errors.append(
                ApiError(
                    422, name, "Credentials are generated; use resetcredentials to change them"
                )
            )
    if "handsetIndex" in body:
        current_index = None if current is None else current.values.get("handset_index")
        if body["handsetIndex"] != current_index:
            errors.append(
                ApiError(
                    422,
                    "handsetIndex",
                    "Handset index is assigned automatically and cannot be changed",
                )
            )
    if "status" in body and not isinstance(body["status"], dict):
        errors.append(ApiError(422, "status", "Status is read-only"))
    return errors


_READ_ONLY = ("_id", "username", "password", "handsetIndex", "status")


def _parse_body(
    principal: Principal,
    body: Mapping[str, Any],
    current: PhoneRecord | None,
    box: SecretBox,
) -> tuple[dict[str, Any], list[ApiError]]:
    if "purchaseInfo" in body and principal.level < Level.OWNER:
        raise access_denied()
    password = None
    if current is not None and "password" in body:
        password = reveal_password(box, current.username, current.password_enc)
    errors = _read_only_errors(body, current, password)
    if webpassword.KEY in body:  # shown to an OWNER; set through the 000 route only
        shown = None
        if current is not None:
            shown = webpassword.web_password(box, current.id, current.device_secrets_enc)
        if body[webpassword.KEY] != shown:
            errors.append(
                ApiError(
                    422,
                    webpassword.KEY,
                    "The web password is changed through /api/users/{id}/phones (web_password)",
                )
            )
    device = {} if current is None else current.device
    writable = {
        key: value
        for key, value in body.items()
        if key not in _READ_ONLY
        and key != webpassword.KEY
        and not (key in device and key not in PHONE_FIELDS)
    }
    errors += [  # device settings (000) are shown here but written through /api/users
        ApiError(422, key, "Device settings are changed through /api/users/{id}/phones")
        for key, value in body.items()
        if key in device and key not in PHONE_FIELDS and value != device[key]
    ]
    parsed = parse_object(writable, PHONE_FIELDS)
    return parsed.values, errors + parsed.errors


async def _facts(
    conn: asyncpg.Connection[Any],
    principal: Principal,
    document: Mapping[str, Any],
    touched: set[str],
    phone_id: str | None,
) -> rules.Facts:
    model_key = document.get("sipPhoneModel")
    model = await model_queries.model_by_id_or_name(conn, model_key) if model_key else None
    customer = None
    if document.get("customer"):
        customer = await customer_queries.customer_by_id(conn, document["customer"])
        if customer is not None and not (customer.active and principal.sees(customer.id)):
            customer = None
    extension = None
    if document.get("extension"):
        extension = await extension_queries.extension_by_id(conn, document["extension"])
    slots: tuple[phone_queries.MacSlot, ...] = ()
    mac = document.get("macAddress")
    if mac and touched & {"macAddress", "sipPhoneModel"}:
        found = await phone_queries.mac_slots(conn, mac)
        slots = tuple(slot for slot in found if slot.phone_id != phone_id)
    ringtone = None
    tone = (document.get("ringer") or {}).get("tone")
    if isinstance(tone, str):  # a custom ringtone: held until this transaction ends
        ringtone = await ringtone_queries.ringtone_by_id(conn, tone, lock="share")
    serials: set[str] = set()
    if "purchaseInfo" in touched:
        wanted = rules.side_panel_serials(document)
        serials = await phone_queries.side_panel_serials_in_use(conn, wanted, phone_id)
    return rules.Facts(
        model=model,
        customer=customer,
        extension=extension,
        extensions=await extension_queries.extensions_by_ids(
            conn, rules.referenced_ids(document, "BLF")
        ),
        groups=await group_queries.groups_by_ids(
            conn, rules.referenced_ids(document, "PICKUPGROUP")
        ),
        queues=await group_queries.queues_by_ids(conn, rules.referenced_ids(document, "QUEUE")),
        phone_customers=await phone_queries.phone_customers(
            conn, rules.referenced_ids(document, "DNDOTHER")
        ),
        mac_slots=slots,
        serials_in_use=frozenset(serials),
        ringtone=ringtone,
    )


async def _checked_columns(
    conn: asyncpg.Connection[Any],
    principal: Principal,
    document: dict[str, Any],
    touched: set[str],
    errors: list[ApiError],
    current: PhoneRecord | None,
) -> dict[str, Any]:
    """Run the rules; raise every error found so far, or return the columns to write."""
    phone_id = None if current is None else current.id
    facts = await _facts(conn, principal, document, touched, phone_id)
    current_index = None if current is None else current.values.get("handset_index")
    failed = frozenset(error.message for error in errors)
    outcome = rules.check(document, facts, touched, current_index, failed)
    missing = []  # also when untouched: e.g. the customer was deactivated since
    if facts.model is None or facts.model.kind == "sidepanel":
        missing.append(ApiError(404, "sipPhoneModel", "SIP phone model not found or invalid"))
    if facts.customer is None:
        missing.append(ApiError(404, "customer", "Customer not found or not active"))
    raise_errors(errors + outcome.errors + missing)
    assert facts.model is not None and facts.customer is not None
    document["sipPhoneModel"] = facts.model.id
    columns = to_columns(document)
    columns["handset_index"] = outcome.handset_index
    return columns


async def create_phone(
    conn: asyncpg.Connection[Any],
    principal: Principal,
    body: Mapping[str, Any],
    *,
    box: SecretBox,
    realm: str,
) -> PhoneRecord:
    """PUT /api/pbx/sipphone: a new phone with fresh credentials."""
    principal.require(Level.MANAGER)
    patch, errors = _parse_body(principal, body, None, box)
    scope = principal.customer_ids
    if "customer" not in body and scope is not None and len(scope) == 1:
        patch["customer"] = scope[0]  # a single-customer token implies its own
    document = merge(defaults(), patch, PHONE_FIELDS)
    columns = await _checked_columns(conn, principal, document, set(PHONE_FIELDS), errors, None)
    stored, _password = new_credentials(box, realm)
    credentials = NewCredentials(
        username=stored.username,
        password_enc=stored.password_enc,
        ha1_md5=stored.ha1_md5,
        ha1_sha256=stored.ha1_sha256,
    )
    try:
        phone_id = await phone_queries.insert_phone(conn, columns, credentials)
    except phone_queries.MacSlotTakenError:
        raise ApiError(
            409, "macAddress", "A phone with the same MAC address already exists"
        ) from None
    await webpassword.ensure(conn, box, phone_id)
    record = await phone_queries.phone_by_id(conn, phone_id)
    assert record is not None
    return record


async def visible_phone(
    conn: asyncpg.Connection[Any], principal: Principal, phone_id: str, *, lock: bool = False
) -> PhoneRecord:
    """The phone if the caller's tenant holds it; otherwise the same 404 as a missing id."""
    fetch = phone_queries.phone_for_update if lock else phone_queries.phone_by_id
    record = await fetch(conn, phone_id)
    if record is None or not principal.sees(record.customer_id):
        raise not_found(PHONE_NOT_FOUND)
    return record


async def update_phone(
    conn: asyncpg.Connection[Any],
    principal: Principal,
    phone_id: str,
    body: Mapping[str, Any],
    *,
    box: SecretBox,
) -> PhoneRecord:
    """POST /api/pbx/sipphone/{id}: merge the patch onto the locked row and write it."""
    principal.require(Level.MANAGER)
    current = await visible_phone(conn, principal, phone_id, lock=True)
    patch, errors = _parse_body(principal, body, current, box)
    document = merge(to_document(current.values), patch, PHONE_FIELDS)
    touched = set(body) & set(PHONE_FIELDS)
    columns = await _checked_columns(conn, principal, document, touched, errors, current)
    try:
        await phone_queries.update_phone(conn, phone_id, columns)
    except phone_queries.MacSlotTakenError:
        raise ApiError(
            409, "macAddress", "A phone with the same MAC address already exists"
        ) from None
    if "sipPhoneModel" in touched:  # another vendor may take another form of password
        await webpassword.ensure(conn, box, phone_id)
    record = await phone_queries.phone_by_id(conn, phone_id)
    assert record is not None
    return record


async def reset_credentials(
    conn: asyncpg.Connection[Any],
    principal: Principal,
    phone_id: str,
    *,
    box: SecretBox,
    realm: str,
) -> PhoneRecord:
    """004: new username and password; the phone's bindings go in the same transaction."""
    principal.require(Level.VIEWER)
    await visible_phone(conn, principal, phone_id, lock=True)
    stored, _password = new_credentials(box, realm)
    await phone_queries.reset_credentials(
        conn,
        phone_id,
        NewCredentials(
            username=stored.username,
            password_enc=stored.password_enc,
            ha1_md5=stored.ha1_md5,
            ha1_sha256=stored.ha1_sha256,
        ),
    )
    record = await phone_queries.phone_by_id(conn, phone_id)
    assert record is not None
    return record


async def delete_phone(conn: asyncpg.Connection[Any], principal: Principal, phone_id: str) -> None:
    principal.require(Level.MANAGER)
    await visible_phone(conn, principal, phone_id, lock=True)
    await phone_queries.delete_phone(conn, phone_id)
