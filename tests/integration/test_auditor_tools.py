"""Auditor tools fail closed (issue 12 item 6), run as an auditor runs them: the CLI.

Exit codes from the README: 0 intact, 1 tampered, 2 usage or configuration (a missing
database included), 3 cannot read / internal error. A missing or foreign database is
never created, never reported INTACT.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from casestore.service import CaseService, SubmitCase
from casestore.store.application import CasestoreApp
from casestore.store.audit import open_for_audit
from tests.conftest import ADMIN, APPLICANT, CATALOGUE, CLERK

CASESTORE = Path(sys.executable).parent / "casestore"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CASESTORE), *args], capture_output=True, text=True, timeout=120, check=False
    )


def make_log(url: str) -> None:
    app = CasestoreApp(url)
    try:
        service = CaseService(app)
        service.load_catalogue(CATALOGUE, ADMIN)
        service.handle(SubmitCase(actor=CLERK, item_code="XK-003", applicant=APPLICANT))
    finally:
        app.close()


@pytest.mark.parametrize("command", ["verify", "digest", "export"])
def test_a_missing_database_is_refused_and_never_created(tmp_path: Path, command: str) -> None:
    missing = tmp_path / "mistyped.db"
    done = run(command, "--db", f"sqlite:///{missing}")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "no database file" in done.stderr and "Traceback" not in done.stderr
    assert "INTACT" not in done.stdout
    assert list(tmp_path.iterdir()) == []


def test_export_to_a_file_from_a_missing_database_leaves_no_file(tmp_path: Path) -> None:
    done = run("export", "--db", f"sqlite:///{tmp_path}/none.db", "-o", str(tmp_path / "o.jsonl"))
    assert done.returncode == 2 and list(tmp_path.iterdir()) == []


def test_a_database_without_a_log_is_refused_untouched(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE notes (x TEXT)")
    before = other.read_bytes()
    done = run("verify", "--db", f"sqlite:///{other}")
    assert done.returncode == 2 and "holds no casestore log" in done.stderr
    assert other.read_bytes() == before
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database at all" * 100)
    assert run("verify", "--db", f"sqlite:///{garbage}").returncode == 2


def test_intact_then_tampered_exit_0_then_1(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    make_log(f"sqlite:///{db}")
    intact = run("verify", "--db", f"sqlite:///{db}")
    assert intact.returncode == 0 and intact.stdout.startswith("INTACT"), intact.stderr
    with sqlite3.connect(db) as conn:
        conn.execute("DROP TRIGGER casestore_events_no_update")
        conn.execute("UPDATE casestore_events SET state = x'00' WHERE notification_id = 3")
    tampered = run("verify", "--db", f"sqlite:///{db}")
    assert tampered.returncode == 1 and "TAMPERED" in tampered.stdout


def test_an_unreachable_server_is_exit_3_not_tampered() -> None:
    done = run("verify", "--db", "postgresql://casestore@127.0.0.1:1/casestore")
    assert done.returncode == 3, done.stdout + done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.pg
def test_postgres_audit_sessions_are_read_only_and_create_nothing(pg_db_url: str) -> None:
    done = run("verify", "--db", pg_db_url)  # an empty database: no log, nothing created
    assert done.returncode == 2 and "holds no casestore log" in done.stderr
    with psycopg.connect(pg_db_url) as conn:
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        assert tables.fetchone() == (0,)
    make_log(pg_db_url)
    app = open_for_audit(pg_db_url)
    try:
        with app.recorder.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute("SHOW transaction_read_only")
            assert curs.fetchone()["transaction_read_only"] == "on"
    finally:
        app.close()
    assert run("verify", "--db", pg_db_url).returncode == 0
