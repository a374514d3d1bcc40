"""Small helpers shared by the route modules."""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web

from provisioning.errors import ApiError

OBJECT_ID = re.compile(r"^[0-9a-fA-F]{24}$")


MAX_BODY_SIZE = 1024 * 1024  # the application's `client_max_size`
MAX_JSON_DEPTH = 32  # the API's bodies nest four or five levels deep


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object; else 413 (too large), 400 (unreadable or nested
    deeper than `MAX_JSON_DEPTH`) or 422 `body` (not JSON, not an object, not storable).

    The body is read as UTF-8 whatever charset its Content-Type names (JSON is UTF-8), and
    nothing of it is quoted back.
    """
    if request.content_length is not None and request.content_length > MAX_BODY_SIZE:
        raise _too_large()
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise _too_large() from None
    except web.RequestPayloadError:  # broken framing (chunks, Content-Length, compression)
        raise ApiError(400, "body", "Request body could not be read") from None
    try:
        body = json.loads(raw.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ApiError(422, "body", "Request body is not valid JSON") from None
    except RecursionError:  # nested far deeper than any limit below
        raise _too_deep() from None
    _check_nesting_and_text(body)
    if not isinstance(body, dict):
        raise ApiError(422, "body", "Request body must be a JSON object")
    return body


def _too_large() -> ApiError:
    return ApiError(413, "body", f"Request body too large (at most {MAX_BODY_SIZE} bytes)")


def _too_deep() -> ApiError:
    description = f"Request body is nested too deep (at most {MAX_JSON_DEPTH} levels)"
    return ApiError(400, "body", description)


def _check_nesting_and_text(body: Any) -> None:
    """400 when the body nests deeper than `MAX_JSON_DEPTH`; 422 when a string anywhere in
    it cannot be stored in PostgreSQL text.

    JSON allows an escaped NUL and lone surrogates; PostgreSQL's text type takes neither,
    so such a body is refused up front instead of failing at the database. The walk keeps
    its own stack: a recursive one would fail on the very nesting it is there to refuse.
    """
    stack: list[tuple[Any, int]] = [(body, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if not _storable(value):
                raise ApiError(
                    422,
                    "body",
                    "Request body contains a NUL character or invalid Unicode (lone surrogate)",
                )
        elif isinstance(value, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise _too_deep()
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str):
                    stack.append((key, depth))
                stack.append((item, depth + 1))


def _storable(text: str) -> bool:
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def object_id(value: str, *, description: str = "Not found") -> str:
    """A path id: 24 hex characters (lowercase), or 404 `not_found`."""
    if not OBJECT_ID.match(value):
        raise ApiError(404, "not_found", description)
    return value.lower()


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.json_response(body, status=status, dumps=lambda obj: json.dumps(obj, default=str))
