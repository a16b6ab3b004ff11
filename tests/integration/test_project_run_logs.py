"""``casestore project run`` logs as the README says (issue 16): JSON lines on stderr, one
object per line with ``ts``, ``level`` and ``msg``, at ``CASESTORE_LOG_LEVEL``. The real
command runs as a subprocess on a small SQLite store until its workers have projected the
one case, then is stopped with SIGTERM as a service manager stops it."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from casestore.service import CaseService, SubmitCase
from casestore.store.application import CasestoreApp
from tests.conftest import ADMIN, APPLICANT, CATALOGUE, CLERK, FakeClock

CASESTORE = str(Path(sys.executable).with_name("casestore"))
PATIENCE = 240.0  # seconds: a generous bound on a loaded machine, never a speed claim


def _projected(db: Path) -> bool:
    """The case_status worker has written the case (so the workers run and the signal
    handlers of ``project run`` are installed: they are set before the workers start)."""
    try:
        with sqlite3.connect(db) as conn:
            return bool(conn.execute("SELECT count(*) FROM case_status").fetchone()[0])
    except sqlite3.OperationalError:  # the table is not there yet
        return False


def _run_until_projected(tmp_path: Path, level: str) -> tuple[int, list[str]]:
    db = tmp_path / "log.db"
    url = f"sqlite:///{db}"
    app = CasestoreApp(url)
    try:
        svc = CaseService(app, clock=FakeClock(datetime.fromisoformat("2025-09-30T10:00+08:00")))
        svc.load_catalogue(CATALOGUE, ADMIN)
        svc.handle(SubmitCase(actor=CLERK, item_code="XK-011", applicant=APPLICANT))
    finally:
        app.close()
    keep = {k: v for k, v in os.environ.items() if not k.startswith("CASESTORE_")}
    err = tmp_path / "stderr.txt"
    with err.open("wb") as out:
        proc = subprocess.Popen(
            [CASESTORE, "project", "run", "--db", url],
            env={**keep, "CASESTORE_LOG_LEVEL": level},
            stdout=subprocess.DEVNULL,
            stderr=out,
        )
        try:
            deadline = time.monotonic() + PATIENCE
            while not _projected(db):
                assert proc.poll() is None, err.read_text()
                assert time.monotonic() < deadline, err.read_text()
                time.sleep(0.3)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=PATIENCE)
    return proc.returncode, err.read_text().splitlines()


def _entries(lines: list[str]) -> list[dict[str, Any]]:
    """Every line as a JSON object with ts, level and msg (a plain-text line fails here)."""
    entries = []
    for line in lines:
        entry = orjson.loads(line)
        assert isinstance(entry, dict), line
        assert {"ts", "level", "msg"} <= entry.keys(), line
        datetime.fromisoformat(entry["ts"])
        entries.append(entry)
    return entries


def test_project_run_writes_json_lines_to_stderr_at_info(tmp_path: Path) -> None:
    code, lines = _run_until_projected(tmp_path, "info")
    assert code == 0, lines
    entries = _entries(lines)
    messages = [e["msg"] for e in entries if e["level"] == "info"]
    assert "projection case_status active at position 0" in messages
    assert any(m.startswith("projection workers for case_status") for m in messages)
    assert messages[-1] == "projection workers stopped"  # the last words after SIGTERM


@pytest.mark.parametrize("level", ["warning", "error"])
def test_casestore_log_level_above_info_silences_the_info_lines(tmp_path: Path, level: str) -> None:
    code, lines = _run_until_projected(tmp_path, level)
    assert code == 0, lines
    entries = _entries(lines)
    assert [e for e in entries if e["level"] in ("debug", "info")] == []
    # the ledger's warning (no signing key in this store) shows at warning, not at error
    unsigned = [e for e in entries if "no CASESTORE_SIGNING_KEY" in e["msg"]]
    assert [e["level"] for e in unsigned] == (["warning"] if level == "warning" else [])
