"""Bearer tokens and access levels: VIEWER < MANAGER < OWNER < RESELLER < ADMIN.

A VIEWER/MANAGER/OWNER token belongs to one customer, a RESELLER's to its reseller's
customers, an ADMIN sees all. The dashboard exchanges a token for an HttpOnly session
cookie (EventSource cannot send an Authorization header); the cookie carries the token
sealed with the service key, so no session table is needed.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

import asyncpg

from db import tokens as token_queries
from provisioning.errors import ApiError, access_denied, unauthorized

TOKEN_PREFIX = "sft_"
SESSION_COOKIE = "sipfleet_session"
MAX_TOKEN_LENGTH = 512


class Level(enum.IntEnum):
    VIEWER = 1
    MANAGER = 2
    OWNER = 3
    RESELLER = 4
    ADMIN = 5


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class Principal:
    """Who is calling: the token's id, level and the customers it sees."""

    token_id: str
    level: Level
    customer_id: str | None
    reseller_id: str | None
    customer_ids: tuple[str, ...] | None  # None: every customer (ADMIN)

    def sees(self, customer_id: str | None) -> bool:
        if self.customer_ids is None:
            return True
        return customer_id is not None and customer_id in self.customer_ids

    def require(self, level: Level) -> None:
        if self.level < level:
            raise access_denied()

    @property
    def scope(self) -> list[str] | None:
        """Customer ids for SQL filters; None means all."""
        return None if self.customer_ids is None else list(self.customer_ids)


def bearer_token(headers: Any) -> str | None:
    value = headers.get("Authorization", "")
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return str(token.strip())


def well_formed(token: str) -> bool:
    """Whether `token` could be a token at all: printable, valid UTF-8 (a header's bytes
    that are not arrive as lone surrogates), at most `MAX_TOKEN_LENGTH` characters."""
    if len(token) > MAX_TOKEN_LENGTH or not token.isprintable():
        return False
    try:
        token.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


async def principal_for_token(conn: asyncpg.Connection[Any], token: str) -> Principal:
    """Resolve a token, or raise 401 (also for one that is garbled or no text)."""
    if not well_formed(token):
        raise unauthorized()
    record = await token_queries.token_by_hash(conn, hash_token(token))
    if record is None:
        raise unauthorized()
    level = Level[record.level]
    customer_ids: tuple[str, ...] | None
    if level is Level.ADMIN:
        customer_ids = None
    elif level is Level.RESELLER:
        assert record.reseller_id is not None
        customer_ids = tuple(await token_queries.reseller_customer_ids(conn, record.reseller_id))
    else:
        customer_ids = (record.customer_id,) if record.customer_id else ()
    return Principal(
        token_id=record.id,
        level=level,
        customer_id=record.customer_id,
        reseller_id=record.reseller_id,
        customer_ids=customer_ids,
    )


def parse_level(text: object) -> Level:
    if not isinstance(text, str) or text.upper() not in Level.__members__:
        raise ApiError(422, "level", "Level must be one of " + ", ".join(Level.__members__))
    return Level[text.upper()]
