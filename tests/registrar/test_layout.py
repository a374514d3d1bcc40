"""The registrar's pure modules stay pure; sipcore never imports provisioning."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
IO_MODULES = {"asyncio", "socket", "ssl", "aiohttp", "asyncpg", "db", "provisioning", "selectors"}


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_registrar_and_location_are_sans_io() -> None:
    for name in ("registrar.py", "location.py"):
        assert not imported(ROOT / "sipcore" / name) & IO_MODULES, name


def test_sip_server_does_not_import_provisioning() -> None:
    for path in (ROOT / "sipcore" / "server").glob("*.py"):
        assert "provisioning" not in imported(path), path.name
