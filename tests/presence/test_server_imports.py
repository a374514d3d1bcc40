"""The presence I/O package imports in one direction: no module of
`sipcore.server.presence` imports, directly or through others, one that imports it back
(publish never imports service); and `PresenceService` is built from parts, not mixins."""

from __future__ import annotations

import ast
from pathlib import Path

from sipcore.server.presence.service import PresenceService

PACKAGE = Path(__file__).resolve().parents[2] / "sipcore" / "server" / "presence"
PREFIX = "sipcore.server.presence."


def _imports() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.glob("*.py"):
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module.startswith(PREFIX):
                    found.add(node.module.removeprefix(PREFIX))
                elif node.module == PREFIX.rstrip("."):
                    found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.Import):
                found.update(
                    a.name.removeprefix(PREFIX) for a in node.names if a.name.startswith(PREFIX)
                )
        graph[path.stem] = found
    return graph


def test_no_import_circle() -> None:
    graph = _imports()

    def reach(start: str) -> set[str]:
        seen: set[str] = set()
        todo = list(graph.get(start, ()))
        while todo:
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                todo.extend(graph.get(name, ()))
        return seen

    assert {name for name in graph if name in reach(name)} == set()
    assert "service" not in reach("publish")


def test_the_service_is_composed_not_mixed_in() -> None:
    assert PresenceService.__bases__ == (object,)
