"""The projection shape: portable tables and SQL, decoded log events, registry, tracking."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from casestore.projections.engine.base import Column, Index, Table, check_target, physical
from casestore.projections.engine.db import ViewDB, ViewTracking, create_target, snapshot, swap
from casestore.projections.runtime.logsource import LogSource
from casestore.projections.runtime.registry import all_projections, get_projection, select
from casestore.projections.runtime.worker import Worker, rebuild_into

from casestore.domain import InvalidCommand, NotFound
from casestore.domain.values import Party
from casestore.service import Accept, SubmitCase
from tests.integration.test_projection_workload import (
    CLERKS,
    SimClock,
    fresh_rebuild,
    open_service,
)

COUNTS = Table(
    "t_counts",
    (Column("a", not_null=True), Column("b", "int", not_null=True), Column("n", "int")),
    ("a", "b"),
    (Index("n", ("n",)),),
)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.pg)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ViewDB]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/v.db"
    else:
        url = request.getfixturevalue("pg_db_url")
    views = ViewDB(url)
    yield views
    views.close()


def test_tables_declare_portable_ddl() -> None:
    sqlite = COUNTS.ddl("sqlite", "t_counts__x")
    postgres = COUNTS.ddl("postgres", "t_counts__x")
    assert sqlite[0] == (
        "CREATE TABLE t_counts__x (a TEXT NOT NULL, b INTEGER NOT NULL, n INTEGER, "
        "PRIMARY KEY (a, b))"
    )
    assert "b BIGINT NOT NULL" in postgres[0]
    assert sqlite[1] == postgres[1] == "CREATE INDEX ix_t_counts__x_n ON t_counts__x (n)"
    with pytest.raises(ValueError):
        Table("t", (Column("a"),), ("missing",))
    with pytest.raises(ValueError):
        Column("a; drop", "text")


def test_target_names_are_checked() -> None:
    assert physical("case_status", "mar1") == "case_status__mar1"
    assert check_target("") == ""
    for bad in ("Mar", "a b", "x" * 25, "a__b", "1a"):
        with pytest.raises(InvalidCommand):
            check_target(bad)


@pytest.mark.parametrize("size", [10, 600])  # PostgreSQL: INSERT below 64 rows, COPY above
def test_upsert_sums_counters_and_select_keys_reads_many(db: ViewDB, size: int) -> None:
    with db.transaction({"t_counts": "t_counts"}) as tx:
        for statement in COUNTS.ddl(db.backend, "t_counts"):
            tx.execute(statement)
        rows = [{"a": f"k{i}", "b": i % 3, "n": 1} for i in range(size)]
        tx.upsert(COUNTS, rows, add=("n",))
        tx.upsert(COUNTS, rows[:5], add=("n",))  # summed, not replaced
        tx.upsert(COUNTS, [(f"k{i}", i % 3, 1) for i in range(size)], add=("n",))  # tuples
        keys = [(f"k{i}", i % 3) for i in range(size)] + [("none", 0)]
        found = tx.select_keys(COUNTS, keys)
    assert len(found) == size
    assert found[("k0", 0)]["n"] == 3 and found[(f"k{size - 1}", (size - 1) % 3)]["n"] == 2
    with db.transaction({"t_counts": "t_counts"}) as tx:
        tx.upsert(COUNTS, [{"a": "k0", "b": 0, "n": 7}])
        assert tx.execute("SELECT n FROM {t_counts} WHERE a = %s", ("k0",)) == [(7,)]
    with (
        pytest.raises(Exception, match=r"(?i)unique|duplicate"),
        db.transaction({"t_counts": "t_counts"}) as tx,
    ):
        tx.insert(COUNTS, [("k1", 1, 1)])  # a plain insert never overwrites


def test_log_events_decode_actor_times_and_plain_fields(tmp_path: Path) -> None:
    clock = SimClock()
    service = open_service(f"sqlite:///{tmp_path}/e.db", clock)
    sub = service.handle(
        SubmitCase(
            actor=CLERKS[1],
            item_code="XK-003",
            applicant=Party(**{"name": "李四", "id_type": "resident_id", "id_number": "1"}),
        )
    )
    service.handle(Accept(case_id=sub.case_id, actor=CLERKS[1]))
    source = LogSource(service.app)
    events = [e for e in source.read(0, 1000) if e.aggregate_id == str(sub.case_id)]
    submitted, accepted = events
    assert (submitted.key, accepted.key) == ("Case.Submitted", "Case.Accepted")
    assert submitted.actor() == {
        "staff_id": "c2",
        "role": "clerk",
        "name": "clerk 2",
        "window": "W02",
    }
    assert submitted.occurred_at_us is None and submitted.business_at_us == submitted.recorded_at_us
    assert submitted.plain("applicant")["name"] == "李四"
    assert submitted.plain("case_no") == sub.case_no
    assert isinstance(accepted.plain("promised_completion"), str)
    assert accepted.plain("limits")["pause_kinds"] == []
    assert [e.position for e in source.read(0, 3)] == [1, 2, 3]
    assert source.read(0, 10, upto=2)[-1].position == 2
    source.close()


def test_registry_lists_mine_and_refuses_unknown_names() -> None:
    names = [p.name for p in all_projections()]
    assert names[:3] == ["case_status", "audit", "ledger"]
    assert [p.name for p in select(["ledger", "ledger"])] == ["ledger"]
    assert select([]) == all_projections()
    with pytest.raises(NotFound, match="known: case_status"):
        get_projection("nope")


def test_tracking_speaks_eventsourcings_tracking_recorder(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/tr.db"
    service = open_service(url)
    db = ViewDB(url)
    ledger = get_projection("ledger")
    assert create_target(db, ledger) is True and create_target(db, ledger) is False
    tracking = ViewTracking(db, "ledger")
    assert tracking.max_tracking_id("casestore") is None
    with pytest.raises(TimeoutError):
        tracking.wait("casestore", 1, timeout=0.05)
    source = LogSource(service.app)
    rebuild_into(source, db, ledger)
    head = service.app.log.head()[0]
    tracking.wait("casestore", head, timeout=1)  # returns: the view has reached the head
    assert tracking.has_tracking_id("casestore", head)
    source.close()
    db.close()


def test_an_idle_worker_notices_a_swap_to_an_older_position(tmp_path: Path) -> None:
    """A rebuild can swap in tables one event behind what the live worker applied; with
    no new event to trigger a batch, the worker must still re-apply that event."""
    url = f"sqlite:///{tmp_path}/swap.db"
    service = open_service(url)
    db = ViewDB(url)
    source = LogSource(service.app)
    audit = get_projection("audit")
    create_target(db, audit)
    live = Worker(source, db, audit)
    live.catch_up()
    head = service.app.log.head()[0]
    assert live.position == head
    create_target(db, audit, "older", kind="scratch")
    Worker(source, db, audit, target="older", upto=head - 1).catch_up()
    swap(db, audit, "older", "")
    assert db.tracking("audit").position == head - 1  # type: ignore[union-attr]
    assert live.catch_up() == 1  # nothing new in the log, yet the last event is re-applied
    assert db.tracking("audit").position == head  # type: ignore[union-attr]
    assert snapshot(db, audit) == fresh_rebuild(service.app, db, audit)
    source.close()
    db.close()
