"""Reading past the event kinds a projection does not handle (issue 11, rebuild speed).

A worker asks the log source only for the kinds its projection handles; the others are
never built or decoded, yet the position moves past them exactly as before, and the
view is the same as a build that saw every event.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from casestore.projections.engine.db import ViewDB, create_target, snapshot
from casestore.projections.readmodels.audit import PROJECTION as AUDIT
from casestore.projections.readmodels.ledger import PROJECTION as LEDGER
from casestore.projections.runtime.logsource import LogSource
from casestore.projections.runtime.registry import get_projection
from casestore.projections.runtime.worker import Worker, rebuild_into

from tests.integration.test_projection_workload import drive, open_service


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.pg)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/events.db"
    url: str = request.getfixturevalue("pg_db_url")
    return url


def test_kinds_are_the_handler_keys_unless_a_projection_decides_per_event() -> None:
    evaluation = get_projection("evaluation").kinds()
    assert evaluation is not None
    assert "Case.Evaluated" in evaluation and "Item.Published" not in evaluation
    assert LEDGER.kinds() is None  # every event
    assert AUDIT.kinds() is None  # its own handles()


def test_a_page_read_for_some_kinds_keeps_them_and_still_ends_at_the_last_row(
    db_url: str,
) -> None:
    service = open_service(db_url)
    drive(service, 3, seed=5)
    head = service.app.log.head()[0]
    source = LogSource(service.app)
    try:
        every = source.read_page(0, head)
        some = source.read_page(0, head, keys=frozenset({"Case.Submitted"}))
        none = source.read_page(0, head, keys=frozenset({"No.Such"}))
    finally:
        source.close()
    assert every.read == some.read == none.read == head
    assert every.last_position == some.last_position == none.last_position == head
    assert [e.position for e in some] == [e.position for e in every if e.key == "Case.Submitted"]
    assert len(some) == 3 and len(none) == 0
    assert every[-1].recorded_at_us == some.last_recorded_at_us == none.last_recorded_at_us


def test_a_worker_reading_past_other_kinds_ends_at_the_head_with_the_same_view(
    db_url: str,
) -> None:
    service = open_service(db_url)
    drive(service, 6, seed=9)
    head = service.app.log.head()[0]
    db, source = ViewDB(db_url), LogSource(service.app)
    projection = get_projection("evaluation")
    try:
        rebuild_into(source, db, projection, target="filtered", batch=7)
        assert db.tracking("evaluation__filtered").position == head  # type: ignore[union-attr]
        # The same build seeing every event (a hook wants whole pages): the same rows.
        create_target(db, projection, "whole", kind="target")
        worker = Worker(source, db, projection, target="whole", batch=7, before_commit=_none)
        assert worker.keys is None
        worker.catch_up()
        assert worker.position == head
        assert snapshot(db, projection, "filtered") == snapshot(db, projection, "whole")
    finally:
        source.close()
        db.close()


def _none(worker: Worker, page: object) -> None:
    return None


def test_a_prefetch_whose_connection_fails_raises_instead_of_waiting_forever(
    db_url: str,
) -> None:
    """The read-ahead thread opens its own connection; when that fails (the database is
    restarting) the error reaches the worker, which retries, instead of killing the thread
    and leaving the worker waiting for a page that never comes (a served process's
    projections stopped at their positions after a PostgreSQL restart)."""
    import threading

    service = open_service(db_url)
    drive(service, 1, seed=5)
    source = LogSource(service.app)

    def refused() -> None:
        raise ConnectionError("the database system is starting up")

    source.connect = refused  # type: ignore[method-assign,assignment]
    outcome: list[BaseException] = []

    def read() -> None:
        try:
            list(source.pages(0, 2, prefetch=True))
        except BaseException as e:
            outcome.append(e)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=30)
    try:
        assert not reader.is_alive(), "the worker waits forever for the read-ahead"
        assert [type(e) for e in outcome] == [ConnectionError]
    finally:
        source.close()
