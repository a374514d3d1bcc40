"""API errors as the reference's error tables write them.

`{"code": 422, "message": "macAddress", "description": "MAC address is invalid"}`; several
at once become `{"code": 422, "message": "multiple", "description": …, "errors": […]}`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from aiohttp import web


class ApiError(Exception):
    """One row of an error table; raised anywhere under a handler, answered as JSON."""

    def __init__(self, code: int, message: str, description: str) -> None:
        super().__init__(f"{code} {message}: {description}")
        self.code = code
        self.message = message
        self.description = description

    def as_json(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "description": self.description}


class MultipleErrors(ApiError):
    """Several validation errors of one request; the code is the first error's."""

    def __init__(self, errors: Sequence[ApiError]) -> None:
        super().__init__(
            errors[0].code,
            "multiple",
            "Multiple errors (the inner property holds an array of errors this request generated)",
        )
        self.errors = list(errors)

    def as_json(self) -> dict[str, Any]:
        body = super().as_json()
        body["errors"] = [error.as_json() for error in self.errors]
        return body


def raise_collected(errors: Sequence[ApiError]) -> None:
    """Raise nothing, the one error, or all of them as `multiple`."""
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise MultipleErrors(errors)


def unauthorized() -> ApiError:
    return ApiError(401, "unauthorized", "Missing or invalid bearer token")


def access_denied() -> ApiError:
    return ApiError(403, "access_denied", "Insufficient access level")


def not_found(description: str = "Not found") -> ApiError:
    return ApiError(404, "not_found", description)


def error_response(error: ApiError) -> web.Response:
    headers = {"WWW-Authenticate": "Bearer"} if error.code == 401 else None
    return web.Response(
        status=error.code,
        text=json.dumps(error.as_json()),
        content_type="application/json",
        headers=headers,
    )
