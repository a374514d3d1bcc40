"""The OpenAPI 3.1 document of sipfleet's REST API (filled in below)."""

from __future__ import annotations

from typing import Any


def build_document() -> dict[str, Any]:
    return {"openapi": "3.1.0", "info": {"title": "sipfleet", "version": "0.1.0"}, "paths": {}}
