"""Fixtures of the outage tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.outage import one_postgres
from tests.support.pgcluster import PgServer


@pytest.fixture
def postgres() -> Iterator[PgServer]:
    """A PostgreSQL of the test's own, with the empty database DATABASE."""
    with one_postgres() as server:
        yield server
