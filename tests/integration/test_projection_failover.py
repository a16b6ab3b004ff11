"""PostgreSQL: two ``project run`` processes, one active per projection; kill -9 the
active one and the standby takes over from the committed position.

Run as a module this file starts :func:`casestore.projections.runtime.commands.run`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from casestore.projections.engine.db import ViewDB, snapshot
from casestore.projections.runtime.commands import run
from casestore.projections.runtime.logsource import LogSource
from casestore.projections.runtime.registry import get_projection
from casestore.projections.runtime.status import ProjectionStatus, statuses

from tests.integration.test_projection_workload import drive, fresh_rebuild, open_service

pytestmark = pytest.mark.pg
REPO = Path(__file__).parents[2]


def _start(url: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.test_projection_failover", url],
        cwd=REPO,
        stderr=subprocess.DEVNULL,
    )


def _until(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_standby_takes_over_when_the_active_worker_is_killed(pg_db_url: str) -> None:
    service = open_service(pg_db_url)
    drive(service, 10, seed=1)
    db = ViewDB(pg_db_url)
    source = LogSource(service.app)

    def live() -> ProjectionStatus | None:
        return next((s for s in statuses(db, source) if s.name == "case_status"), None)

    def active_pid() -> int | None:
        s = live()
        return int(s.active.split()[1].split("@")[0]) if s and s.active else None

    first, second = _start(pg_db_url), _start(pg_db_url)
    procs = {first.pid: first, second.pid: second}
    try:
        _until(lambda: active_pid() in procs, "an elected worker")
        leader = active_pid()
        assert leader is not None
        time.sleep(0.3)
        assert active_pid() == leader and all(p.poll() is None for p in procs.values())
        head = service.app.log.head()[0]
        _until(lambda: (s := live()) is not None and s.position == head, "catch-up")
        os.kill(leader, signal.SIGKILL)
        procs.pop(leader).wait(10)
        drive(service, 10, seed=2)  # written while no worker is active, or just after
        head = service.app.log.head()[0]
        (standby,) = procs
        _until(lambda: active_pid() == standby, "the standby to take over")
        _until(lambda: (s := live()) is not None and s.position == head, "the standby to catch up")
        survivor = procs[standby]
        survivor.send_signal(signal.SIGTERM)
        assert survivor.wait(15) == 0  # a clean stop on SIGTERM
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    projection = get_projection("case_status")
    assert snapshot(db, projection) == fresh_rebuild(service.app, db, projection)
    source.close()
    db.close()


if __name__ == "__main__":
    from casestore.bootstrap import open_store

    store = open_store(sys.argv[1])
    try:
        run(store, ["case_status"], poll_interval=0.1)
    finally:
        store.close()
