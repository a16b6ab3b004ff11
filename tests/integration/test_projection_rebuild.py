"""Blue/green rebuilds, past-time views beside the live one, and ``project status``."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from casestore.projections.engine.db import ViewDB, snapshot
from casestore.projections.readmodels.case_status.projection import CaseStatusView
from casestore.projections.readmodels.ledger import LedgerView
from casestore.projections.runtime import commands
from casestore.projections.runtime.live import EmbeddedWorkers, prepare
from casestore.projections.runtime.logsource import LogSource
from casestore.projections.runtime.registry import get_projection
from casestore.projections.runtime.worker import rebuild_as_of, rebuild_into

from casestore.domain import InvalidCommand
from tests.integration.test_projection_workload import (
    SimClock,
    drive,
    drive_concurrently,
    fresh_rebuild,
    open_service,
)

MINE = ["case_status", "audit", "ledger"]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.pg)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/events.db"
    url: str = request.getfixturevalue("pg_db_url")
    return url


def test_rebuild_until_t_equals_the_live_view_as_it_stood_at_t(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = SimClock()
    service = open_service(db_url, clock)
    db = ViewDB(db_url)
    with EmbeddedWorkers(service.app, MINE, db=db, poll_interval=0.1, batch=30) as workers:
        drive(service, 25, seed=1)
        assert workers.wait_for(service.app.log.head()[0])
        moment = clock.now  # every event so far was recorded at or before this
        at_t = {name: snapshot(db, get_projection(name)) for name in MINE}
        clock.jump_to(moment + timedelta(days=3))
        drive(service, 25, seed=2)
        assert workers.wait_for(service.app.log.head()[0])
    for name in MINE:
        projection = get_projection(name)
        assert snapshot(db, projection) != at_t[name]  # the live view moved on
        commands.rebuild(service.app, name, until=moment, target="then")
        assert snapshot(db, projection, "then") == at_t[name], name
    assert "rebuilt into target 'then'" in capsys.readouterr().out
    # Both stay queryable side by side.
    assert len(CaseStatusView(db, "then").search(limit=500).items) == 25
    assert len(CaseStatusView(db).search(limit=500).items) == 50
    db.close()


def test_rebuild_swaps_in_while_the_old_view_keeps_serving(db_url: str) -> None:
    service = open_service(db_url)
    drive(service, 30, seed=4)
    db = ViewDB(db_url)
    projection = get_projection("case_status")
    source = LogSource(service.app)
    rebuild_into(source, db, projection)
    before = snapshot(db, projection)
    view = CaseStatusView(db)
    served: list[int] = []

    def progress(name: str, position: int, head: int) -> None:
        served.append(len(view.search(limit=500).items))

    rebuild_into(source, db, projection, batch=20, progress=progress, progress_every=1)
    assert len(served) > 3 and set(served) == {30}  # never an empty or partial view
    assert snapshot(db, projection) == before
    assert [r.kind for r in db.all_tracking()] == ["live"]  # no scratch tables left
    source.close()
    db.close()


def test_rebuild_under_writers_and_a_live_worker_ends_equal_to_a_fresh_build(
    db_url: str,
) -> None:
    service = open_service(db_url)
    drive(service, 20, seed=8)
    db = ViewDB(db_url)
    source = LogSource(service.app)
    with EmbeddedWorkers(service.app, MINE, db=db, poll_interval=0.1, batch=25) as workers:
        writers = threading.Thread(
            target=drive_concurrently,
            args=(service,),
            kwargs={"threads": 4, "cases_each": 6, "seed": 9},
        )
        writers.start()
        for name in MINE:
            rebuild_into(source, db, get_projection(name), batch=15)
        writers.join()
        reached = workers.wait_for(service.app.log.head()[0], timeout=60)
        assert reached, (workers.positions(), workers.errors(), db.all_tracking())
        assert not workers.errors()
    for name in MINE:
        projection = get_projection(name)
        assert snapshot(db, projection) == fresh_rebuild(service.app, db, projection), name
    source.close()
    db.close()


def test_a_new_projection_version_is_rebuilt_blue_green_when_workers_start(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/v.db"
    service = open_service(url)
    drive(service, 10, seed=3)
    db = ViewDB(url)
    source = LogSource(service.app)
    current = get_projection("ledger")
    prepare(source, db, current)
    assert db.tracking("ledger") is not None and db.tracking("ledger").position == 0  # type: ignore[union-attr]

    class NextLedger(type(current)):  # type: ignore[misc]
        version = current.version + 1

    prepare(source, db, NextLedger(interval=7))
    row = db.tracking("ledger")
    assert row is not None and row.version == current.version + 1
    assert row.position == service.app.log.head()[0]
    assert [c["position"] for c in LedgerView(db).checkpoints()][:2] == [7, 14]
    source.close()
    db.close()


def test_time_travel_library_call_by_position_and_by_time(db_url: str) -> None:
    clock = SimClock()
    service = open_service(db_url, clock)
    drive(service, 12, seed=6)
    middle = service.app.log.head()[0]
    moment = clock.now
    clock.jump_to(moment + timedelta(hours=5))
    drive(service, 12, seed=7)
    db = ViewDB(db_url)
    by_position = rebuild_as_of(service.app, "case_status", at_position=middle, target="p", db=db)
    by_time = rebuild_as_of(service.app, "case_status", until=moment, target="t", db=db)
    assert by_position.position == by_time.position == middle
    projection = get_projection("case_status")
    assert snapshot(db, projection, "p") == snapshot(db, projection, "t")
    rows = CaseStatusView(db, "p").search(limit=500).items
    assert len(rows) == 12 and max(r["last_position"] for r in rows) <= middle
    with pytest.raises(InvalidCommand):
        rebuild_as_of(service.app, "case_status", at_position=middle, target="", db=db)
    with pytest.raises(InvalidCommand):
        rebuild_as_of(service.app, "case_status", at_position=middle, target="Bad Name", db=db)
    db.close()


def test_status_lines_show_position_head_and_lag(db_url: str) -> None:
    service = open_service(db_url)
    drive(service, 5, seed=2)
    assert commands.status(service.app)[0].startswith("no projections yet")
    commands.rebuild(service.app, "audit", quiet=True)
    until = service.clock()
    commands.rebuild(service.app, "ledger", until=until)
    drive(service, 2, seed=3)
    head = service.app.log.head()[0]
    lines = commands.status(service.app)
    audit_line = next(line for line in lines if line.startswith("audit"))
    assert f"head {head:>10}" in audit_line and "lag " in audit_line
    assert " 0 events" not in audit_line  # two more cases arrived since
    frozen = next(line for line in lines if line.startswith("ledger [asof_"))
    assert "frozen (until" in frozen
