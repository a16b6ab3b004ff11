"""Backups that prove themselves (SPEC §12, issue 16 item 2), on SQLite and PostgreSQL.

``casestore backup`` runs as its own process while commands keep appending; the restore
must hold exactly the backup's prefix of the log, byte for byte, verify against the
digest and the signed checkpoint beside it, and only then say so. A backup in which one
event was altered (by hand, as an attacker would: the SQLite file with its trigger
dropped, or the PostgreSQL CSV) is refused, and the target is left unusable.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from casestore.ledger import proofs
from casestore.ledger.notes import SignerKey
from casestore.ledger.store import LedgerStore
from casestore.ledger.workers import Cadence, Signer, TreeWorker
from casestore.service import CaseService, SubmitCase
from casestore.store.application import CasestoreApp
from casestore.store.schema import SCHEMA_VERSION, state
from tests.conftest import ADMIN, APPLICANT, CATALOGUE, CLERK, FakeClock

CASESTORE = Path(sys.executable).parent / "casestore"
ORIGIN = "casestore.test/log"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CASESTORE), *args], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ), check=False)  # fmt: skip


@pytest.fixture
def target_url(store_url: str, tmp_path: Path) -> Iterator[str]:
    """An empty database of the same backend to restore into."""
    if store_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'restored.db'}"
        return
    from tests.pgharness import create_database, drop_database, server_info

    server = server_info()
    assert server is not None
    url = create_database(server.admin_url)
    try:
        yield url
    finally:
        drop_database(server.admin_url, url)


def _sign(app: CasestoreApp, key: SignerKey) -> str:
    store = LedgerStore(app.db_url)
    try:
        TreeWorker(store).catch_up()
        Signer(store, key, ORIGIN, Cadence(seconds=3600)).sign_now()
        return proofs.latest_note(store)
    finally:
        store.close()


def _events(url: str, upto: int | None = None) -> list[tuple[int, bytes, bytes, str]]:
    app = CasestoreApp(url)
    try:
        return [(r.position, r.event_hash, bytes(r.state), r.topic)
                for r in app.log.iter_log(0, upto=upto)]  # fmt: skip
    finally:
        app.close()


def test_round_trip_while_commands_run(
    app: CasestoreApp, service: CaseService, target_url: str, tmp_path: Path
) -> None:
    for _ in range(20):
        service.handle(SubmitCase(actor=CLERK, item_code="XK-003", applicant=APPLICANT))
    key = SignerKey.generate(ORIGIN)
    note = _sign(app, key)
    stop, submitted = threading.Event(), []

    def keep_submitting() -> None:
        while not stop.is_set():
            done = service.handle(
                SubmitCase(actor=CLERK, item_code="XK-003", applicant=APPLICANT)
            )
            submitted.append(done.case_id)

    writer = threading.Thread(target=keep_submitting)
    writer.start()
    try:
        while len(submitted) < 5:
            stop.wait(0.05)
        taken = _cli("backup", "--db", app.db_url, "-o", str(tmp_path / "bk"))
        while len(submitted) < 15:  # writes go on after the snapshot too
            stop.wait(0.05)
    finally:
        stop.set()
        writer.join(timeout=60)
    assert taken.returncode == 0, taken.stderr
    manifest = orjson.loads((tmp_path / "bk" / "manifest.json").read_bytes())
    assert (tmp_path / "bk" / "checkpoint.txt").read_text() == note
    head = manifest["head"]
    source = _events(app.db_url)
    assert 20 < head < len(source)  # a prefix taken mid-stream, not the whole log
    assert manifest["digest"].startswith(f"{head}:")

    restored = _cli("restore", str(tmp_path / "bk"), "--db", target_url,
                    "--key", key.verifier_text())  # fmt: skip
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert f"RESTORED AND VERIFIED: {head} events, digest {manifest['digest']} holds" in (
        restored.stdout
    )
    assert "(signature checked)" in restored.stdout
    # Byte for byte the source's first `head` events: positions, hashes, stored state.
    assert _events(target_url) == source[:head]
    assert state(target_url).version == SCHEMA_VERSION  # usable: processes start against it
    assert _cli("verify", "--db", target_url).returncode == 0


def test_a_backup_with_one_altered_event_is_refused(
    app: CasestoreApp, service: CaseService, target_url: str, tmp_path: Path
) -> None:
    for _ in range(12):
        service.handle(SubmitCase(actor=CLERK, item_code="XK-003", applicant=APPLICANT))
    folder = tmp_path / "bk"
    assert _cli("backup", "--db", app.db_url, "-o", str(folder)).returncode == 0
    position = 7
    if app.db_url.startswith("sqlite"):
        import sqlite3

        with sqlite3.connect(folder / "casestore.db") as conn:
            conn.execute("DROP TRIGGER casestore_events_no_update")
            conn.execute("UPDATE casestore_events SET state = CAST(X'20' || state AS BLOB) "
                         "WHERE notification_id = ?", (position,))  # fmt: skip
    else:
        data = folder / "casestore_events.csv"
        with data.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        row = next(r for r in rows if r["notification_id"] == str(position))
        row["state"] = "\\x20" + row["state"].removeprefix("\\x")
        with data.open("w", newline="") as fh:
            out = csv.DictWriter(fh, fieldnames=list(rows[0]))
            out.writeheader()
            out.writerows(rows)
    refused = _cli("restore", str(folder), "--db", target_url)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert f"at position {position}: stored content does not match its hash" in refused.stdout
    assert "RESTORE REFUSED" in refused.stdout
    if target_url.startswith("sqlite"):
        assert not Path(target_url.removeprefix("sqlite:///")).exists()
    else:
        assert state(target_url).version is None  # no process will start against it
        serve = _cli("serve", "--no-workers", "--db", target_url, "--port", "1")
        assert serve.returncode == 2 and "casestore db migrate" in serve.stderr


def test_a_sqlite_backup_whose_state_column_became_text_is_refused_naming_each_event(
    clock: FakeClock, tmp_path: Path
) -> None:
    """A backup file whose event table was rebuilt with ``state TEXT`` (the values cast to
    text, as SQLite lets a changed table hold) made `restore` exit 3 with "internal error:
    TypeError". The events no longer hold the bytes they were recorded and hashed as: the
    restore is refused naming each such event by position (exit 1, README: RESTORE
    REFUSED), and no database file is created."""
    url = f"sqlite:///{tmp_path / 'source.db'}"
    app = CasestoreApp(url)
    try:
        service = CaseService(app, clock=clock)
        service.load_catalogue(CATALOGUE, ADMIN)
        for _ in range(3):
            service.handle(SubmitCase(actor=CLERK, item_code="XK-003", applicant=APPLICANT))
    finally:
        app.close()
    folder = tmp_path / "bk"
    assert _cli("backup", "--db", url, "-o", str(folder)).returncode == 0
    import sqlite3

    altered = 2  # only this event's value is cast to text; the column becomes TEXT for all
    with sqlite3.connect(folder / "casestore.db") as conn:
        columns = ("notification_id, originator_id, originator_version, topic, state, "
                   "recorded_at, event_hash, chain_hash")  # fmt: skip
        conn.executescript(
            "DROP TRIGGER casestore_events_no_update; DROP TRIGGER casestore_events_no_delete;"
            "ALTER TABLE casestore_events RENAME TO old_events;"
            "CREATE TABLE casestore_events (notification_id INTEGER PRIMARY KEY, "
            "originator_id TEXT NOT NULL, originator_version INTEGER NOT NULL, "
            "topic TEXT NOT NULL, state TEXT NOT NULL, recorded_at INTEGER NOT NULL, "
            "event_hash BLOB NOT NULL, chain_hash BLOB NOT NULL);"
            f"INSERT INTO casestore_events ({columns}) SELECT {columns} FROM old_events;"
            f"UPDATE casestore_events SET state = CAST(state AS TEXT) "
            f"WHERE notification_id = {altered};"
            "DROP TABLE old_events;"
        )
        kinds = dict(conn.execute(
            "SELECT notification_id, typeof(state) FROM casestore_events").fetchall())  # fmt: skip
    assert kinds[altered] == "text" and kinds[1] == "blob"  # what the test means to make
    target = tmp_path / "restored.db"
    refused = _cli("restore", str(folder), "--db", f"sqlite:///{target}")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "TypeError" not in refused.stdout + refused.stderr
    findings = [line for line in refused.stdout.splitlines() if line.startswith("ALTERED")]
    assert len(findings) == 1, refused.stdout
    assert f"at position {altered}: state is stored as TEXT, not BLOB" in findings[0]
    assert "RESTORE REFUSED" in refused.stdout
    assert not target.exists()
    assert not list(tmp_path.glob("restored.db*"))
    checked = _cli("verify", "--db", f"sqlite:///{folder / 'casestore.db'}")
    assert checked.returncode == 1 and "TAMPERED (1 findings)" in checked.stdout, checked.stdout
