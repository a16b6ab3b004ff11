"""``casestore project retry NAME`` as an operator runs it (issue 12 item 2): on a store
where one event is parked for a projection, the real CLI re-applies it after the fix,
once, prints which position it re-applied and exits 0; a second retry has nothing to do.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from casestore.projections.engine.db import ViewDB, create_target, snapshot
from casestore.projections.engine.events import LogEvent
from casestore.projections.engine.parking import parked_events
from casestore.projections.runtime.logsource import LogSource
from casestore.projections.runtime.registry import get_projection
from casestore.projections.runtime.worker import Worker, rebuild_into

from casestore.service import CaseService, SubmitCase
from casestore.store.application import CasestoreApp
from tests.conftest import ADMIN, APPLICANT, CATALOGUE, CLERK

CASESTORE = Path(sys.executable).parent / "casestore"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CASESTORE), *args], capture_output=True, text=True, timeout=300, check=False
    )


def test_the_cli_retry_applies_a_parked_event_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'retry.db'}"
    app = CasestoreApp(url)
    service = CaseService(app)
    service.load_catalogue(CATALOGUE, ADMIN)
    ids = [
        str(
            service.handle(SubmitCase(actor=CLERK, item_code="XK-003", applicant=APPLICANT)).case_id
        )
        for _ in "abc"
    ]
    bad = ids[1]
    ledger = get_projection("ledger")
    real_apply = ledger.apply

    def buggy(tx: Any, events: Sequence[LogEvent]) -> None:
        if any(e.aggregate_id == bad and e.key == "Case.Submitted" for e in events):
            raise OverflowError("date value out of range")  # the bug the fix removes
        real_apply(tx, events)

    monkeypatch.setattr(ledger, "apply", buggy)
    db = ViewDB(url)
    source = LogSource(app)
    try:
        create_target(db, ledger)
        Worker(source, db, ledger, batch=1000).catch_up()
        (parked,) = parked_events(db, "ledger")
        assert parked.aggregate_id == bad and parked.event == "Case.Submitted"
        position = parked.position
    finally:
        source.close()
        db.close()
        app.close()
    monkeypatch.undo()  # the fix is deployed; the CLI below runs the real handler

    done = run("project", "retry", "ledger", "--db", url)
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert f"re-applied 1 parked event(s): {position}; still parked: none" in done.stdout

    app = CasestoreApp(url)
    db = ViewDB(url)
    source = LogSource(app)
    try:
        assert parked_events(db) == []
        live = snapshot(db, ledger)
        # Applied exactly once: the retried view equals a clean build of the same log.
        rebuild_into(source, db, ledger, target="clean")
        assert snapshot(db, ledger, "clean") == live
    finally:
        source.close()
        db.close()
        app.close()

    again = run("project", "retry", "ledger", "--db", url)
    assert again.returncode == 0, (again.stdout, again.stderr)
    assert "re-applied 0 parked event(s); still parked: none" in again.stdout
