"""Schema ownership (SPEC §12, issue 16 item 3): ``db migrate``, ``db grant``, the start check.

Version 0 is the unversioned layout every earlier release created on start: a log with
events, no ``casestore_schema`` table, no verifiable-log tables, no read views (and, on
PostgreSQL, the obsolete ``casestore_append_v1`` function). The fixture below makes one
from a real log by taking away what version 1 added.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from uuid import uuid4

import orjson
import psycopg
import pytest

from casestore.service import CaseService
from casestore.store.application import CasestoreApp
from casestore.store.schema import SCHEMA_VERSION
from tests.conftest import ADMIN, CATALOGUE, CLERK, FakeClock
from tests.conftest import APPLICANT as PARTY

CASESTORE = Path(sys.executable).parent / "casestore"
MESSAGE_OLD = (
    f"schema is version 0, this casestore needs version {SCHEMA_VERSION}: "
    "run `casestore db migrate`"
)
LEDGER_TABLES = ("casestore_merkle_nodes", "casestore_merkle_head", "casestore_cosignatures",
                 "casestore_checkpoints")  # fmt: skip


def _cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CASESTORE), *args], capture_output=True, text=True,
                          timeout=timeout, env=env or dict(os.environ), check=False)  # fmt: skip


def _history(url: str, cases: int = 3) -> None:
    from casestore.service.commands import SubmitCase

    app = CasestoreApp(url)
    try:
        service = CaseService(app, clock=FakeClock())
        service.load_catalogue(CATALOGUE, ADMIN)
        for _ in range(cases):
            service.handle(SubmitCase(actor=CLERK, item_code="XK-003", applicant=PARTY))
    finally:
        app.close()


def _make_version_0(url: str) -> None:
    """A log as the earlier releases left it (see the module docstring)."""
    _history(url)
    drops = ["casestore_schema", *LEDGER_TABLES]
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///")
        with sqlite3.connect(path) as conn:
            for table in drops:
                conn.execute(f"DROP TABLE IF EXISTS {table}")
        return
    with psycopg.connect(url, autocommit=True) as conn:
        for table in drops:
            conn.execute(f"DROP TABLE IF EXISTS {table} CASCADE")  # type: ignore[arg-type]
        conn.execute("CREATE FUNCTION casestore_append_v1() RETURNS int LANGUAGE sql AS 'SELECT 1'")


def _version(url: str) -> int | None:
    from casestore.store.schema import state

    return state(url).version


def test_a_new_store_is_current_and_migrate_is_idempotent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/new.db"
    first = _cli("db", "migrate", "--db", url)
    assert first.returncode == 0, first.stderr
    assert f"schema version none (empty database) -> {SCHEMA_VERSION}" in first.stdout
    again = _cli("db", "migrate", "--db", url)
    assert again.returncode == 0
    assert f"schema version {SCHEMA_VERSION} -> {SCHEMA_VERSION}" in again.stdout
    assert "read views" not in again.stdout  # nothing left to build
    assert _version(url) == SCHEMA_VERSION


def test_migrate_from_version_0_on_sqlite_then_the_log_verifies(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/old.db"
    _make_version_0(url)
    assert _version(url) is None
    refused = _cli("project", "run", "--db", url, timeout=60)
    assert refused.returncode == 2
    assert MESSAGE_OLD in refused.stderr
    done = _cli("db", "migrate", "--db", url)
    assert done.returncode == 0, done.stderr
    assert f"schema version 0 -> {SCHEMA_VERSION}" in done.stdout and "case_status" in done.stdout
    assert _version(url) == SCHEMA_VERSION
    checked = _cli("verify", "--db", url)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_migrate_refuses_to_downgrade_and_processes_refuse_a_newer_schema(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/new.db"
    assert _cli("db", "migrate", "--db", url).returncode == 0
    with sqlite3.connect(f"{tmp_path}/new.db") as conn:
        conn.execute("INSERT INTO casestore_schema VALUES (7, 'later', 'casestore 9')")
    down = _cli("db", "migrate", "--db", url)
    assert down.returncode == 2
    assert (
        f"version 7, newer than this casestore (version {SCHEMA_VERSION}): "
        "db migrate never downgrades"
    ) in down.stderr
    serve = _cli("serve", "--db", url, "--port", "1", timeout=60)
    assert serve.returncode == 2
    assert "version 7, newer than this casestore" in serve.stderr


@pytest.mark.pg
def test_migrate_from_version_0_on_postgres_and_the_app_role_runs_the_workers(
    pg_db_url: str, tmp_path: Path
) -> None:
    _make_version_0(pg_db_url)
    refused = _cli("serve", "--no-workers", "--db", pg_db_url, "--port", "1", timeout=60)
    assert refused.returncode == 2 and MESSAGE_OLD in refused.stderr
    done = _cli("db", "migrate", "--db", pg_db_url)
    assert done.returncode == 0, done.stderr
    assert f"schema version 0 -> {SCHEMA_VERSION}" in done.stdout
    with psycopg.connect(pg_db_url) as conn:
        gone = conn.execute("SELECT to_regprocedure('casestore_append_v1()')").fetchone()
    assert gone == (None,)
    role = f"casestore_app_{uuid4().hex[:8]}"
    granted = _cli("db", "grant", role, "--db", pg_db_url)
    assert granted.returncode == 0, granted.stderr
    parts = urlsplit(pg_db_url)
    app_url = parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port}").geturl()
    try:
        # What the app role may not do: rewrite the log or its keys, or create tables.
        refused_sql = (
            "UPDATE casestore_events SET topic = 'x'",
            "DELETE FROM casestore_events",
            "TRUNCATE casestore_events",
            "DELETE FROM casestore_idempotency",
            "UPDATE casestore_checkpoints SET note = 'x'",
            "CREATE TABLE casestore_rogue (x int)",
        )
        for statement in refused_sql:
            with (
                psycopg.connect(app_url, autocommit=True) as conn,
                pytest.raises(psycopg.errors.InsufficientPrivilege),
            ):
                conn.execute(statement)  # type: ignore[arg-type]
        # The projection workers, as the app role, catch up over the views migrate built
        # (before: "permission denied for table projection_tracking").
        from casestore.projections.runtime.live import EmbeddedWorkers

        _history(app_url, cases=2)
        app = CasestoreApp(app_url)
        workers = EmbeddedWorkers(app)
        try:
            workers.start()
            head = app.log.head()[0]
            assert workers.wait_for(head, timeout=120)
            assert workers.errors() == {}
        finally:
            workers.stop()
            app.close()
        with psycopg.connect(app_url) as conn:
            rows = conn.execute("SELECT count(*) FROM case_status").fetchone()
        assert rows == (5,)  # three cases from before the upgrade, two after
        # `casestore project run` itself starts as the app role against the current schema.
        log = tmp_path / "run.log"
        with log.open("wb") as out:
            proc = subprocess.Popen([str(CASESTORE), "project", "run", "--db", app_url],
                                    stdout=out, stderr=out)  # fmt: skip
        try:
            deadline = time.monotonic() + 90
            while b"started" not in log.read_bytes():
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.3)
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=60)
        assert proc.returncode == 0, log.read_text()
        assert b"permission denied" not in log.read_bytes()
        lines = [orjson.loads(line) for line in log.read_bytes().splitlines() if line.strip()]
        assert any(x["msg"].startswith("projection workers for") for x in lines)  # JSON lines
        assert any(x["msg"].startswith("projection case_status active") for x in lines)  # INFO
    finally:
        with psycopg.connect(pg_db_url, autocommit=True) as conn:
            conn.execute(f"DROP OWNED BY {role}")  # type: ignore[arg-type]
            conn.execute(f"DROP ROLE {role}")  # type: ignore[arg-type]


def _golden_params() -> list[Any]:
    from tests.golden import replay

    versions = replay.versions()
    params = [pytest.param(v, "sqlite", id=f"{v}-sqlite") for v in versions]
    params.append(pytest.param(versions[0], "postgres", id=f"{versions[0]}-postgres",
                               marks=pytest.mark.pg))  # fmt: skip
    return params


@pytest.mark.parametrize(("version", "backend"), _golden_params())
def test_migrate_a_golden_log_of_every_event_schema_from_version_0(
    version: str, backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Each golden log (tests/golden, one per event schema) as an unversioned database
    (version 0) upgrades with `db migrate`: the views it builds are the recorded ones."""
    from casestore.projections.engine.db import ViewDB, snapshot
    from casestore.projections.runtime.registry import all_projections

    from tests.golden import replay
    from tests.golden.generate import rows_json

    if backend == "sqlite":
        url = f"sqlite:///{tmp_path}/golden.db"
    else:
        url = request.getfixturevalue("pg_db_url")
    replay.load(version, url)
    drops = ["casestore_schema", *LEDGER_TABLES]
    if backend == "sqlite":
        with sqlite3.connect(f"{tmp_path}/golden.db") as conn:
            for table in drops:
                conn.execute(f"DROP TABLE IF EXISTS {table}")
    else:
        with psycopg.connect(url, autocommit=True) as conn:
            for table in drops:
                conn.execute(f"DROP TABLE IF EXISTS {table}")  # type: ignore[arg-type]
    done = _cli("db", "migrate", "--db", url, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"schema version 0 -> {SCHEMA_VERSION}" in done.stdout
    expected = replay.expected_views(version)
    db = ViewDB(url)
    try:
        for projection in all_projections():
            recorded = expected.get(projection.name)
            if recorded is None or recorded["version"] != projection.version:
                continue  # younger than this log, or re-recorded by the golden tests
            live = snapshot(db, projection)
            for table, rows in recorded["tables"].items():
                assert [rows_json(list(r)) for r in live[table]] == rows, (version, table)
    finally:
        db.close()
    assert _cli("verify", "--db", url).returncode == 0


@pytest.mark.pg
def test_a_report_the_app_role_cannot_build_is_503_until_the_owner_builds_it(
    pg_db_url: str, tmp_path: Path
) -> None:
    """The application role cannot create tables, so the first request for a month's report
    (its views rebuilt as of the month's end) cannot be built by `casestore serve` running as
    that role: 503 naming the owner's command (was a 500 "internal error"). Once the owner
    has built them, the same request answers 200."""
    import httpx

    from tests.integration.servedstaff import PEPPER, enrol_staff, staff_headers

    assert _cli("db", "migrate", "--db", pg_db_url).returncode == 0
    _history(pg_db_url, cases=2)  # recorded now: this month's report has them
    role = f"casestore_app_{uuid4().hex[:8]}"
    assert _cli("db", "grant", role, "--db", pg_db_url).returncode == 0
    parts = urlsplit(pg_db_url)
    app_url = parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port}").geturl()
    secret = "report-test-secret-of-32-bytes!!!!"
    env = dict(os.environ, CASESTORE_SECRET=secret, CASESTORE_QUERY_PEPPER=PEPPER)
    enrol_staff(CASESTORE, pg_db_url, env, "i-1", "inspector")
    port = _port()
    month = time.strftime("%Y-%m", time.gmtime())
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(CASESTORE), "serve", "--no-workers", "--db", app_url,
                                 "--port", str(port)], env=env, stdout=out, stderr=out)  # fmt: skip
    url = f"http://127.0.0.1:{port}/reports/monthly?month={month}"
    headers = staff_headers(secret, "i-1", purpose="月度通报")
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        refused = httpx.get(url, headers=headers, timeout=120)
        assert refused.status_code == 503, refused.text
        assert "casestore report monthly --month" in refused.json()["detail"]
        built = _cli("report", "monthly", "--month", month, "--db", pg_db_url,
                     env=env, timeout=300)  # fmt: skip
        assert built.returncode == 0, built.stderr
        served = httpx.get(url, headers=headers, timeout=120)
        assert served.status_code == 200, served.text
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        with psycopg.connect(pg_db_url, autocommit=True) as conn:
            conn.execute(f"DROP OWNED BY {role}")  # type: ignore[arg-type]
            conn.execute(f"DROP ROLE {role}")  # type: ignore[arg-type]


