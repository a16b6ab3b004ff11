"""``casestore serve`` freezes its start-up heap before it serves (``gc.freeze``): a full
collection holds the GIL and stalls every request and group-commit hand-off while it
runs, so it must not rescan the modules, routes and schemas built at start (measured in
``casestore.bench.edge``; no timing is asserted here)."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import pytest
from casestore.api import server

from casestore.settings import load_settings
from tests.api.support import SECRET


def test_serve_freezes_the_start_up_heap_before_uvicorn_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}

    def run(app: Any, **options: Any) -> None:  # instead of serving: what uvicorn would get
        seen["frozen"] = gc.get_freeze_count()
        seen["app"] = app

    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    monkeypatch.setattr(server.uvicorn, "run", run)
    settings = load_settings({}, db=f"sqlite:///{tmp_path / 'serve.db'}", secret=SECRET)
    try:
        server._serve(settings, "127.0.0.1", 0, workers=False)
    finally:
        gc.unfreeze()
    assert seen["app"] is not None
    # Everything start-up made, the app and its routes among it, was frozen: far more
    # than the handful of objects a bare interpreter would hold.
    assert seen["frozen"] > 10_000, seen["frozen"]
