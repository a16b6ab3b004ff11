"""Backups that prove themselves (SPEC §12, issue 16 item 2): ``backup`` and ``restore``.

A backup directory holds the data and, beside it, what proves it:

- ``manifest.json`` — ``format: casestore-backup/v1``, backend, schema version, when,
  the log's head and its digest ``POSITION:HASH`` (exactly what ``casestore digest``
  prints), the latest signed checkpoint's tree size, and each table's row count;
- ``checkpoint.txt`` — the latest signed checkpoint (C2SP signed note) at or below the
  head, when the bureau signs checkpoints;
- the data. SQLite: ``casestore.db``, written by SQLite's online backup API (a
  consistent copy while the server keeps writing). PostgreSQL: one CSV file per table
  (``COPY ... TO STDOUT``) of the event, idempotency-key (and binding), checkpoint,
  cosignature and tree tables and the subjects' key tables (wrapped data keys: a backup
  keeps a forgotten subject's key only if it was taken before the forget), all read in
  one ``REPEATABLE READ`` snapshot, bytes as stored (``bytea`` in hex). Read views are
  not copied: they are rebuilt from the log.

``restore`` loads into an empty database, then runs ``verify`` against the manifest's
digest (every event's hash recomputed, the chain up to the digest's position equal to
it) and recomputes the Merkle root of the checkpoint's prefix (and its signature, given
the log's verifier key). Only then does it report success; until then the restored
database carries no schema version, so no process starts against it (SQLite: the file
is moved into place only after it verified).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import psycopg

from casestore.domain.errors import InvalidCommand
from casestore.ledger.store import CHECKPOINTS, COSIGNATURES, HEAD, NODES
from casestore.store.config import backend_of, eventsourcing_env
from casestore.store.logbase import BINDINGS_TABLE, EVENTS_TABLE, KEYS_TABLE
from casestore.store.schema import SCHEMA_VERSION
from casestore.store.subjectkeys import KEYS as SUBJECT_KEYS
from casestore.store.subjectkeys import LINKS as SUBJECT_LINKS

FORMAT = "casestore-backup/v1"
MANIFEST, CHECKPOINT_FILE, SQLITE_FILE = "manifest.json", "checkpoint.txt", "casestore.db"
#: Loaded in this order (no foreign keys; the log first).
PG_TABLES = (
    EVENTS_TABLE,
    KEYS_TABLE,
    BINDINGS_TABLE,
    CHECKPOINTS,
    COSIGNATURES,
    NODES,
    HEAD,
    SUBJECT_KEYS,  # the subjects' wrapped data keys: without them personal fields read sealed
    SUBJECT_LINKS,
)


class BackupError(InvalidCommand):
    """A backup cannot be taken or restored as asked (usage: exit 2)."""

    code = "backup"


@dataclass
class Manifest:
    backend: str
    schema_version: int
    created_at: str
    head: int
    digest: str
    checkpoint_size: int | None
    rows: dict[str, int] = field(default_factory=dict)
    format: str = FORMAT

    def write(self, folder: Path) -> None:
        (folder / MANIFEST).write_bytes(
            orjson.dumps(self.__dict__, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
        )

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        try:
            data = orjson.loads((folder / MANIFEST).read_bytes())
        except (OSError, orjson.JSONDecodeError) as e:
            raise BackupError(f"{folder} is not a casestore backup ({MANIFEST}: {e})") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise BackupError(f"{folder / MANIFEST} is not a {FORMAT} manifest")
        return cls(**data)


@dataclass
class RestoreReport:
    """What ``restore`` checked; ``ok`` only when everything held."""

    manifest: Manifest
    events: int = 0
    findings: list[str] = field(default_factory=list)
    checkpoint: str = "no signed checkpoint in the backup"

    @property
    def ok(self) -> bool:
        return not self.findings


# -- backup ------------------------------------------------------------------------------


def backup(url: str, out: Path) -> Manifest:
    """Write a backup of the database at ``url`` into the new or empty folder ``out``."""
    if out.exists() and any(out.iterdir()):
        raise BackupError(f"{out} is not empty: a backup goes into a new folder")
    out.mkdir(parents=True, exist_ok=True)
    if backend_of(url) == "sqlite":
        return _backup_sqlite(url, out)
    return _backup_pg(url, out)


def _sqlite_path(url: str) -> str:
    name = eventsourcing_env(url)["SQLITE_DBNAME"]
    if name.startswith("file:") or name == ":memory:":
        raise BackupError(f"{url} is not a database file")
    resolved = str(Path(name).resolve())
    return "/" + resolved.lstrip("/")  # sqlite:////abs gives //abs: one slash for a file: URI


def _read_only(path: str | Path) -> str:
    return Path(path).resolve().as_uri() + "?mode=ro"


def _backup_sqlite(url: str, out: Path) -> Manifest:
    path = _sqlite_path(url)
    if not Path(path).is_file():
        raise BackupError(f"no database file at {path}")
    target = out / SQLITE_FILE
    with (
        contextlib.closing(sqlite3.connect(_read_only(path), uri=True)) as src,
        contextlib.closing(sqlite3.connect(target)) as dst,
    ):
        src.backup(dst)  # SQLite's online backup API: one consistent snapshot
    with contextlib.closing(sqlite3.connect(target)) as copy:
        tables = {r[0] for r in copy.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        return _finish(out, "sqlite", copy, "?", [t for t in PG_TABLES if t in tables])


def _backup_pg(url: str, out: Path) -> Manifest:
    with psycopg.connect(url, connect_timeout=10) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        with conn.transaction():
            present = [t for t in PG_TABLES if _pg_has(conn, t)]
            if EVENTS_TABLE not in present:
                raise BackupError(f"{url} holds no casestore log ({EVENTS_TABLE})")
            for table in present:
                with (
                    (out / f"{table}.csv").open("wb") as fh,
                    conn.cursor().copy(
                        f"COPY {table} TO STDOUT WITH (FORMAT csv, HEADER true)"  # type: ignore[arg-type]
                    ) as copy,
                ):
                    for block in copy:
                        fh.write(block)
            return _finish(out, "postgres", conn, "%s", present)


def _pg_has(conn: Any, table: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()
    return bool(row and row[0])


def _finish(out: Path, backend: str, conn: Any, mark: str, present: list[str]) -> Manifest:
    """Digest, checkpoint and counts of the copy (SQLite) or the snapshot (PostgreSQL)."""
    head = conn.execute(
        f"SELECT notification_id, chain_hash FROM {EVENTS_TABLE} "
        "ORDER BY notification_id DESC LIMIT 1"
    ).fetchone()
    position, chain = (int(head[0]), bytes(head[1])) if head else (0, bytes(32))
    rows = {t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in present}
    note = None
    if CHECKPOINTS in rows:
        found = conn.execute(
            f"SELECT note FROM {CHECKPOINTS} WHERE tree_size <= {mark} "
            "ORDER BY tree_size DESC LIMIT 1",
            (position,),
        ).fetchone()
        note = str(found[0]) if found else None
    size = None
    if note is not None:
        (out / CHECKPOINT_FILE).write_text(note, encoding="utf-8")
        size = int(note.split("\n")[1])
    manifest = Manifest(
        backend=backend,
        schema_version=SCHEMA_VERSION,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        head=position,
        digest=f"{position}:{chain.hex()}",
        checkpoint_size=size,
        rows=rows,
    )
    manifest.write(out)
    return manifest


# -- restore -----------------------------------------------------------------------------


def restore(folder: Path, url: str, *, key: str | None = None) -> RestoreReport:
    """Load the backup in ``folder`` into the empty database at ``url`` and verify it.

    Raises :class:`BackupError` when the folder is no backup or the target is not empty.
    The report says whether the restored log verified; the caller records the schema
    version (making the database usable) only when it did."""
    manifest = Manifest.read(folder)
    if manifest.backend != backend_of(url):
        raise BackupError(f"a {manifest.backend} backup restores into a {manifest.backend} URL")
    if manifest.schema_version > SCHEMA_VERSION:
        raise BackupError(
            f"the backup is of schema version {manifest.schema_version}, newer than this "
            f"casestore (version {SCHEMA_VERSION})"
        )
    if manifest.backend == "sqlite":
        return _restore_sqlite(folder, manifest, url, key)
    _load_pg(folder, url)
    return verify_restored(folder, manifest, url, key)


def _restore_sqlite(folder: Path, manifest: Manifest, url: str, key: str | None) -> RestoreReport:
    path = Path(_sqlite_path(url))
    if path.exists() and path.stat().st_size > 0:
        raise BackupError(f"{path} exists: restore into a new database file")
    staging = path.with_name(path.name + ".restoring")
    staging.unlink(missing_ok=True)
    source = _read_only(folder / SQLITE_FILE)
    with (
        contextlib.closing(sqlite3.connect(source, uri=True)) as src,
        contextlib.closing(sqlite3.connect(staging)) as dst,
    ):
        src.backup(dst)
    try:
        report = verify_restored(folder, manifest, f"sqlite://{staging.resolve()}", key)
    except BaseException:
        for leftover in ("", "-wal", "-shm"):
            staging.with_name(staging.name + leftover).unlink(missing_ok=True)
        raise
    _settle(staging)
    if report.ok:
        os.replace(staging, path)
    else:
        staging.unlink(missing_ok=True)
    return report


def _settle(path: Path) -> None:
    """Fold the write-ahead log back into the file and drop it, so the file moves alone."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode=DELETE")
    for suffix in ("-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


def _load_pg(folder: Path, url: str) -> None:
    from casestore.store.schema import migrate_write_side, state

    found = state(url)
    if found.has_log:
        with psycopg.connect(url) as conn:
            if conn.execute(f"SELECT 1 FROM {EVENTS_TABLE} LIMIT 1").fetchone():
                raise BackupError("the target database holds events: restore into an empty one")
    migrate_write_side(url, stamp=False)
    with psycopg.connect(url, connect_timeout=10) as conn, conn.transaction():
        for table in PG_TABLES:
            data = folder / f"{table}.csv"
            if not data.exists():
                continue
            if table == HEAD:
                conn.execute(f"DELETE FROM {HEAD}")  # type: ignore[arg-type]
            with data.open("rb") as fh:
                columns = fh.readline().decode("utf-8").strip()
                statement = f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv)"
                with conn.cursor().copy(statement) as copy:  # type: ignore[arg-type]
                    for block in iter(lambda: fh.read(1 << 20), b""):
                        copy.write(block)


