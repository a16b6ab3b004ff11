"""View storage: connections, the tracking table, and creating, swapping and dropping targets.

Views live in the same database as the events by default (one URL, ``CASESTORE_DB``):
a projection's rows and its position commit in one transaction of that database.
:class:`ViewDB` takes any URL, so views could live in another database later; only
the exactly-once guarantee (rows + position together) must stay in one database, and
it does, because the position is stored beside the rows, not beside the events.

Beside its position, each target records the Merkle tree it was built to (SPEC §9,
issue 13 item 6): ``tree_size`` (= the position: the tree has one leaf per event) and
``tree_root``, the RFC 9162 root of the log's first ``tree_size`` events, so a view is
bound to the signed checkpoints of that size. The root is taken from the verifiable
log's stored tree through the port (``EventLog.tree_root``) when a batch commits; a
projection ahead of the tree worker commits ``tree_root`` NULL and its worker fills it
in once the tree has reached that size (see ``runtime.worker.Worker.bind_tree``).

A *target* is one physical copy of a projection's tables: ``''`` is the live view
(``case_status``); a named target sits beside it (``case_status__mar1``); a rebuild
writes into a scratch target (``case_status__b1f3a9c2``) and :func:`swap` renames it
over its destination in one transaction.

(Over 400 lines: every statement on the tracking table — its DDL and upgrade, moves,
swaps, the tree binding — is here, so its columns change in one place.)
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import IntegrityError, Tracking, TrackingRecorder

from casestore.domain.errors import InvalidCommand, NotFound
from casestore.store.config import backend_of, eventsourcing_env

from .base import Projection, Tx, check_target, physical
from .parking import PARKED, PARKED_DDL, drop_parked, move_parked

TRACKING = "projection_tracking"
_TRACKING_COLS = (
    "key, projection, target, kind, version, position, last_recorded_at_us, until_us, upto, "
    "created_at_us, updated_at_us, tree_size, tree_root"
)
#: Added by schema version 2 (``casestore db migrate``); NULL in rows written before.
TREE_COLUMNS = ("tree_size", "tree_root")
#: RFC 9162 §2.1.1: the root of the empty tree, SHA-256 of nothing (a new target's).
EMPTY_TREE_ROOT = hashlib.sha256(b"").digest()


def _now_us() -> int:
    return time.time_ns() // 1000


@dataclass(frozen=True)
class TrackingRow:
    """Where one target of a projection stands."""

    key: str
    projection: str
    target: str
    kind: str  # live | target | scratch
    version: int
    position: int
    last_recorded_at_us: int | None
    until_us: int | None
    upto: int | None
    created_at_us: int
    updated_at_us: int
    tree_size: int | None = None  # the tree this target was built to: its size ...
    tree_root: bytes | None = None  # ... and RFC 9162 root (None: not reached/recorded yet)

    @property
    def frozen(self) -> bool:
        """Built up to a past moment or position: never advanced by live workers."""
        return self.until_us is not None or self.upto is not None


class ViewDB:
    """Connections to the database holding the views (SQLite file or PostgreSQL)."""

    def __init__(self, db_url: str, *, pool_size: int = 4) -> None:
        self.url = db_url
        self.backend = backend_of(db_url)
        self._local = threading.local()
        self._sqlite_conns: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._pool: Any = None
        if self.backend == "sqlite":
            self.sqlite_path = eventsourcing_env(db_url)["SQLITE_DBNAME"]
        else:
            from psycopg_pool import ConnectionPool

            self._pool = ConnectionPool(
                db_url,
                min_size=1,
                max_size=pool_size,
                open=True,
                kwargs={"autocommit": True, "connect_timeout": 5},
                name="casestore-views",
                check=ConnectionPool.check_connection,  # a restart leaves dead connections
                timeout=5,
            )
        self.ensure_tracking()

    # -- connections ---------------------------------------------------------------------

    def connect_sqlite(self) -> sqlite3.Connection:
        """A new SQLite connection (autocommit; transactions are explicit)."""
        conn = sqlite3.connect(
            self.sqlite_path,
            timeout=30,
            isolation_level=None,
            check_same_thread=False,
            uri=self.sqlite_path.startswith("file:"),
        )
        conn.execute("PRAGMA busy_timeout = 30000")
        return conn

    @contextlib.contextmanager
    def connection(self) -> Iterator[Any]:
        """A connection for reads (autocommit)."""
        if self.backend == "sqlite":
            conn = getattr(self._local, "conn", None)
            if conn is None:
                conn = self._local.conn = self.connect_sqlite()
                with self._lock:
                    self._sqlite_conns.append(conn)
            yield conn
        else:
            with self._pool.connection() as conn:
                yield conn

    @contextlib.contextmanager
    def transaction(self, names: Mapping[str, str] | None = None) -> Iterator[Tx]:
        """One write transaction (SQLite: ``BEGIN IMMEDIATE``, the single writer lock)."""
        with self.connection() as conn:
            if self.backend == "sqlite":
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield Tx(conn, "sqlite", names or {})
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            else:
                with conn.transaction():
                    yield Tx(conn, "postgres", names or {})

    def rows(
        self, template: str, params: Sequence[Any] = (), names: Mapping[str, str] | None = None
    ) -> list[dict[str, Any]]:
        """Run a read query (``%s`` placeholders, ``{table}`` names); rows as dicts."""
        text = template.format_map(names or {})
        if self.backend == "sqlite":
            text = text.replace("%s", "?")
        with self.connection() as conn:
            cur = conn.execute(text, params)
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
        with self._lock:
            for conn in self._sqlite_conns:
                conn.close()
            self._sqlite_conns.clear()
        self._local = threading.local()

    # -- tracking ------------------------------------------------------------------------

    def ensure_tracking(self) -> None:
        blob = "bytea" if self.backend == "postgres" else "BLOB"
        ddl = (
            f"CREATE TABLE IF NOT EXISTS {TRACKING} (key TEXT PRIMARY KEY, "
            "projection TEXT NOT NULL, target TEXT NOT NULL, kind TEXT NOT NULL, "
            "version BIGINT NOT NULL, position BIGINT NOT NULL, last_recorded_at_us BIGINT, "
            "until_us BIGINT, upto BIGINT, created_at_us BIGINT NOT NULL, "
            f"updated_at_us BIGINT NOT NULL, tree_size BIGINT, tree_root {blob})"
        )
        if self.backend == "postgres":
            # The application role may not create tables (``casestore db grant``): once
            # the owner's ``db migrate`` made them, nothing here issues DDL.
            found = self.rows(
                "SELECT to_regclass(%s) IS NOT NULL AND to_regclass(%s) IS NOT NULL AS ok",
                (TRACKING, PARKED),
            )
            if found and found[0]["ok"]:
                self._ensure_tree_columns()
                return
        with self.transaction() as tx:
            _schema_lock(tx)
            tx.execute(ddl)
            tx.execute(PARKED_DDL)
        self._ensure_tree_columns()

    def _tracking_columns(self, tx: Tx) -> set[str]:
        if tx.backend == "postgres":
            rows = tx.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_name = %s AND table_schema = current_schema()",
                (TRACKING,),
            )
            return {str(r[0]) for r in rows}
        return {str(r[1]) for r in tx.execute(f"PRAGMA table_info({TRACKING})")}

    def _ensure_tree_columns(self) -> None:
        """Schema version 2: add ``tree_size``/``tree_root`` to a tracking table made
        before them (nullable: old rows read "not recorded" until their next batch).
        On PostgreSQL only the owner may (``casestore db migrate``); the application
        role finds them there, or is told to run the migration."""
        with self.connection() as conn:
            tx = Tx(conn, self.backend, {})
            if not set(TREE_COLUMNS) - self._tracking_columns(tx):
                return
        blob = "bytea" if self.backend == "postgres" else "BLOB"
        try:
            with self.transaction() as tx:
                _schema_lock(tx)
                have = self._tracking_columns(tx)
                for column, kind in zip(TREE_COLUMNS, ("BIGINT", blob), strict=True):
                    if column not in have:
                        tx.execute(f"ALTER TABLE {TRACKING} ADD COLUMN {column} {kind}")
        except Exception as e:
            if self.backend == "postgres" and "permission" in str(e).lower():
                raise RuntimeError(
                    f"{TRACKING} lacks {', '.join(TREE_COLUMNS)} (schema version 2): "
                    "run `casestore db migrate` once as the database owner"
                ) from e
            raise

    def tracking(self, key: str) -> TrackingRow | None:
        rows = self.rows(f"SELECT {_TRACKING_COLS} FROM {TRACKING} WHERE key = %s", (key,))
        return TrackingRow(**rows[0]) if rows else None

    def all_tracking(self) -> list[TrackingRow]:
        rows = self.rows(f"SELECT {_TRACKING_COLS} FROM {TRACKING} ORDER BY projection, key")
        return [TrackingRow(**r) for r in rows]


def _schema_lock(tx: Tx) -> None:
    """Serialise DDL between processes (SQLite's BEGIN IMMEDIATE already does)."""
    if tx.backend == "postgres":
        tx.execute("SELECT pg_advisory_xact_lock(hashtext('casestore-projection-schema'))")


def lock_position(tx: Tx, key: str) -> int | None:
    """The committed position of a target, locked until the transaction ends."""
    lock = " FOR UPDATE" if tx.backend == "postgres" else ""
    rows = tx.execute(f"SELECT position FROM {TRACKING} WHERE key = %s{lock}", (key,))
    return int(rows[0][0]) if rows else None


def set_position(
    tx: Tx,
    key: str,
    position: int,
    last_recorded_at_us: int | None,
    tree_root: bytes | None = None,
) -> None:
    """Move a target to ``position``, built to the tree of ``position`` leaves whose root
    is ``tree_root`` (None: the tree has not reached it yet; filled in by
    :func:`bind_tree_root`)."""
    tx.execute(
        f"UPDATE {TRACKING} SET position = %s, last_recorded_at_us = %s, updated_at_us = %s, "
        "tree_size = %s, tree_root = %s WHERE key = %s",
        (position, last_recorded_at_us, _now_us(), position, tree_root, key),
    )


def bind_tree_root(db: ViewDB, key: str, position: int, root: bytes) -> bool:
    """Record ``root`` for a target still at ``position`` with no root yet (a projection
    that was ahead of the tree worker, or a row from before schema version 2); False
    when it has moved on meanwhile."""
    with db.transaction() as tx:
        rows = tx.execute(
            f"UPDATE {TRACKING} SET tree_size = %s, tree_root = %s WHERE key = %s "
            "AND position = %s AND tree_root IS NULL RETURNING key",
            (position, root, key, position),
        )
    return bool(rows)


def create_target(
    db: ViewDB,
    projection: Projection[Any],
    target: str = "",
    *,
    kind: str = "live",
    until_us: int | None = None,
    upto: int | None = None,
    indexes: bool = True,
) -> bool:
    """Create a target's empty tables and tracking row at position 0 (False if it exists).

    ``indexes=False`` defers the secondary indexes (a bulk build adds them at the end
    with :func:`create_indexes`, which is much faster than maintaining them row by row).
    """
    key = physical(projection.name, check_target(target))
    with db.transaction() as tx:
        _schema_lock(tx)
        if lock_position(tx, key) is not None:
            return False
        for table in projection.tables:
            name = physical(table.name, target)
            tx.execute(f"DROP TABLE IF EXISTS {name}")  # leftovers of a crashed creation
            for statement in table.ddl(db.backend, name, indexes=indexes):
                tx.execute(statement)
        now = _now_us()
        tx.execute(
            f"INSERT INTO {TRACKING} ({_TRACKING_COLS}) VALUES "
            "(%s, %s, %s, %s, %s, 0, NULL, %s, %s, %s, %s, 0, %s)",
            (key, projection.name, target, kind, projection.version, until_us, upto, now, now,
             EMPTY_TREE_ROOT),
        )  # fmt: skip
    return True


def create_indexes(db: ViewDB, projection: Projection[Any], target: str) -> None:
    """Add the deferred secondary indexes of a target built with ``indexes=False``."""
    with db.transaction() as tx:
        for table in projection.tables:
            for statement in table.index_ddl(physical(table.name, target), deferred=True):
                tx.execute(statement)


def swap(db: ViewDB, projection: Projection[Any], source: str, dest: str) -> TrackingRow:
    """Put the tables built under ``source`` in place of ``dest``, atomically.

    Readers of ``dest`` see the old tables until the commit and the new ones after;
    a live worker's next batch finds the new position and continues from it.
    """
    src_key, dest_key = physical(projection.name, source), physical(projection.name, dest)
    with db.transaction() as tx:
        if tx.backend == "postgres":
            tx.execute("SET LOCAL lock_timeout = '60s'")
        _schema_lock(tx)
        dest_row = lock_position(tx, dest_key)  # waits for a live worker's open batch
        if lock_position(tx, src_key) is None:
            raise NotFound(f"no target {src_key} to swap in")
        for table in projection.tables:
            tx.execute(f"DROP TABLE IF EXISTS {physical(table.name, dest)}")
            tx.execute(
                f"ALTER TABLE {physical(table.name, source)} RENAME TO {physical(table.name, dest)}"
            )
        # The destination row is updated in place (never deleted and re-inserted), so a
        # worker waiting on its lock wakes up to the new position instead of no row.
        kind = "live" if dest == "" else "target"
        moved = (
            "version, position, last_recorded_at_us, until_us, upto, created_at_us, "
            "updated_at_us, tree_size, tree_root"
        )
        if dest_row is None:
            tx.execute(
                f"INSERT INTO {TRACKING} ({_TRACKING_COLS}) SELECT %s, projection, %s, %s, "
                f"{moved} FROM {TRACKING} WHERE key = %s",
                (dest_key, dest, kind, src_key),
            )
        else:
            (values,) = tx.execute(f"SELECT {moved} FROM {TRACKING} WHERE key = %s", (src_key,))
            tx.execute(
                f"UPDATE {TRACKING} SET kind = %s, version = %s, position = %s, "
                "last_recorded_at_us = %s, until_us = %s, upto = %s, created_at_us = %s, "
                "updated_at_us = %s, tree_size = %s, tree_root = %s WHERE key = %s",
                (kind, *values[:6], _now_us(), *values[7:], dest_key),
            )
        tx.execute(f"DELETE FROM {TRACKING} WHERE key = %s", (src_key,))
        move_parked(tx, src_key, dest_key)
    swapped = db.tracking(dest_key)
    assert swapped is not None
    return swapped


def drop_target(db: ViewDB, projection: Projection[Any], target: str) -> None:
    """Drop a named or scratch target's tables and tracking row (never the live view)."""
    if not target:
        raise InvalidCommand("the live view is replaced by a rebuild, never dropped")
    with db.transaction() as tx:
        _schema_lock(tx)
        for table in projection.tables:
            tx.execute(f"DROP TABLE IF EXISTS {physical(table.name, target)}")
        tx.execute(f"DELETE FROM {TRACKING} WHERE key = %s", (physical(projection.name, target),))
        drop_parked(tx, physical(projection.name, target))


class ViewTracking(TrackingRecorder):
    """eventsourcing's TrackingRecorder over one target's tracking row.

    Lets stock eventsourcing code wait for a view (``wait(app_name, position)``) and
    record tracking the usual way; our runtime writes the same row in its batches.
    """

    def __init__(self, db: ViewDB, key: str) -> None:
        self.db = db
        self.key = key

    def insert_tracking(self, tracking: Tracking) -> None:
        with self.db.transaction() as tx:
            current = lock_position(tx, self.key)
            if current is None:
                raise NotFound(f"no projection target {self.key}")
            if tracking.notification_id <= current:  # eventsourcing's contract: a conflict
                raise IntegrityError(f"{self.key} is already at position {current}")
            set_position(tx, self.key, tracking.notification_id, None)

    def max_tracking_id(self, application_name: str) -> int | None:
        row = self.db.tracking(self.key)
        return row.position if row and row.position else None


class View:
    """Base of the query helpers: reads one target's tables (the live view by default)."""

    tables: tuple[Any, ...] = ()

    def __init__(self, db: ViewDB, target: str = "") -> None:
        self.db = db
        self.target = check_target(target)
        self.names = {t.name: physical(t.name, target) for t in self.tables}

    def rows(self, template: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return self.db.rows(template, params, self.names)


def snapshot(
    db: ViewDB, projection: Projection[Any], target: str = ""
) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of one target, sorted: for comparing two builds."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    for table in projection.tables:
        cols = ", ".join(table.column_names)
        rows = db.rows(f"SELECT {cols} FROM {physical(table.name, target)}")
        out[table.name] = sorted(
            (tuple(r.values()) for r in rows), key=lambda t: tuple(repr(v) for v in t)
        )
    return out
