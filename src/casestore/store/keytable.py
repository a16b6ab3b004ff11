"""The key table of per-subject keys, on the store's own database (see ``subjectkeys``).

``casestore_subject_keys`` holds each data key wrapped by the master key (``wrapped``
NULL once destroyed); ``casestore_subject_links`` says which key protects which party
of which aggregate. Mutable on purpose, outside the log, backed up with it.

A subject has at most one live key (:data:`LIVE_INDEX`, a unique partial index): the
write side makes a new subject's key without reading the table first and lets the
commit refuse a second one (``keyguard``). A table from before the index may hold two
live keys of one subject (two processes' intakes of a new subject at once); then the
index cannot be made, which is logged, the full ``ref`` index is kept for look-ups, and
such a subject may get one more key per process — harmless: a forget destroys every
live key of the subject.

Layout 2 (session 8): a new subject's key and link are written with its intake's event,
so every b-tree they enter is a page more in that commit. Layout 1 entered eight (each
table's rows and its text primary key's index, the full ``ref`` and ``destroyed_us``
indexes, the live index, the links' ``key_id`` index); layout 2 enters four: both tables
are ``WITHOUT ROWID`` on SQLite (the primary key is the table), and the destroyed keys
have their own partial index (:data:`GONE_INDEX`, which a new key never enters) in place
of the full ``ref`` and ``destroyed_us`` ones, the live index serving live look-ups. A
table of layout 1 is brought to layout 2 when a process first opens it (:meth:`ensure`,
idempotent); the rows, and so every key id, ref and wrapped key, are unchanged.

Layout 3 (schema version 3): a key names the aggregate and party it was made for
(``owner_id``, ``party``), so a new subject's intake writes one row, not a key and a
link: two b-trees fewer in its commit on SQLite, one statement fewer on PostgreSQL.
Links are written only for a key's further aggregates (a returning applicant, a bundle's
cases). Nothing looks a key up by its aggregate in this table: the write side takes a
case's key id from the case's first event, whose tokens name it (``FieldCrypt``); the
owners of a subject's keys are the keys' own and their links' (``SubjectKeys.owners``).
The columns are added in place (nullable: the keys of layout 2 have their links).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Final

KEYS: Final = "casestore_subject_keys"
LINKS: Final = "casestore_subject_links"
_log = logging.getLogger("casestore.subjectkeys")
#: Name of the index that allows one live key per subject (its violation: ``KeysTaken``).
LIVE_INDEX: Final = f"{KEYS}_live"
#: The destroyed keys by subject (a forget's report, the caches' destroyed count). A
#: forget sets ``destroyed_us`` and clears ``wrapped`` in one statement, so this predicate
#: is the live index's complement, and the count's query of layout 1 uses it unchanged.
GONE_INDEX: Final = f"{KEYS}_gone"
#: The full ``ref`` index of layout 1, kept only where the live index cannot be made.
REF_INDEX: Final = f"{KEYS}_ref"
_KEYS_COLUMNS: Final = "key_id, ref, wrapped, master_kid, created_us, destroyed_us"
#: Layout 3: the aggregate and party a key was made for (no link row for them).
_OWNER_COLUMNS: Final = (("owner_id", "TEXT"), ("party", "TEXT"))
_LINKS_COLUMNS: Final = "owner_id, party, key_id"


def _tables(backend: str, keys: str = KEYS, links: str = LINKS) -> tuple[str, str]:
    """The two tables' DDL; on SQLite ``WITHOUT ROWID`` (one b-tree each, no rowid
    table behind the primary key's index)."""
    tail = " WITHOUT ROWID" if backend == "sqlite" else ""
    return (
        f"CREATE TABLE IF NOT EXISTS {keys} (key_id TEXT PRIMARY KEY, ref TEXT NOT NULL, "
        "wrapped BLOB, master_kid TEXT NOT NULL, created_us BIGINT NOT NULL, "
        f"destroyed_us BIGINT, owner_id TEXT, party TEXT){tail}",
        f"CREATE TABLE IF NOT EXISTS {links} (owner_id TEXT NOT NULL, party TEXT NOT NULL, "
        f"key_id TEXT NOT NULL, PRIMARY KEY (owner_id, party)){tail}",
    )


