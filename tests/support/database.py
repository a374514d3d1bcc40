"""The test database's names and rows every area needs: the template's name, a server URI
pointed at another database, a real API token, and the Authorization headers (bearer, basic)."""

from __future__ import annotations

import base64
from typing import Any

import asyncpg

from provisioning.auth import hash_token, new_token

TEMPLATE_DB = "sipfleet_template"


def database_uri(server: Any, name: str) -> str:
    """The server's URI pointed at another database."""
    base, _, query = server.uri.partition("?")
    base = base.rsplit("/", 1)[0]
    return f"{base}/{name}" + (f"?{query}" if query else "")


async def insert_token(
    conn: asyncpg.Connection[Any],
    level: str,
    customer_id: str | None = None,
    reseller_id: str | None = None,
) -> str:
    """A real token of the given level; returns the token text."""
    from db.tokens import insert_token as insert

    token = new_token()
    await insert(
        conn,
        token_hash=hash_token(token),
        level=level,
        customer_id=customer_id,
        reseller_id=reseller_id,
    )
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}