@pytest.mark.pg
def test_the_app_role_is_refused_owner_verbs_naming_the_privilege_then_reads_what_the_owner_built(
    pg_db_url: str,
) -> None:
    """`casestore report monthly` as the role `db grant` made exited 3 ("internal error:
    InsufficientPrivilege"), the code for an unreadable database. Building a month's views
    creates tables, which that role may not: it is refused with exit 2 (configuration: the
    wrong role for the verb), naming CREATE on schema public and the command to run as the
    owner, and creates nothing. Once the owner built the month at a position, the app role's
    same command reads those views (exit 0, the same figures)."""
    assert _cli("db", "migrate", "--db", pg_db_url).returncode == 0
    _history(pg_db_url, cases=3)
    role = f"casestore_app_{uuid4().hex[:8]}"
    assert _cli("db", "grant", role, "--db", pg_db_url).returncode == 0
    parts = urlsplit(pg_db_url)
    app_url = parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port}").geturl()
    head = int(_cli("digest", "--db", pg_db_url).stdout.split(":")[0])
    assert head > 3

    def tables() -> tuple[int, int]:
        with psycopg.connect(pg_db_url) as conn:
            made = conn.execute(
                "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
            ).fetchone()
            built = conn.execute(
                "SELECT count(*) FROM projection_tracking WHERE target LIKE 'report_%'"
            ).fetchone()
        assert made is not None and built is not None
        return int(made[0]), int(built[0])

    before = tables()
    assert before[1] == 0
    report = ("report", "monthly", "--month", "2025-03", "--at-position", str(head))
    try:
        refused = _cli(*report, "--db", app_url, timeout=300)
        assert refused.returncode == 2, refused.stderr
        text = " ".join(refused.stderr.split())
        assert f"the database role {role} lacks CREATE on schema public" in text
        assert f"Run `casestore report monthly --month 2025-03 --at-position {head}`" in text
        assert "with --db naming the owner" in text
        assert "internal error" not in text and "Traceback" not in text
        assert tables() == before
        for verb in (("project", "rebuild", "case_status"), ("project", "verify", "audit"),
                     ("report", "year", "--year", "2025", "--at-position", str(head)),
                     ("db", "migrate")):  # fmt: skip
            other = _cli(*verb, "--db", app_url, timeout=300)
            assert other.returncode == 2, (verb, other.stderr)
            said = " ".join(other.stderr.split())
            assert f"the database role {role} lacks CREATE on schema public" in said
            assert f"Run `casestore {' '.join(verb)}`" in said
        assert tables() == before

        built = _cli(*report, "--db", pg_db_url, timeout=300)
        assert built.returncode == 0, built.stderr
        assert built.stdout.startswith(f"2025-03 report at log position {head}\n")
        read = _cli(*report, "--db", app_url, timeout=300)
        assert read.returncode == 0, read.stderr
        assert read.stdout == built.stdout
    finally:
        with psycopg.connect(pg_db_url, autocommit=True) as conn:
            conn.execute(f"DROP OWNED BY {role}")  # type: ignore[arg-type]
            conn.execute(f"DROP ROLE {role}")  # type: ignore[arg-type]


