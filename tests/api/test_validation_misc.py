"""Bodies PostgreSQL cannot store (a NUL, a lone surrogate) get a clear 422, never a 500."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.database import bearer


@pytest.mark.parametrize(
    ("path", "raw"),
    [
        ("/api/tokens", '{"level": "ADMIN", "name": "a\\u0000b"}'),
        ("/api/tokens", '{"level": "RESELLER", "reseller": "", "name": "\\udbd5x"}'),
        ("/api/customers", '{"name": "Acme\\u0000"}'),
        ("/api/customers", '{"name": {"nested": ["\\ud800"]}}'),
    ],
)
async def test_unstorable_strings_are_422(api: Any, admin_token: str, path: str, raw: str) -> None:
    response = await api.post(
        path, data=raw, headers={**bearer(admin_token), "Content-Type": "application/json"}
    )
    assert response.status == 422
    body = await response.json()
    assert body["message"] == "body" and "NUL" in body["description"]
    listed = await api.get(path, headers=bearer(admin_token))
    assert listed.status == 200
