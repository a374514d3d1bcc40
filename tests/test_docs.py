"""The repository's prose stands on its own: every module or object a docstring, the
README or ARCHITECTURE.md names in backticks (`sipcore.…`, `provisioning.…`, `db.…`)
exists, and nothing cites a document outside the repository or an issue number."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("sipcore", "provisioning", "db")
DOCS = ("README.md", "ARCHITECTURE.md", "deploy/README.md", "deploy/edge/README.md",
        "bench/RESULTS.md")  # fmt: skip
NAMED = re.compile(r"`((?:sipcore|provisioning|db)(?:\.\w+)+)")
OUTSIDE = re.compile(r"DESIGN\.md|STYLE\.md|TESTING\.md|shared/reference|\bissues? #?\d+\b", re.IGNORECASE)


def sources() -> list[Path]:
    found = [path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))]
    return found + [ROOT / name for name in DOCS if (ROOT / name).exists()]


def resolves(name: str) -> bool:
    """A module, or an attribute path inside the longest module prefix that imports."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            if not hasattr(found, attribute):
                return False
            found = getattr(found, attribute)
        return True
    return False


def test_named_modules_and_objects_exist() -> None:
    missing = sorted(
        f"{path.relative_to(ROOT)}: {name}"
        for path in sources()
        for name in set(NAMED.findall(path.read_text()))
        if name != "provisioning.__main__" and not resolves(name)
    )
    assert not missing, "named but not found:\n" + "\n".join(missing)


def test_nothing_cites_documents_outside_the_repository() -> None:
    files = (
        sources() + sorted((ROOT / "tests").rglob("*.py")) + sorted((ROOT / "bench").rglob("*.py"))
    )
    cited = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in files
        if path != Path(__file__).resolve()
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert not cited, "\n".join(cited)
