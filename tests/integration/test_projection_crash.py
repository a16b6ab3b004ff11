"""kill -9 a projection worker process in the middle of a batch, restart it: exactly once.

Run as a module this file *is* the worker process: projection workers whose third
batch announces itself in a marker file and then stalls before its commit, so the
kill lands while the batch's rows are written but not committed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from casestore.projections.engine.base import LogEvent
from casestore.projections.engine.db import ViewDB, snapshot
from casestore.projections.runtime.live import EmbeddedWorkers
from casestore.projections.runtime.registry import get_projection
from casestore.projections.runtime.worker import Worker

from casestore.store.application import CasestoreApp
from tests.integration.test_projection_workload import drive, fresh_rebuild, open_service

REPO = Path(__file__).parents[2]
STALL_ON_BATCH = 3


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.pg)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/events.db"
    url: str = request.getfixturevalue("pg_db_url")
    return url


def _wait_for(path: Path, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return path.read_text()
        if proc.poll() is not None:
            raise AssertionError(
                f"worker exited early: {proc.stderr.read() if proc.stderr else ''!r}"
            )
        time.sleep(0.05)
    raise AssertionError("the worker never reached the stalled batch")


def test_kill_9_mid_batch_then_restart_counts_every_event_once(db_url: str, tmp_path: Path) -> None:
    service = open_service(db_url)
    drive(service, 40, seed=21)
    head, _ = service.app.log.head()
    marker = tmp_path / "mid-batch"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.test_projection_crash", db_url, str(marker)],
        cwd=REPO,
        stderr=subprocess.PIPE,
    )
    db = ViewDB(db_url)
    try:
        before, batch_last = map(int, _wait_for(marker, proc).split())
        assert before < batch_last <= head
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()
    audit = get_projection("audit")
    _assert_position(db, "audit", before)
    # The stalled batch left nothing behind: rows stop at the committed position.
    (committed,) = db.rows("SELECT max(position) AS last FROM audit_timeline")
    assert committed["last"] is not None and committed["last"] <= before
    with EmbeddedWorkers(service.app, ["audit", "case_status"], db=db, poll_interval=0.1) as w:
        assert w.wait_for(head, timeout=60), w.positions()
    (counted,) = db.rows("SELECT sum(events) AS n FROM audit_activity")
    (rows,) = db.rows("SELECT count(*) AS n FROM audit_timeline WHERE actor_staff <> ''")
    assert counted["n"] == rows["n"]  # each event counted once
    assert snapshot(db, audit) == fresh_rebuild(service.app, db, audit)
    status = get_projection("case_status")
    assert snapshot(db, status) == fresh_rebuild(service.app, db, status)
    db.close()


def _assert_position(db: ViewDB, key: str, expected: int) -> None:
    """The killed session's transaction is rolled back by the server (PostgreSQL notices
    the closed socket); until then the row lock may linger but the position is final."""
    row = db.tracking(key)
    assert row is not None and row.position == expected


# --------------------------------------------------------------------------- the worker


def _stall_third_batch(marker: Path) -> Any:
    batches = 0

    def hook(worker: Worker, page: Sequence[LogEvent]) -> None:
        nonlocal batches
        if worker.projection.name != "audit":
            return
        batches += 1
        if batches == STALL_ON_BATCH:
            before = page[0].position - 1
            tmp = marker.with_suffix(".tmp")
            tmp.write_text(f"{before} {page[-1].position}")
            tmp.rename(marker)
            time.sleep(120)  # killed here, inside the transaction

    return hook


def main(argv: list[str]) -> None:
    db_url, marker = argv[0], Path(argv[1])
    app = CasestoreApp(db_url)
    workers = EmbeddedWorkers(
        app, ["audit", "case_status"], batch=25, before_commit=_stall_third_batch(marker)
    )
    workers.start()
    time.sleep(300)


if __name__ == "__main__":
    main(sys.argv[1:])
