"""The database schema's version: what ``casestore db migrate`` records and processes check.

One row per applied version in ``casestore_schema`` (version, when, by which casestore).
:data:`SCHEMA_VERSION` is what this code needs. History of versions:

- **0** — the unversioned layout every earlier release created on start (the log, the
  idempotency keys and their triggers; perhaps no verifiable-log tables, perhaps an old
  ``casestore_append`` function; read views of older projection versions).
- **1** — every table, trigger and function created by the owner and recorded here; the
  verifiable log's tables; read views at their code's versions; the obsolete v1 append
  function dropped.
- **2** — the read side's ``projection_tracking`` records, beside each position, the
  Merkle tree it was built to (``tree_size``, ``tree_root``; issue 13 item 6). Added
  in place (nullable columns; the read side's part of ``migrate``), and the roots of the
  views' current positions are filled in from the stored tree where it has them.
- **3** — PostgreSQL: the append function ``casestore_append_v3`` also checks that the
  data keys a batch was sealed under are live and writes the batch's new keys and links
  (issue 18: in version 2 they were statements of their own ahead of the function, each
  parsed and planned per batch, the check share-locking the key rows), and a forget
  destroys keys under the writers' lock; ``casestore_append_v2`` is dropped. Both
  backends: the key table's layout 3 (a key names the aggregate it was made for, no link
  for it; ``keytable``), which a process of version 2 would misread (no link: a case's
  later fields sealed in clear), so it must refuse the store.

``migrate`` here does the write side's part (log, keys, ledger); the read side's views
are brought up by :mod:`casestore.bootstrap`, which calls both. A newer database than the
code is never touched (:class:`SchemaMismatch`, "refuses to downgrade").
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import psycopg

from casestore.store.config import backend_of, eventsourcing_env
from casestore.store.logbase import EVENTS_TABLE

SCHEMA_TABLE = "casestore_schema"
SCHEMA_VERSION = 3
#: In a store's eventsourcing environment: do not stamp a new, empty log (see ``stamp_new``).
NO_STAMP = "SCHEMA_NO_STAMP"
_DDL = (
    f"CREATE TABLE IF NOT EXISTS {SCHEMA_TABLE} (version INTEGER PRIMARY KEY, "
    "applied_at TEXT NOT NULL, code TEXT NOT NULL)"
)
_OBSOLETE_PG = (
    "DROP FUNCTION IF EXISTS casestore_append_v1",
    "DROP FUNCTION IF EXISTS casestore_append_v2",
)


class SchemaMismatch(Exception):
    """The database's schema is not the version this code needs; ``str()`` says what to do."""


@dataclass(frozen=True)
class SchemaState:
    """What a database holds: its recorded version (None: no version table) and whether
    it holds a casestore log at all."""

    version: int | None
    has_log: bool

    @property
    def effective(self) -> int | None:
        """The version: recorded, or 0 for an unversioned log, None for an empty database."""
        if self.version is not None:
            return self.version
        return 0 if self.has_log else None


def _code_version() -> str:
    try:
        return "casestore " + version("casestore")
    except PackageNotFoundError:  # pragma: no cover - a source checkout without install
        return "casestore"


@contextlib.contextmanager
def _connect(url: str) -> Iterator[Any]:
    """A plain DB-API connection (autocommit on PostgreSQL; SQLite commits on exit)."""
    if backend_of(url) == "postgres":
        with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
            yield conn
        return
    name = eventsourcing_env(url)["SQLITE_DBNAME"]
    lite = sqlite3.connect(name, uri=name.startswith("file:"), timeout=30)
    try:
        with lite:
            yield lite
    finally:
        lite.close()


def _exists(conn: Any, backend: str, table: str) -> bool:
    if backend == "postgres":
        row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()
        return bool(row[0])
    row = conn.execute(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).fetchone()
    return bool(row[0])


def state(url: str) -> SchemaState:
    """The schema state of the database at ``url`` (nothing is created)."""
    backend = backend_of(url)
    if backend == "sqlite":
        name = eventsourcing_env(url)["SQLITE_DBNAME"]
        if not name.startswith("file:") and not Path(name).exists():
            return SchemaState(None, False)
    with _connect(url) as conn:
        has_log = _exists(conn, backend, EVENTS_TABLE)
        if not _exists(conn, backend, SCHEMA_TABLE):
            return SchemaState(None, has_log)
        row = conn.execute(f"SELECT max(version) FROM {SCHEMA_TABLE}").fetchone()
    return SchemaState(int(row[0]) if row and row[0] is not None else None, has_log)