#: Indexes every layout-2 table has; layout 1's full ``ref`` and ``destroyed_us`` indexes
#: are dropped (a new key entered all three; now only the live one).
_INDEXES: Final = (
    f"CREATE INDEX IF NOT EXISTS {GONE_INDEX} ON {KEYS} (ref) WHERE destroyed_us IS NOT NULL",
    f"CREATE INDEX IF NOT EXISTS {LINKS}_key ON {LINKS} (key_id)",
    f"DROP INDEX IF EXISTS {KEYS}_destroyed",
)
_LIVE_DDL: Final = (
    f"CREATE UNIQUE INDEX IF NOT EXISTS {LIVE_INDEX} ON {KEYS} (ref) WHERE wrapped IS NOT NULL"
)
_REF_DDL: Final = f"CREATE INDEX IF NOT EXISTS {REF_INDEX} ON {KEYS} (ref)"


#: One row to write with the event that first uses a key: (SQL with ``?`` marks, values).
KeyRow = tuple[str, tuple[Any, ...]]
#: Idempotent, so every event of one append sealed under a new key may carry it.
INSERT_KEY: Final = (
    f"INSERT INTO {KEYS} (key_id, ref, wrapped, master_kid, created_us, owner_id, party) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key_id) DO NOTHING"
)
INSERT_LINK: Final = (
    f"INSERT INTO {LINKS} (owner_id, party, key_id) VALUES (?, ?, ?) "
    "ON CONFLICT (owner_id, party) DO UPDATE SET key_id = excluded.key_id"
)


