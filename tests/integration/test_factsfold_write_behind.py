"""Facts projections (compliance, supervision, evaluation) keep case facts between
batches, and a bulk build writes each case once, when it leaves that cache or at the
end. Whatever the cache size and batching, the tables must equal a build that writes
every case at every batch (small batches, no cache)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from casestore.projections.engine.db import ViewDB, create_target, snapshot
from casestore.projections.facts import factsfold
from casestore.projections.runtime.logsource import LogSource
from casestore.projections.runtime.registry import get_projection
from casestore.projections.runtime.worker import Worker, rebuild_into

from casestore.simulate import run_simulation
from casestore.store.application import CasestoreApp

FACTS_PROJECTIONS = ["compliance", "supervision", "evaluation"]


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Any:
    url = f"sqlite:///{tmp_path_factory.mktemp('wb')}/events.db"
    # Enough cases for every rule to fire somewhere, suspensions and extensions included.
    run_simulation(url, cases=160, seed=5, start=date(2025, 3, 3), days=60, progress=False)
    app = CasestoreApp(url)
    db = ViewDB(url)
    source = LogSource(app)
    yield app, db, source
    source.close()
    db.close()
    app.close()


def _step_by_step(source: LogSource, db: ViewDB, name: str, target: str) -> Any:
    projection = get_projection(name)
    create_target(db, projection, target)
    Worker(source, db, projection, target=target, batch=9).catch_up()
    return snapshot(db, projection, target)


@pytest.mark.parametrize("name", FACTS_PROJECTIONS)
def test_a_bulk_build_with_evictions_equals_a_build_written_at_every_batch(
    history: Any, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _app, db, source = history
    projection = get_projection(name)
    monkeypatch.setattr(factsfold, "LIVE_CACHE", 0)
    plain = _step_by_step(source, db, name, "plain")
    assert plain["compliance_cases" if name == "compliance" else f"{name}_cases"]
    # A live worker keeping three cases between batches: the rest are re-read.
    monkeypatch.setattr(factsfold, "LIVE_CACHE", 3)
    assert _step_by_step(source, db, name, "small") == plain
    # Bulk builds: cases held back and written when they leave a cache of four (and come
    # back later), or all at the end with the default cache.
    monkeypatch.setattr(factsfold, "BUILD_CACHE", 4)
    rebuild_into(source, db, projection, target="evicting", batch=40)
    assert snapshot(db, projection, "evicting") == plain
    monkeypatch.undo()
    rebuild_into(source, db, projection, target="held", batch=500)
    assert snapshot(db, projection, "held") == plain


def test_the_facts_are_written_once_per_case_in_a_bulk_build(
    history: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The point of holding back: a case's row is derived once, not once per batch."""
    _app, db, source = history
    projection = get_projection("compliance")
    derived: list[str] = []
    row = projection.row  # type: ignore[attr-defined]

    def counting(f: Any, fallback: Any = None) -> Any:
        derived.append(f.case_id)
        return row(f, fallback)

    monkeypatch.setattr(projection, "row", counting)
    rebuild_into(source, db, projection, target="once", batch=25)
    assert derived and len(derived) == len(set(derived))
    cases = db.rows("SELECT count(*) AS n FROM compliance_cases__once")[0]["n"]
    assert len(derived) == cases


def test_a_case_whose_row_cannot_be_derived_at_the_end_of_a_bulk_build_is_parked(
    history: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Held-back rows are derived when the bulk ends; a failure there is a handler's
    failure like any other: the build starts again row by row and parks that case's
    events instead of failing the whole rebuild."""
    _app, db, source = history
    projection = get_projection("compliance")
    submitted = [
        e.aggregate_id for page in source.pages(0, 1000) for e in page if e.key == "Case.Submitted"
    ]
    poisoned = submitted[-1]  # the last case: still held when the bulk ends
    row = projection.row  # type: ignore[attr-defined]

    def failing(f: Any, fallback: Any = None) -> Any:
        if f.case_id == poisoned:
            raise OverflowError("date value out of range")
        return row(f, fallback)

    monkeypatch.setattr(projection, "row", failing)
    rebuild_into(source, db, projection, target="poisoned", batch=500)
    ids = {r["case_id"] for r in db.rows("SELECT case_id FROM compliance_cases__poisoned")}
    assert ids == set(submitted) - {poisoned}
