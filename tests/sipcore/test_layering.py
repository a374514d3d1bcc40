"""The SIP core outside sipcore/server stays sans-IO."""

from __future__ import annotations

import ast
from pathlib import Path

import sipcore

FORBIDDEN = {"asyncio", "socket", "ssl", "aiohttp", "asyncpg", "selectors", "provisioning"}
MINE = ["message", "headers", "uri", "syntax", "parser", "framing", "digest", "transaction",
        "ratelimit", "errors"]  # fmt: skip


def test_my_modules_import_no_io() -> None:
    root = Path(sipcore.__file__).parent
    for name in MINE:
        tree = ast.parse((root / f"{name}.py").read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            else:
                continue
            for module in modules:
                assert module.split(".")[0] not in FORBIDDEN, f"{name} imports {module}"