class KeyTable:
    """The two tables on the store's own database (SQLite or PostgreSQL)."""

    def __init__(self, recorder: Any, backend: str) -> None:
        self.recorder = recorder
        self.backend = backend
        self._ready = False
        self._local = threading.local()
        self._own: list[sqlite3.Connection] = []

    @contextmanager
    def _sqlite(self, *, write: bool) -> Iterator[sqlite3.Connection]:
        """A connection of this thread's own for a file database (cached statements, no
        pool hand-off: a key look-up costs tens of µs); the pool's for an in-memory one."""
        pool = self.recorder.datastore.pool
        if pool.is_sqlite_memory_mode:
            with self.recorder.datastore.get_connection(commit=write) as conn:
                yield conn._sqlite_conn
            return
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                pool.db_name,
                uri=True,
                check_same_thread=False,
                isolation_level=None,
                timeout=float(pool.lock_timeout or 5),
            )
            conn.execute("PRAGMA synchronous = FULL")  # destruction and rotation are durable
            self._local.conn = conn
            self._own.append(conn)
        yield conn

    def close(self) -> None:
        for conn in self._own:
            conn.close()
        self._own.clear()

    @contextmanager
    def cursor(self) -> Iterator[Callable[[str, tuple[Any, ...]], list[tuple[Any, ...]]]]:
        """One write transaction: ``run(sql, params) -> rows`` (``?`` placeholders).

        For the key table's own changes (the ref key, destruction, rotation); new data
        keys and links are written with the events that use them (:attr:`SubjectKey.rows`).
        """
        datastore = self.recorder.datastore
        if self.backend == "sqlite":
            with self._sqlite(write=True) as raw:
                raw.execute("BEGIN IMMEDIATE")
                try:
                    yield lambda sql, params: [tuple(r) for r in raw.execute(sql, params)]
                    raw.execute("COMMIT")
                except BaseException:
                    raw.execute("ROLLBACK")
                    raise
            return
        with datastore.transaction(commit=True) as curs:

            def run_pg(sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
                curs.execute(_pg(sql), params)
                if curs.description is None:
                    return []
                return [tuple(r.values()) if isinstance(r, dict) else tuple(r) for r in curs]

            yield run_pg

    def read(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """One query outside any write transaction."""
        own: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if own is not None:  # a file database, this thread's connection (tables ensured)
            return own.execute(sql, params).fetchall()
        self.ensure()
        datastore = self.recorder.datastore
        if self.backend == "sqlite":
            with self._sqlite(write=False) as conn:
                return [tuple(r) for r in conn.execute(sql, params)]
        with datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(_pg(sql), params)
            return [tuple(r.values()) if isinstance(r, dict) else tuple(r) for r in curs]

    def ensure(self, *, strict: bool = False) -> None:
        """Create the tables once per process, or bring a key table of layout 1 to
        layout 2 (idempotent; see :func:`_sqlite_layout`); ``casestore db migrate`` runs it
        as the owner (``strict``: a failure is an error)."""
        if self._ready:
            return
        try:
            with self.cursor() as run:
                if self.backend == "sqlite":
                    _sqlite_layout(run)
                else:
                    for statement in _tables(self.backend):
                        run(statement, ())
                    for column, kind in _OWNER_COLUMNS:  # layout 3
                        run(f"ALTER TABLE {KEYS} ADD COLUMN IF NOT EXISTS {column} {kind}", ())
                for statement in _INDEXES:
                    run(statement, ())
        except Exception:  # a read-only session or the app role: the owner made them
            if strict:
                raise
            _log.debug("key table DDL not run", exc_info=True)
            self._ready = True
            return
        try:
            with self.cursor() as run:
                run(_LIVE_DDL, ())
                run(f"DROP INDEX IF EXISTS {REF_INDEX}", ())  # the live index serves look-ups
        except Exception:  # two live keys of a subject from before (see above), or the app role
            (_log.warning if strict else _log.debug)("%s not made", LIVE_INDEX, exc_info=True)
            try:
                with self.cursor() as run:
                    run(_REF_DDL, ())
            except Exception:
                _log.debug("%s not made", REF_INDEX, exc_info=True)
        self._ready = True


def _sqlite_layout(run: Callable[[str, tuple[Any, ...]], list[tuple[Any, ...]]]) -> None:
    """Inside one write transaction (so two processes opening an old table at once
    migrate it once): create the tables, or rebuild a table of layout 1 (a rowid table
    and the index of its text primary key: two b-trees per row) as ``WITHOUT ROWID``,
    copying every row as it is. The old table's pages are freed with ``secure_delete``
    on, so no copy of a wrapped key outlives its row in the free pages of the file (as
    for a forget, the WAL holds the old pages until its next checkpoint)."""
    found = dict(
        run(
            "SELECT name, sql FROM sqlite_schema WHERE type = 'table' AND name IN (?, ?)",
            (KEYS, LINKS),
        )
    )
    made = dict(zip((KEYS, LINKS), _tables("sqlite"), strict=True))
    rebuilt = dict(
        zip((KEYS, LINKS), _tables("sqlite", f"{KEYS}_new", f"{LINKS}_new"), strict=True)
    )
    for table, columns in ((KEYS, _KEYS_COLUMNS), (LINKS, _LINKS_COLUMNS)):
        sql = found.get(table)
        if sql is None:
            run(made[table], ())
        elif "WITHOUT ROWID" not in str(sql).upper():
            secure = run("PRAGMA secure_delete", ())[0][0]
            run("PRAGMA secure_delete = ON", ())
            run(rebuilt[table], ())
            run(f"INSERT INTO {table}_new ({columns}) SELECT {columns} FROM {table}", ())
            run(f"DROP TABLE {table}", ())  # with its indexes
            run(f"ALTER TABLE {table}_new RENAME TO {table}", ())
            run(f"PRAGMA secure_delete = {int(secure)}", ())
            _log.info("key table %s rebuilt WITHOUT ROWID (layout 2)", table)
    have = {str(row[1]) for row in run(f"PRAGMA table_info({KEYS})", ())}
    for column, kind in _OWNER_COLUMNS:  # layout 3: a key's own aggregate and party
        if column not in have:
            run(f"ALTER TABLE {KEYS} ADD COLUMN {column} {kind}", ())


def _pg(sql: str) -> str:
    return sql.replace("?", "%s").replace("BLOB", "bytea")
