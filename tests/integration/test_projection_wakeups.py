"""Live mode wakes on a commit, not on the poll: in-process listeners (SQLite) and
LISTEN/NOTIFY from another writer (PostgreSQL); one active worker per projection."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from casestore.projections.engine.db import ViewDB
from casestore.projections.runtime.live import EmbeddedWorkers

from casestore.service import CaseService
from casestore.store.application import CasestoreApp
from tests.integration.test_projection_workload import (
    ADMIN,
    CATALOGUE,
    SimClock,
    drive,
    open_service,
)

#: Far longer than any wait below: only a wake-up can make the workers see a commit in time.
SLOW_POLL = 3600.0


def _one_case_is_seen(workers: EmbeddedWorkers, writer: CasestoreApp) -> bool:
    service = CaseService(writer, clock=SimClock())
    service.load_catalogue(CATALOGUE, ADMIN)
    drive(service, 1, seed=1)
    return workers.wait_for(writer.log.head()[0], timeout=20)


def test_sqlite_workers_wake_on_the_in_process_commit(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/w.db"
    app = CasestoreApp(url)
    with EmbeddedWorkers(app, ["case_status", "audit"], poll_interval=SLOW_POLL) as workers:
        assert workers.wait_for(app.log.head()[0], timeout=10)
        assert _one_case_is_seen(workers, app), workers.positions()


@pytest.mark.pg
def test_postgres_workers_wake_on_notify_from_another_writer(pg_db_url: str) -> None:
    reader_app = CasestoreApp(pg_db_url)
    writer_app = CasestoreApp(pg_db_url)  # its commits reach the workers only by NOTIFY
    with EmbeddedWorkers(reader_app, ["case_status"], poll_interval=SLOW_POLL) as workers:
        assert workers.wait_for(reader_app.log.head()[0], timeout=10)
        time.sleep(0.3)  # the listener is connected
        assert _one_case_is_seen(workers, writer_app), workers.positions()


def test_a_second_worker_on_the_same_sqlite_file_stands_by(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/e.db"
    service = open_service(url)
    db = ViewDB(url)
    first = EmbeddedWorkers(service.app, ["ledger"], db=db, poll_interval=0.05).start()
    second = EmbeddedWorkers(service.app, ["ledger"], db=db, poll_interval=0.05).start()
    try:
        assert first.wait_for(service.app.log.head()[0], timeout=10)
        time.sleep(0.2)
        active = [w for w in (first, second) if w.threads[0].active]
        assert len(active) == 1  # the other stands by
        (standby,) = {first, second} - set(active)
        active[0].stop()
        drive(service, 2, seed=4)
        assert standby.wait_for(service.app.log.head()[0], timeout=10)
        assert standby.threads[0].active
    finally:
        first.stop()
        second.stop()
        db.close()
