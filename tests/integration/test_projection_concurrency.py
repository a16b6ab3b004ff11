"""Projections tailing the log while 8 writers append: nothing skipped, nothing doubled."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from casestore.projections.engine.db import ViewDB, snapshot
from casestore.projections.runtime.live import EmbeddedWorkers
from casestore.projections.runtime.logsource import LogSource
from casestore.projections.runtime.registry import get_projection

from tests.integration.test_projection_workload import (
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


def test_tailing_projections_equal_a_rebuild_from_zero(db_url: str) -> None:
    service = open_service(db_url)
    db = ViewDB(db_url)
    applied: list[int] = []
    workers = EmbeddedWorkers(service.app, MINE, db=db, poll_interval=0.2, batch=40)
    workers.threads[0].on_commit = lambda name, pos: applied.append(pos)
    with workers:
        drive_concurrently(service, threads=8, cases_each=10, seed=11)
        head, _ = service.app.log.head()
        assert workers.wait_for(head, timeout=60), workers.positions()
        assert not workers.errors()
    # case_status followed the writers in many small transactions, not one at the end.
    assert len(applied) > 5 and applied == sorted(applied)
    for name in MINE:
        projection = get_projection(name)
        live = snapshot(db, projection)
        assert live == fresh_rebuild(service.app, db, projection), name
    assert sum(len(rows) for rows in snapshot(db, get_projection("case_status")).values()) > 80
    db.close()


def test_a_tailing_reader_sees_every_position_in_order(db_url: str) -> None:
    """Commit order equals position order: reading ``position > last`` never skips.

    On PostgreSQL each append holds the writers' lock (a transaction-scoped lock,
    released only once its commit is visible) from before it reads the last position,
    so a position becomes visible only after every smaller one has committed. The
    reader asserts that no position is ever missing while 8 writers append.
    """
    service = open_service(db_url)
    source = LogSource(service.app)
    done = threading.Event()
    seen: list[int] = []
    skipped: list[int] = []
    reads_with_news = 0

    def tail() -> None:
        nonlocal reads_with_news
        position = service.app.log.head()[0]
        seen.append(position)
        while True:
            finished = done.is_set()
            events = source.read(position, 50)
            for event in events:
                if event.position != position + 1:
                    skipped.append(position + 1)
                position = event.position
            reads_with_news += bool(events)
            seen.append(position)
            if finished and not events:
                return

    reader = threading.Thread(target=tail)
    reader.start()
    try:
        drive_concurrently(service, threads=8, cases_each=10, seed=5)
    finally:
        done.set()
        reader.join(60)
    assert not reader.is_alive()
    assert skipped == []
    assert seen[-1] == service.app.log.head()[0]
    assert reads_with_news > 3  # the reader really ran alongside the writers
    source.close()
