"""Fixtures of the presence tests."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # provisioning.app.authenticate stores the principal under a str request key, which
    # aiohttp 3.14 warns about (NotAppKeyWarning) and filterwarnings=error turns into a
    # 500. That file is not ours; until it uses a web.RequestKey, ignore that warning here.
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(
                pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")
            )
