"""sipcore.presence is sans-IO and imports only downwards."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN_PURE = {"asyncio", "socket", "ssl", "aiohttp", "asyncpg", "db", "provisioning"}


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", sorted((ROOT / "sipcore" / "presence").glob("*.py")), ids=str)
def test_pure_presence_has_no_io(path: Path) -> None:
    assert not imported(path) & FORBIDDEN_PURE


@pytest.mark.parametrize(
    "path", sorted((ROOT / "sipcore" / "server").glob("presence_*.py")), ids=str
)
def test_presence_server_never_imports_provisioning(path: Path) -> None:
    assert "provisioning" not in imported(path)
