"""Small helpers shared by the route modules."""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web

from provisioning.errors import ApiError

OBJECT_ID = re.compile(r"^[0-9a-fA-F]{24}$")


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object, or 422 `body`."""
    try:
        body = await request.json(loads=json.loads)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ApiError(422, "body", "Request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(422, "body", "Request body must be a JSON object")
    if not _storable(body):
        raise ApiError(
            422, "body", "Request body contains a NUL character or invalid Unicode (lone surrogate)"
        )
    return body


def _storable(value: Any) -> bool:
    """False when a string anywhere in the body cannot be stored in PostgreSQL text.

    JSON allows an escaped NUL and lone surrogates; PostgreSQL's text type takes neither,
    so such a body is refused up front instead of failing at the database.
    """
    if isinstance(value, str):
        if "\x00" in value:
            return False
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(_storable(k) and _storable(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_storable(item) for item in value)
    return True


def object_id(value: str, *, description: str = "Not found") -> str:
    """A path id: 24 hex characters (lowercase), or 404 `not_found`."""
    if not OBJECT_ID.match(value):
        raise ApiError(404, "not_found", description)
    return value.lower()


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.json_response(body, status=status, dumps=lambda obj: json.dumps(obj, default=str))
