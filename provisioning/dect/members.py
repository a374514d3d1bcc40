"""The member list of a DECT base (001 `/dect_phones/{id}/members`).

`POST {"members": [{"extension_number": "101", "handset_address": "…"}, …]}` replaces the
list: a member whose extension is already on the base keeps its phone record
(credentials, `handsetIndex`; only a changed handset address is written), a member no
longer listed loses its record, a new one gets a record created through the SIP phone
service — so the rules of 003 apply unchanged: fresh 32-char credentials, the lowest free
`handsetIndex` (none free: 409 `handsetIndex`), the base's SIP account slots (403
`macAddress`), the handset address where the model requires it (422 `handsetAddress`).
Removals run first so their positions are free for the additions. The base row is locked
for the whole replacement, and one failure rolls everything back.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg

from db import dect as queries
from db import phones as phone_queries
from db.dect import DectBase, Member
from provisioning.auth import Level, Principal
from provisioning.credentials import SecretBox
from provisioning.dect.bases import handset_device, handset_secrets, visible_base
from provisioning.errors import ApiError, not_found
from provisioning.phones import service as phone_service
from provisioning.phones.service import raise_errors

_NUMBER = re.compile(r"^[0-9]{3,64}$")
MEMBER_NOT_FOUND = "Extension is not a member of this DECT phone"


@dataclass(frozen=True, slots=True, kw_only=True)
class Wanted:
    extension_number: str
    handset_address: str | None


def parse_members(body: Mapping[str, Any], limit: int) -> list[Wanted]:
    """The requested list, or every error in it (422, named `members[i].field`)."""
    items = body.get("members")
    unknown = [ApiError(422, k, "Unknown field") for k in body if k != "members"]
    if not isinstance(items, list):
        raise_errors([*unknown, ApiError(422, "members", "Members must be a list")])
        raise AssertionError("unreachable")
    if len(items) > limit:
        raise ApiError(409, "handsetIndex", "The SIP phone/device does not have any free positions")
    errors: list[ApiError] = list(unknown)
    wanted: list[Wanted] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        path = f"members[{i}]"
        if not isinstance(item, dict):
            errors.append(ApiError(422, path, "Must be an object"))
            continue
        errors += [
            ApiError(422, f"{path}.{k}", "Unknown field")
            for k in item
            if k not in ("extension_number", "handset_address")
        ]
        number = item.get("extension_number")
        address = item.get("handset_address")
        if not isinstance(number, str) or not _NUMBER.match(number):
            errors.append(ApiError(422, f"{path}.extension_number", "Extension number is invalid"))
            continue
        if number in seen:
            errors.append(ApiError(422, f"{path}.extension_number", "Extension is listed twice"))
        seen.add(number)
        if address is not None and (not isinstance(address, str) or not 1 <= len(address) <= 64):
            errors.append(ApiError(422, f"{path}.handset_address", "Handset address is invalid"))
            continue
        wanted.append(Wanted(extension_number=number, handset_address=address))
    raise_errors(errors)
    return wanted


async def _extensions(
    conn: asyncpg.Connection[Any], base: DectBase, wanted: list[Wanted]
) -> dict[str, str]:
    numbers = [w.extension_number for w in wanted]
    found = await queries.extensions_by_number(conn, base.customer_id, numbers)
    raise_errors(
        [
            ApiError(404, f"members[{i}].extension_number", "Extension not found")
            for i, number in enumerate(numbers)
            if number not in found
        ]
    )
    return {number: found[number][0] for number in numbers}


async def replace_members(
    conn: asyncpg.Connection[Any],
    principal: Principal,
    base_id: str,
    body: Mapping[str, Any],
    *,
    box: SecretBox,
    realm: str,
) -> list[Member]:
    principal.require(Level.MANAGER)
    base = await visible_base(conn, principal, base_id, lock=True)
    wanted = parse_members(body, base.model.max_handsets)
    extension_ids = await _extensions(conn, base, wanted)
    current = {m.extension_id: m for m in await queries.members(conn, base.id)}
    keep = set(extension_ids.values())
    for extension_id, gone in current.items():
        if extension_id not in keep:
            await phone_queries.delete_phone(conn, gone.phone_id)
    device = handset_device(base)
    for item in wanted:
        extension_id = extension_ids[item.extension_number]
        member = current.get(extension_id)
        if member is None:
            record = await phone_service.create_phone(
                conn,
                principal,
                {
                    "customer": base.customer_id,
                    "extension": extension_id,
                    "sipPhoneModel": base.model.id,
                    "macAddress": base.mac_address,
                    "handsetAddress": item.handset_address,
                },
                box=box,
                realm=realm,
            )
            phone_id = record.id
        elif member.handset_address != item.handset_address:
            phone_id = member.phone_id
            await phone_service.update_phone(
                conn, principal, phone_id, {"handsetAddress": item.handset_address}, box=box
            )
        else:
            continue
        await queries.attach_handset(
            conn,
            phone_id,
            base.id,
            device=device,
            device_secrets_enc=handset_secrets(box, base, phone_id),
        )
    return await queries.members(conn, base.id)


async def member_of(
    conn: asyncpg.Connection[Any], principal: Principal, base_id: str, number: str
) -> Member:
    base = await visible_base(conn, principal, base_id)
    for member in await queries.members(conn, base.id):
        if member.extension_number == number:
            return member
    raise not_found(MEMBER_NOT_FOUND)


def member_json(member: Member) -> dict[str, Any]:
    return {
        "extension_number": member.extension_number,
        "extension_name": member.extension_name,
        "extension": member.extension_id,
        "phone": member.phone_id,
        "handset_index": member.handset_index,
        "handset_address": member.handset_address,
        "online": member.online,
    }
