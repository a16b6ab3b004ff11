"""A store written by an older casestore is opened by today's after ``casestore db migrate``
(issue 14's upgraded database, issue 16 item 3's upgrade path).

The fixture (``tests/golden/stores/s2``) is the SQL of the stores that main at 21d846a
wrote with its own CLI (schema version 0: no schema-version table, no staff, no
subjects' key tables, query codes as ``sha256(case_id ‖ code)``, a checkpoint signed by
that release). Every expected value below is what that release printed (the fixture's
README), not read back from the store under test.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from uuid import UUID, uuid4

import psycopg
import pytest

from casestore.domain.errors import NotFound
from casestore.service import CaseService, SubmitCase
from casestore.store.application import CasestoreApp
from casestore.store.schema import SCHEMA_VERSION
from tests.conftest import APPLICANT, CLERK, FakeClock

CASESTORE = Path(sys.executable).parent / "casestore"
FIXTURE = Path(__file__).parents[1] / "golden" / "stores" / "s2"
DIGEST = "70:2d5a8c84161426245477398519e4f5999e7867616e0660724ab2b04359419d52"
VKEY = "casestore.local/log+43afa633+AWVOjwPCSegtIpsHKD4u6PhUA96u8T7dKjRiq7CS8zfn"
CASE_NO, CASE_ID, CODE = "XY202509090SSFD2", "c7588ae7-a05f-44f1-b943-ced522fa59ca", "347944"


def _cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CASESTORE_DB"}
    return subprocess.run([str(CASESTORE), *args], capture_output=True, text=True,
                          timeout=timeout, env=env, check=False)  # fmt: skip


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.pg)])
def old_store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database holding the old release's store, loaded from its SQL."""
    if request.param == "sqlite":
        path = tmp_path / "old.db"
        with sqlite3.connect(path) as conn:
            conn.executescript((FIXTURE / "sqlite.sql").read_text(encoding="utf-8"))
        conn.close()
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("pg_db_url")
    lines = (FIXTURE / "postgres.sql").read_text(encoding="utf-8").splitlines()
    script = "\n".join(line for line in lines if not line.startswith("\\"))  # psql's own
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(script)  # type: ignore[arg-type]
    return url


def test_a_store_of_an_older_release_is_migrated_and_works_with_today_s_code(
    old_store: str, tmp_path: Path
) -> None:
    url = old_store
    refused = _cli("project", "run", "--db", url, timeout=60)
    assert refused.returncode == 2, refused.stderr
    assert "schema is version 0" in refused.stderr and "casestore db migrate" in refused.stderr

    migrated = _cli("db", "migrate", "--db", url, timeout=300)
    assert migrated.returncode == 0, migrated.stderr
    assert f"schema version 0 -> {SCHEMA_VERSION}" in migrated.stdout

    # the old log, byte for byte: the digest the old release printed, its signed checkpoint
    checked = _cli("verify", "--db", url, "--digest", DIGEST)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.startswith("INTACT: 70 events")
    proof = tmp_path / "proof.json"
    made = _cli("proof", CASE_NO, "-o", str(proof), "--db", url)
    assert made.returncode == 0, made.stderr
    valid = _cli("proof", "verify", str(proof), "--key", VKEY)
    assert valid.returncode == 0, valid.stdout + valid.stderr
    assert "tree size 70" in valid.stdout

    # a case as the old release showed it
    shown = _cli("case", "show", CASE_NO, "--db", url)
    assert shown.returncode == 0, shown.stderr
    case = json.loads(shown.stdout)
    assert (case["case_id"], case["version"], case["item_code"]) == (CASE_ID, 10, "XK-004")
    assert (case["stage"], case["outcome"], case["window"]) == ("denied", "deny", "W04")
    assert case["applicant"]["name"] == "许霞刚"
    assert (case["received_on"], case["promised_completion"]) == ("2025-09-09", "2025-09-25")

    # what the upgrade added is there: the version table, the subjects' keys, the views
    tables = _tables(url)
    for table in ("casestore_schema", "casestore_subject_keys", "casestore_subject_links",
                  "projection_tracking", "casestore_events", "casestore_checkpoints"):  # fmt: skip
        assert table in tables, sorted(tables)

    # staff and grants go into the log; commands append after the old events
    admin = _cli("staff", "enroll", "adm-1", "--name", "管理员", "--first-admin", "--db", url)
    assert admin.returncode == 0, admin.stderr
    enrolled = _cli("staff", "enroll", "clerk-9", "--name", "窗口", "--by", "adm-1", "--db", url)
    assert enrolled.returncode == 0, enrolled.stderr
    granted = _cli("staff", "grant", "clerk-9", "clerk", "--window", "W04", "--by", "adm-1",
                   "--reason", "upgrade test", "--db", url)  # fmt: skip
    assert granted.returncode == 0, granted.stderr
    app = CasestoreApp(url)
    try:
        service = CaseService(app, clock=FakeClock())
        new = service.handle(SubmitCase(actor=CLERK, item_code="XK-003", applicant=APPLICANT))
        assert service.case(new.case_id).version == 1
        # the old case's query code, stored as the old release hashed it, still opens it
        assert service.check_query_code(CASE_NO, CODE).id == UUID(CASE_ID)
        with pytest.raises(NotFound):
            service.check_query_code(CASE_NO, "000000")
    finally:
        app.close()
    again = _cli("verify", "--db", url, "--digest", DIGEST)
    assert again.returncode == 0, again.stdout + again.stderr
    events = int(again.stdout.split()[1])
    assert events > 70  # three staff events and the new case after the old prefix

    if url.startswith("postgresql"):
        _app_role_reads_and_verifies(url)


def _tables(url: str) -> set[str]:
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        conn.close()
    else:
        with psycopg.connect(url) as pg:
            rows = pg.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
    return {str(r[0]) for r in rows}


def _app_role_reads_and_verifies(url: str) -> None:
    """`db grant` works on the upgraded store: the role it makes verifies and reads."""
    from urllib.parse import urlsplit

    role = f"casestore_app_{uuid4().hex[:8]}"
    assert _cli("db", "grant", role, "--db", url).returncode == 0
    parts = urlsplit(url)
    app_url = parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port}").geturl()
    try:
        checked = _cli("verify", "--db", app_url, "--digest", DIGEST)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        shown = _cli("case", "show", CASE_NO, "--db", app_url)
        assert shown.returncode == 0, shown.stderr
        assert json.loads(shown.stdout)["case_id"] == CASE_ID
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP OWNED BY {role}")  # type: ignore[arg-type]
            conn.execute(f"DROP ROLE {role}")  # type: ignore[arg-type]
