"""Fixtures of the phone API tests."""

from __future__ import annotations

from pathlib import Path

import pytest

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`provisioning.app.authenticate` stores the principal under a plain string key, which
    aiohttp 3.14 answers with NotAppKeyWarning (an error under filterwarnings=error). The
    warning is harmless at run time; until app.py uses a web.RequestKey, ignore it here."""
    for item in items:
        if _HERE in Path(str(item.fspath)).parents:
            item.add_marker(
                pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")
            )