def verify_restored(folder: Path, manifest: Manifest, url: str, key: str | None) -> RestoreReport:
    """``verify`` against the manifest's digest, counts, and the checkpoint's root."""
    from casestore.store.audit import open_for_audit, parse_digest
    from casestore.store.audit import verify as run_verify

    report = RestoreReport(manifest)
    app = open_for_audit(url)
    try:
        checked = run_verify(app, parse_digest(manifest.digest))
        report.events = checked.events
        report.findings += [finding.line() for finding in checked.findings]
        if checked.last_position != manifest.head:
            report.findings.append(
                f"the restored log ends at position {checked.last_position}, "
                f"the backup's at {manifest.head}"
            )
    finally:
        app.close()
    note_file = folder / CHECKPOINT_FILE
    if note_file.exists():
        ok, message = _checkpoint_holds(url, note_file.read_text(encoding="utf-8"), key)
        report.checkpoint = message
        if not ok:
            report.findings.append(message)
    return report


def _checkpoint_holds(url: str, note: str, key: str | None) -> tuple[bool, str]:
    from casestore.ledger.audit import verify_checkpoint
    from casestore.ledger.merkle import Frontier
    from casestore.ledger.store import LedgerStore
    from casestore.ledger.verify_proof import Checkpoint, VerifierKey, split_note

    store = LedgerStore(url)
    try:
        if key is not None:
            check = verify_checkpoint(store, note, VerifierKey.parse(key))
            return check.ok, "checkpoint: " + check.message + " (signature checked)"
        checkpoint = Checkpoint.parse(split_note(note)[0])
        frontier = Frontier()
        for _, event_hash in _hashes(store, checkpoint.size):
            frontier.append(event_hash)
        if frontier.size == checkpoint.size and frontier.root() == checkpoint.root:
            return True, (
                f"checkpoint: the first {checkpoint.size} events have the signed root "
                "(signature not checked: pass --key VKEY)"
            )
        return False, f"checkpoint: the first {checkpoint.size} events do not have its root hash"
    finally:
        store.close()


def _hashes(store: Any, size: int) -> Iterator[tuple[int, bytes]]:
    after = 0
    while after < size:
        rows = store.event_hashes(after, min(10_000, size - after))
        if not rows:
            return
        yield from rows
        after = rows[-1][0]
