"""Fixtures for in-process API tests (helpers live in ``tests.api.support``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.support import Api, make_api


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    client = make_api(tmp_path / "api.db")
    yield client
    client.close()


@pytest.fixture
def api_workers(tmp_path: Path) -> Iterator[Api]:
    client = make_api(tmp_path / "api.db", workers=True)
    yield client
    client.close()
