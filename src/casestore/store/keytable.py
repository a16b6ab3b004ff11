"""The key table of per-subject keys, on the store's own database (see ``subjectkeys``).

``casestore_subject_keys`` holds each data key wrapped by the master key (``wrapped``
NULL once destroyed); ``casestore_subject_links`` says which key protects which party
of which aggregate. Mutable on purpose, outside the log, backed up with it.

A subject has at most one live key (:data:`LIVE_INDEX`, a unique partial index): the
write side makes a new subject's key without reading the table first and lets the
commit refuse a second one (``keyguard``). A table from before the index may hold two
live keys of one subject (two processes' intakes of a new subject at once); then the
index cannot be made, which is logged, and such a subject may get one more key per
process — harmless: a forget destroys every live key of the subject.
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
_DDL: Final = (
    f"CREATE TABLE IF NOT EXISTS {KEYS} (key_id TEXT PRIMARY KEY, ref TEXT NOT NULL, "
    "wrapped BLOB, master_kid TEXT NOT NULL, created_us BIGINT NOT NULL, destroyed_us BIGINT)",
    f"CREATE INDEX IF NOT EXISTS {KEYS}_ref ON {KEYS} (ref)",
    f"CREATE INDEX IF NOT EXISTS {KEYS}_destroyed ON {KEYS} (destroyed_us)",
    f"CREATE TABLE IF NOT EXISTS {LINKS} (owner_id TEXT NOT NULL, party TEXT NOT NULL, "
    "key_id TEXT NOT NULL, PRIMARY KEY (owner_id, party))",
    f"CREATE INDEX IF NOT EXISTS {LINKS}_key ON {LINKS} (key_id)",
)

#: Name of the index that allows one live key per subject (its violation: ``KeysTaken``).
LIVE_INDEX: Final = f"{KEYS}_live"
_LIVE_DDL: Final = (
    f"CREATE UNIQUE INDEX IF NOT EXISTS {LIVE_INDEX} ON {KEYS} (ref) WHERE wrapped IS NOT NULL"
)


#: One row to write with the event that first uses a key: (SQL with ``?`` marks, values).
KeyRow = tuple[str, tuple[Any, ...]]
#: Idempotent, so every event of one append sealed under a new key may carry it.
INSERT_KEY: Final = (
    f"INSERT INTO {KEYS} (key_id, ref, wrapped, master_kid, created_us) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (key_id) DO NOTHING"
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
        """Create the tables once per process (``IF NOT EXISTS``); ``casestore db migrate``
        creates them as the owner (``strict``: a failure is an error)."""
        if self._ready:
            return
        try:
            with self.cursor() as run:
                for statement in _DDL:
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
        except Exception:  # two live keys of a subject from before (see above), or the app role
            (_log.warning if strict else _log.debug)("%s not made", LIVE_INDEX, exc_info=True)
        self._ready = True


def _pg(sql: str) -> str:
    return sql.replace("?", "%s").replace("BLOB", "bytea")