def _port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_migrate_from_version_1_adds_the_tree_columns_and_fills_the_roots(store_url: str) -> None:
    """Schema version 2 (issue 13 item 6): ``projection_tracking`` gains ``tree_size`` and
    ``tree_root``; ``db migrate`` adds them in place and records, for every view whose
    position the stored tree has reached, the RFC 9162 root of that prefix."""
    from casestore.ledger.store import LedgerStore
    from casestore.ledger.workers import TreeWorker
    from tests.integration.test_projection_tree_root import mth

    _history(store_url)
    assert _cli("db", "migrate", "--db", store_url).returncode == 0
    store = LedgerStore(store_url)
    TreeWorker(store).catch_up()  # as the running workers would have grown it
    store.close()
    # what version 1 left: the tracking table without the tree columns
    undo = [
        "ALTER TABLE projection_tracking DROP COLUMN tree_size",
        "ALTER TABLE projection_tracking DROP COLUMN tree_root",
        "DELETE FROM casestore_schema",
        "INSERT INTO casestore_schema VALUES (1, 'then', 'casestore 1')",
    ]
    if store_url.startswith("sqlite"):
        with sqlite3.connect(store_url.removeprefix("sqlite:///")) as lite:
            for statement in undo:
                lite.execute(statement)
    else:
        with psycopg.connect(store_url, autocommit=True) as conn:
            for statement in undo:
                conn.execute(statement)  # type: ignore[arg-type]
    refused = _cli("project", "run", "--db", store_url, timeout=60)
    assert refused.returncode == 2
    assert (
        f"version 1, this casestore needs version {SCHEMA_VERSION}: run `casestore db migrate`"
    ) in refused.stderr
    done = _cli("db", "migrate", "--db", store_url)
    assert done.returncode == 0, done.stderr
    assert f"schema version 1 -> {SCHEMA_VERSION}" in done.stdout
    assert _version(store_url) == SCHEMA_VERSION
    app = CasestoreApp(store_url)
    try:
        hashes = [row.event_hash for row in app.log.iter_log()]
    finally:
        app.close()
    from casestore.projections.engine.db import ViewDB

    db = ViewDB(store_url)
    try:
        rows = db.all_tracking()
    finally:
        db.close()
    assert rows and {r.position for r in rows} == {len(hashes)}
    for row in rows:
        assert (row.tree_size, row.tree_root) == (row.position, mth(hashes[: row.position]))


