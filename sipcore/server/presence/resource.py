"""The extension a SUBSCRIBE or PUBLISH names by its Request-URI user (RFC 6665
§4.1.2.1, RFC 3903 §6: the resource), looked up among the requesting phone's customer's."""

from __future__ import annotations

from typing import Any

import asyncpg

from db import presence as pdb
from sipcore.server.context import AuthenticatedPhone


async def target_extension(
    pool: asyncpg.Pool[Any], user: str | None, phone: AuthenticatedPhone
) -> pdb.ExtensionRef | None:
    """A number of the phone's customer, or the phone's own SIP username (pjsip publishes
    to its own AOR); None when there is no such extension."""
    if not user:
        return None
    async with pool.acquire() as conn:
        if user == phone.username and phone.extension_id:
            return await pdb.extension_by_id(conn, phone.extension_id)
        found = await pdb.extensions_by_number(conn, user, [phone.customer_id])
    return found[0] if found else None
