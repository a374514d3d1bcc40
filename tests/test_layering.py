"""The product's layers, checked from its source: every module under sipcore/,
provisioning/ and db/ (found by walking the folders, so none can be left out) belongs to
one layer by the table below; imports go only along the allowed arrows; the pure SIP
package does no I/O; and no module imports itself back through others (no import circle).

Imports are read with `ast`: module-level and function-level ones, those under
`if TYPE_CHECKING:` too, relative ones resolved against their package, and
`from package import name` counts as importing the submodule `package.name` when there
is one.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("sipcore", "provisioning", "db")

# (module prefix, layer): the longest matching prefix decides; a module no row matches
# fails test_every_module_has_a_layer.
LAYER_OF_PREFIX: list[tuple[str, str]] = [
    ("provisioning.app", "app"),
    ("provisioning.__main__", "app"),  # `python -m provisioning`: the CLI's entry point
    ("provisioning", "provisioning"),
    ("sipcore.server", "server"),
    ("sipcore", "pure"),
    ("db", "db"),
]

# Layers top to bottom, each with the layers its modules may import.
ALLOWED: dict[str, set[str]] = {
    "app": {"app", "provisioning", "server", "pure", "db"},
    "provisioning": {"provisioning", "server", "pure", "db"},
    "server": {"server", "pure", "db"},
    "pure": {"pure"},
    "db": {"db"},
}

# What the pure package may not import from outside the project (the project's own
# layers are the arrows' business): the I/O of the standard library and the I/O libraries.
IO_MODULES = {"asyncio", "socket", "selectors", "ssl", "asyncpg", "aiohttp", "subprocess",
              "threading", "multiprocessing", "mmap", "fcntl"}  # fmt: skip
# Third-party libraries the pure package may import: pure ones (no sockets, no event loop).
PURE_THIRD_PARTY = {"prometheus_client"}  # metric objects; its HTTP exporter is not imported
# What db may import from outside the project besides the standard library: the driver,
# and for the embedded server (db.embedded) pgserver and psutil.
DB_THIRD_PARTY = {"asyncpg", "pgserver", "psutil"}


@dataclass(frozen=True)
class Import:
    source: str
    target: str  # absolute dotted name, as specific as the source names it
    line: int


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    """Every module of the three packages, by dotted name."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "__pycache__" not in path.parts:
                found[module_name(path)] = path
    return found


def is_package(name: str) -> bool:
    return modules()[name].name == "__init__.py"


def resolve_relative(source: str, level: int, module: str | None) -> str:
    package = source if is_package(source) else source.rpartition(".")[0]
    parts = package.split(".")
    if level > 1:
        parts = parts[: len(parts) - (level - 1)]
    base = ".".join(parts)
    return f"{base}.{module}" if module else base


def imports_of(source: str) -> list[Import]:
    tree = ast.parse(modules()[source].read_text(), filename=str(modules()[source]))
    found: list[Import] = []
    for node in ast.walk(tree):  # every level: module, function, `if TYPE_CHECKING:`
        if isinstance(node, ast.Import):
            found += [Import(source, alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = resolve_relative(source, node.level, node.module)
            else:
                base = node.module or ""
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                target = submodule if submodule in modules() else base
                found.append(Import(source, target, node.lineno))
    return found


@cache
def all_imports() -> tuple[Import, ...]:
    return tuple(item for name in modules() for item in imports_of(name))


def project_module(target: str) -> str | None:
    """The project module `target` names (itself, or the nearest package of it that
    exists when it names an attribute), or None when it is outside the project."""
    if target.split(".")[0] not in PACKAGES:
        return None
    name = target
    while name and name not in modules():
        name = name.rpartition(".")[0]
    return name or None


def layer_of(name: str) -> str | None:
    best: tuple[int, str] | None = None
    for prefix, layer in LAYER_OF_PREFIX:
        if (name == prefix or name.startswith(prefix + ".")) and (
            best is None or len(prefix) > best[0]
        ):
            best = (len(prefix), layer)
    return best[1] if best else None


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {name: set() for name in modules()}
    for item in all_imports():
        target = project_module(item.target)
        if target is not None and target != item.source:
            edges[item.source].add(target)
    return edges


def strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative; components of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return components


def a_cycle(edges: dict[str, set[str]], component: list[str]) -> list[str]:
    """One circle through the component's first module: the shortest way back to it."""
    members = set(component)
    start = component[0]
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for child in sorted(edges[node] & members):
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if child not in previous:
                    previous[child] = node
                    following.append(child)
        frontier = following
    raise AssertionError(f"no circle found in {component}")


def test_every_module_has_a_layer() -> None:
    assert len(modules()) > 100  # the walk found the packages
    unplaced = [name for name in modules() if layer_of(name) is None]
    assert not unplaced, f"modules no row of LAYER_OF_PREFIX matches: {unplaced}"


@pytest.mark.parametrize("layer", list(ALLOWED))
def test_imports_follow_the_arrows(layer: str) -> None:
    wrong = []
    for item in all_imports():
        if layer_of(item.source) != layer:
            continue
        target = project_module(item.target)
        if target is None:
            continue
        target_layer = layer_of(target)
        if target_layer not in ALLOWED[layer]:
            wrong.append(f"{item.source}:{item.line} ({layer}) imports {target} ({target_layer})")
    assert not wrong, "imports against the arrows:\n" + "\n".join(wrong)


def test_pure_package_does_no_io() -> None:
    wrong = []
    for item in all_imports():
        if layer_of(item.source) != "pure":
            continue
        top = item.target.split(".")[0]
        if top in IO_MODULES:
            wrong.append(f"{item.source}:{item.line} imports {item.target} (I/O)")
        elif top not in {*PACKAGES, *PURE_THIRD_PARTY, *sys.stdlib_module_names}:
            wrong.append(f"{item.source}:{item.line} imports {item.target} (not known pure)")
    assert not wrong, "the pure package imports I/O:\n" + "\n".join(wrong)


def test_db_imports_only_db_its_drivers_and_the_standard_library() -> None:
    wrong = []
    for item in all_imports():
        if layer_of(item.source) != "db":
            continue
        top = item.target.split(".")[0]
        if top in PACKAGES or top in DB_THIRD_PARTY or top in sys.stdlib_module_names:
            continue  # project imports are the arrows' business
        wrong.append(f"{item.source}:{item.line} imports {item.target}")
    assert not wrong, "db imports outside db, its drivers and the standard library:\n" + "\n".join(
        wrong
    )


def test_no_import_circle() -> None:
    edges = graph()
    circles = [
        f"{' -> '.join(a_cycle(edges, component))}   (circle among: {', '.join(component)})"
        for component in strongly_connected(edges)
    ]
    assert not circles, "import circles:\n" + "\n".join(circles)


def test_tests_import_only_the_support_package() -> None:
    """A test module or conftest imports shared test code from `tests.support` only,
    never another test module or a conftest."""
    wrong = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        if "support" in path.relative_to(ROOT / "tests").parts[:1]:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.ImportFrom) and node.level > 0:
                names = ["tests.<relative>." + (node.module or "")]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                if (name == "tests" or name.startswith("tests.")) and not (
                    name == "tests.support" or name.startswith("tests.support.")
                ):
                    wrong.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {name}")
    assert not wrong, "\n".join(wrong)