def test_migrate_from_version_2_brings_the_append_function_to_v3(store_url: str) -> None:
    """Schema version 3 (issue 18): on PostgreSQL the append function also checks the
    data keys a batch was sealed under and writes its new keys and links
    (``casestore_append_v3``); ``db migrate`` creates it and drops ``casestore_append_v2``,
    and brings the key table to layout 3 (both backends). A process refuses the older
    version until then."""
    _history(store_url, cases=1)
    assert _cli("db", "migrate", "--db", store_url).returncode == 0  # the key table made
    undo = [
        "DELETE FROM casestore_schema",
        "INSERT INTO casestore_schema VALUES (2, 'then', 'casestore 2')",
        "ALTER TABLE casestore_subject_keys DROP COLUMN owner_id",  # key-table layout 2
        "ALTER TABLE casestore_subject_keys DROP COLUMN party",
    ]
    postgres = not store_url.startswith("sqlite")
    if postgres:
        with psycopg.connect(store_url, autocommit=True) as conn:
            for statement in [
                *undo,
                "DROP FUNCTION casestore_append_v3",
                "CREATE FUNCTION casestore_append_v2() RETURNS int LANGUAGE sql AS 'SELECT 1'",
            ]:
                conn.execute(statement)  # type: ignore[arg-type]
    else:
        with sqlite3.connect(store_url.removeprefix("sqlite:///")) as lite:
            for statement in undo:
                lite.execute(statement)
    refused = _cli("project", "run", "--db", store_url, timeout=60)
    assert refused.returncode == 2
    assert f"version 2, this casestore needs version {SCHEMA_VERSION}" in refused.stderr
    done = _cli("db", "migrate", "--db", store_url)
    assert done.returncode == 0, done.stderr
    assert f"schema version 2 -> {SCHEMA_VERSION}" in done.stdout
    assert _version(store_url) == SCHEMA_VERSION == 3
    if postgres:
        with psycopg.connect(store_url, autocommit=True) as conn:
            found = conn.execute(
                "SELECT proname FROM pg_proc WHERE proname LIKE 'casestore_append%%' "
                "ORDER BY proname"
            ).fetchall()
        assert [name for (name,) in found] == ["casestore_append_v3"]
    columns = "SELECT owner_id, party FROM casestore_subject_keys LIMIT 0"
    if postgres:  # layout 3's columns are back (an error here if not)
        with psycopg.connect(store_url, autocommit=True) as conn:
            conn.execute(columns)
    else:
        with sqlite3.connect(store_url.removeprefix("sqlite:///")) as lite:
            lite.execute(columns)
    _history(store_url, cases=1)  # appends through the new function
    app = CasestoreApp(store_url)
    try:
        assert len(list(app.log.iter_log())) >= 2
    finally:
        app.close()
