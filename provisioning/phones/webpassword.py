"""Each phone's web admin password: generated, sealed, never the factory default.

Every phone record gets its own password when it is created (and a record from before
this, or whose 000 `web_password` was cleared, gets one the next time it is saved or at
start, `backfill`), kept in the record's sealed device secrets (`webPassword`, AES-GCM
under the service key like the SIP password, bound to the phone id) and written into its
config as the vendor's admin password. An OWNER and above reads it through the API;
nothing logs it. An operator may set their own (000 `web_password`).

Its form follows the vendor: Mitel/Aastra phones take numbers only, at most 4294967295
("The IP phones support numeric characters only in passwords. If you enter a password
with alpha characters, the phone uses the default password instead", 6700i/6800i admin
guide), so theirs is ten digits and an operator's must be numeric; elsewhere 16 letters and
digits. A record moved to a model of another vendor gets a new one if its password does
not fit there.
"""

from __future__ import annotations

import json
import logging
import secrets
import string
from typing import Any

import asyncpg
from cryptography.exceptions import InvalidTag

from db import phones as phone_queries
from provisioning.credentials import SecretBox
from provisioning.errors import ApiError

log = logging.getLogger(__name__)

KEY = "webPassword"  # in the sealed device secrets
_ALPHABET = string.ascii_letters + string.digits
_LENGTH = 16
_NUMERIC_MAX = 4294967295  # Mitel: an unsigned 32-bit number
_NUMERIC_VENDORS = frozenset({"mitel"})


def generate(vendor: str) -> str:
    if vendor in _NUMERIC_VENDORS:  # ten digits, never above the phones' limit
        return str(1_000_000_000 + secrets.randbelow(_NUMERIC_MAX - 1_000_000_000 + 1))
    return "".join(secrets.choice(_ALPHABET) for _ in range(_LENGTH))


def fits(vendor: str, password: str) -> bool:
    if vendor in _NUMERIC_VENDORS:
        return password.isdigit() and len(password) <= 10 and int(password) <= _NUMERIC_MAX
    return bool(password)


def refusal(vendor: str, model_name: str, field: str, password: Any) -> ApiError | None:
    """422 naming `field` when `password` is not one the vendor's phones take."""
    if not isinstance(password, str) or fits(vendor, password):
        return None
    return ApiError(
        422, field, f"{model_name} takes a numeric web password (0-{_NUMERIC_MAX}), digits only"
    )


def open_secrets(box: SecretBox, phone_id: str, sealed: bytes | None) -> dict[str, Any]:
    """The phone's device secrets (web and door passwords); {} when none or unreadable."""
    if sealed is None:
        return {}
    try:
        opened = json.loads(box.open(sealed, f"device:{phone_id}"))
    except (InvalidTag, ValueError):
        return {}
    return opened if isinstance(opened, dict) else {}


def seal_secrets(box: SecretBox, phone_id: str, values: dict[str, Any]) -> bytes | None:
    return box.seal(json.dumps(values), f"device:{phone_id}") if values else None


def web_password(box: SecretBox, phone_id: str, sealed: bytes | None) -> str | None:
    value = open_secrets(box, phone_id, sealed).get(KEY)
    return value if isinstance(value, str) else None


async def ensure(conn: asyncpg.Connection[Any], box: SecretBox, phone_id: str) -> None:
    """Give the phone a web password if it has none that fits its vendor (in the caller's
    transaction)."""
    found = await phone_queries.device_secrets(conn, phone_id)
    if found is not None:
        await _ensure(conn, box, found)


async def _ensure(
    conn: asyncpg.Connection[Any], box: SecretBox, found: phone_queries.DeviceSecrets
) -> bool:
    values = open_secrets(box, found.phone_id, found.sealed)
    current = values.get(KEY)
    if isinstance(current, str) and fits(found.vendor, current):
        return False
    values[KEY] = generate(found.vendor)
    sealed = seal_secrets(box, found.phone_id, values)
    return await phone_queries.replace_device_secrets(conn, found.phone_id, sealed, found.sealed)


async def backfill(pool: asyncpg.Pool[Any], box: SecretBox) -> int:
    """A web password for every record that has no device secrets yet (made before they
    were generated). Safe on every node at once: each write is a compare-and-set."""
    done, after = 0, ""
    while True:
        async with pool.acquire() as conn:
            batch = await phone_queries.phones_without_secrets(conn, after=after)
            for found in batch:
                done += await _ensure(conn, box, found)
        if not batch:
            break
        after = batch[-1].phone_id
    if done:
        log.info("web passwords generated for %d phones that had none", done)
    return done