def check(url: str) -> SchemaState:
    """The state, if it is exactly :data:`SCHEMA_VERSION`; else :class:`SchemaMismatch`
    naming the database's version, the code's and the command that fixes it."""
    found = state(url)
    if found.version == SCHEMA_VERSION:
        return found
    if found.effective is None:
        raise SchemaMismatch(
            f"the database holds no casestore schema (this casestore needs schema version "
            f"{SCHEMA_VERSION}); run `casestore db migrate` once as the database owner"
        )
    if found.effective > SCHEMA_VERSION:
        raise SchemaMismatch(
            f"the database's schema is version {found.effective}, newer than this casestore "
            f"(version {SCHEMA_VERSION}): upgrade casestore; it will not run against it"
        )
    raise SchemaMismatch(
        f"the database's schema is version {found.effective}, this casestore needs version "
        f"{SCHEMA_VERSION}: run `casestore db migrate` once as the database owner"
    )


def refuse_downgrade(url: str) -> SchemaState:
    """The state before a migration; :class:`SchemaMismatch` when the database is newer."""
    found = state(url)
    if found.effective is not None and found.effective > SCHEMA_VERSION:
        raise SchemaMismatch(
            f"the database's schema is version {found.effective}, newer than this casestore "
            f"(version {SCHEMA_VERSION}): db migrate never downgrades"
        )
    return found


def migrate_write_side(url: str, *, stamp: bool = True) -> None:
    """Create or upgrade the log, the idempotency keys, their triggers and the append
    function, and the verifiable log's tables (idempotent; run as the owner). ``stamp``
    False: an empty log is not stamped with the version (a restore stamps after verify)."""
    from casestore.ledger.store import LedgerStore
    from casestore.store.application import CasestoreApp
    from casestore.store.subjectkeys import KeyTable

    # eventsourcing's CREATE_TABLE runs the recorder's statements.
    app = CasestoreApp(url, env=None if stamp else {NO_STAMP: "y"})
    try:
        recorder: Any = app.recorder
        if backend_of(url) == "postgres":
            # The recorder skips creation when its triggers exist; an upgrade re-runs every
            # statement (all are IF NOT EXISTS / OR REPLACE) so functions reach this version.
            with recorder.datastore.transaction(commit=True) as curs:
                curs.execute("SELECT pg_advisory_xact_lock(hashtext('casestore-schema'))")
                recorder._create_table(curs)
                for statement in _OBSOLETE_PG:
                    curs.execute(statement)
        KeyTable(recorder, app.backend).ensure(strict=True)  # subjects' keys (issue 18)
    finally:
        app.close()
    LedgerStore(url).close()


def record(url: str, version_: int = SCHEMA_VERSION) -> None:
    """Record that the database now has schema ``version_``."""
    backend = backend_of(url)
    mark = "%s" if backend == "postgres" else "?"
    now = datetime.now(UTC).isoformat(timespec="seconds")
    with _connect(url) as conn:
        conn.execute(_DDL)
        conn.execute(
            f"INSERT INTO {SCHEMA_TABLE} (version, applied_at, code) VALUES ({mark}, {mark}, "
            f"{mark}) ON CONFLICT (version) DO NOTHING",
            (version_, now, _code_version()),
        )


def stamp_new(url: str) -> None:
    """A log the store has just created (no events, no version table) is at this version:
    record it, so a store made by code (tests, the simulator, the embedded default) is
    current. An unversioned log holding events is left at version 0 for ``db migrate``."""
    backend = backend_of(url)
    with _connect(url) as conn:
        if _exists(conn, backend, SCHEMA_TABLE):
            return
        if conn.execute(f"SELECT 1 FROM {EVENTS_TABLE} LIMIT 1").fetchone() is not None:
            return
    # Not the owner (nothing to stamp), or another process stamped it first.
    with contextlib.suppress(psycopg.errors.InsufficientPrivilege, psycopg.errors.UniqueViolation):
        record(url)
