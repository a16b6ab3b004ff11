"""Where the verifiable log keeps its state, beside the events in the same database.

Tables (created on first use, on SQLite and PostgreSQL alike):

- ``casestore_merkle_nodes (level, idx, hash)``: the complete subtrees of the tree from
  level :data:`STORED_FROM` up. Lower levels are recomputed from the events' stored
  hashes when a proof needs them (at most ``2**STORED_FROM`` leaves per node), which
  keeps the tree's write volume to one row per 16 events and proofs at two reads.
- ``casestore_merkle_head (id, size, root)``: how far the tree has grown.
- ``casestore_checkpoints (tree_size, root_hash, note, signed_at_us)`` and
  ``casestore_cosignatures (tree_size, witness, line, received_at_us)``: every signed
  checkpoint and every witness cosignature received, append-only in the database itself
  (triggers refuse UPDATE, DELETE and TRUNCATE, as for the event table).

Tree nodes are derived data and are not append-only: a tree can be regrown from the log.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from casestore.ledger.merkle import NodeKey, leaf_hash, node_hash
from casestore.store.config import backend_of, eventsourcing_env
from casestore.store.logbase import APPEND_ONLY_MESSAGE, EVENTS_TABLE

#: Levels below this are not stored but recomputed from the events' hashes.
STORED_FROM = 4
NODES, HEAD = "casestore_merkle_nodes", "casestore_merkle_head"
CHECKPOINTS, COSIGNATURES = "casestore_checkpoints", "casestore_cosignatures"

_SQLITE_SCHEMA = [
    f"CREATE TABLE IF NOT EXISTS {NODES} (level INTEGER NOT NULL, idx INTEGER NOT NULL, "
    "hash BLOB NOT NULL, PRIMARY KEY (level, idx)) WITHOUT ROWID",
    f"CREATE TABLE IF NOT EXISTS {HEAD} (id INTEGER PRIMARY KEY, size INTEGER NOT NULL, "
    "root BLOB NOT NULL)",
    f"CREATE TABLE IF NOT EXISTS {CHECKPOINTS} (tree_size INTEGER PRIMARY KEY, "
    "root_hash BLOB NOT NULL, note TEXT NOT NULL, signed_at_us INTEGER NOT NULL)",
    f"CREATE TABLE IF NOT EXISTS {COSIGNATURES} (tree_size INTEGER NOT NULL, "
    "witness TEXT NOT NULL, line TEXT NOT NULL, received_at_us INTEGER NOT NULL, "
    "PRIMARY KEY (tree_size, witness))",
    *(
        f"CREATE TRIGGER IF NOT EXISTS {t}_no_{op.lower()} BEFORE {op} ON {t} BEGIN "
        f"SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE} ({op} refused)'); END"
        for t in (CHECKPOINTS, COSIGNATURES)
        for op in ("UPDATE", "DELETE")
    ),
]
_PG_SCHEMA = [
    f"CREATE TABLE IF NOT EXISTS {NODES} (level int NOT NULL, idx bigint NOT NULL, "
    "hash bytea NOT NULL, PRIMARY KEY (level, idx))",
    f"CREATE TABLE IF NOT EXISTS {HEAD} (id int PRIMARY KEY, size bigint NOT NULL, "
    "root bytea NOT NULL)",
    f"CREATE TABLE IF NOT EXISTS {CHECKPOINTS} (tree_size bigint PRIMARY KEY, "
    "root_hash bytea NOT NULL, note text NOT NULL, signed_at_us bigint NOT NULL)",
    f"CREATE TABLE IF NOT EXISTS {COSIGNATURES} (tree_size bigint NOT NULL, "
    "witness text NOT NULL, line text NOT NULL, received_at_us bigint NOT NULL, "
    "PRIMARY KEY (tree_size, witness))",
    "CREATE OR REPLACE FUNCTION casestore_checkpoints_refuse_change() RETURNS trigger "
    f"LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '{APPEND_ONLY_MESSAGE} (% refused)', "
    "TG_OP USING ERRCODE = 'insufficient_privilege'; END $$",
    *(
        f"CREATE OR REPLACE TRIGGER {t}_no_change BEFORE UPDATE OR DELETE ON {t} "
        "FOR EACH ROW EXECUTE FUNCTION casestore_checkpoints_refuse_change()"
        for t in (CHECKPOINTS, COSIGNATURES)
    ),
    *(
        f"CREATE OR REPLACE TRIGGER {t}_no_truncate BEFORE TRUNCATE ON {t} "
        "FOR EACH STATEMENT EXECUTE FUNCTION casestore_checkpoints_refuse_change()"
        for t in (CHECKPOINTS, COSIGNATURES)
    ),
]


@dataclass(frozen=True)
class StoredCheckpoint:
    """One signed checkpoint as kept."""

    tree_size: int
    root_hash: bytes
    note: str
    signed_at_us: int


@dataclass(frozen=True)
class CaseEventRow:
    """One event of a case with what a case proof carries."""

    position: int
    version: int
    topic: str
    state: bytes
    recorded_at_us: int
    event_hash: bytes


class LedgerStore:
    """Connections to the event database for the tree, checkpoints and cosignatures."""

    def __init__(self, url: str, *, pool_size: int = 4) -> None:
        self.url = url
        self.backend = backend_of(url)
        self._local = threading.local()
        self._sqlite: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._pool: Any = None
        if self.backend == "postgres":
            from psycopg_pool import ConnectionPool

            self._pool = ConnectionPool(
                url, min_size=1, max_size=pool_size, kwargs={"autocommit": True},
                name="casestore-ledger", open=True,
            )  # fmt: skip
        self.ensure_schema()

    # -- connections -------------------------------------------------------------------

    @contextlib.contextmanager
    def connection(self) -> Iterator[Any]:
        if self.backend == "postgres":
            with self._pool.connection() as conn:
                yield conn
            return
        conn = getattr(self._local, "conn", None)
        if conn is None:
            name = eventsourcing_env(self.url)["SQLITE_DBNAME"]
            conn = sqlite3.connect(
                name, timeout=30, isolation_level=None, check_same_thread=False,
                uri=name.startswith("file:"),
            )  # fmt: skip
            self._local.conn = conn
            with self._lock:
                self._sqlite.append(conn)
        yield conn

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Any]:
        with self.connection() as conn:
            if self.backend == "postgres":
                with conn.transaction():
                    yield conn
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self.connection() as conn:
            if self.backend == "sqlite":
                return list(conn.execute(sql.replace("%s", "?"), params).fetchall())
            return list(conn.execute(sql, params).fetchall())

    def ensure_schema(self) -> None:
        """Create the tables and triggers once (by the owner: an application role that may
        only read and insert finds them there and changes nothing)."""
        with self.transaction() as conn:
            if self.backend == "postgres":
                conn.execute("SELECT pg_advisory_xact_lock(hashtext('casestore-ledger-schema'))")
                found = conn.execute(
                    "SELECT count(*) FROM pg_trigger WHERE tgname = %s",
                    (f"{COSIGNATURES}_no_truncate",),
                ).fetchone()
                if found and found[0]:
                    return
            for statement in _PG_SCHEMA if self.backend == "postgres" else _SQLITE_SCHEMA:
                conn.execute(statement)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
        with self._lock:
            for conn in self._sqlite:
                conn.close()
            self._sqlite.clear()
        self._local = threading.local()

    # -- the tree ----------------------------------------------------------------------

    def head(self) -> tuple[int, bytes | None]:
        """(tree size, root) as grown so far; (0, None) before the first leaf."""
        rows = self._rows(f"SELECT size, root FROM {HEAD} WHERE id = 1")
        return (int(rows[0][0]), bytes(rows[0][1])) if rows else (0, None)

    def event_hashes(self, after: int, limit: int) -> list[tuple[int, bytes]]:
        """(position, event hash) of up to ``limit`` events after a position, in order."""
        sql = (
            f"SELECT notification_id, event_hash FROM {EVENTS_TABLE} "
            "WHERE notification_id > %s ORDER BY notification_id LIMIT %s"
        )
        return [(int(p), bytes(h)) for p, h in self._rows(sql, (after, limit))]

    def read_nodes(self, keys: Iterable[NodeKey]) -> Mapping[NodeKey, bytes]:
        """The hashes of complete subtrees by (level, index): stored, or recomputed low ones."""
        keys = list(keys)
        out: dict[NodeKey, bytes] = {}
        high = [k for k in keys if k[0] >= STORED_FROM]
        low = [k for k in keys if k[0] < STORED_FROM]
        width = 1 << STORED_FROM
        blocks = sorted({(index << level) >> STORED_FROM for level, index in low})
        positions = [b * width + n for b in blocks for n in range(1, width + 1)]
        leaves: dict[int, bytes] = {}
        if self.backend == "postgres":  # one round trip for both kinds of node
            sql = (
                "SELECT n.level, n.idx, n.hash "
                "FROM unnest(%s::int[], %s::bigint[]) AS k(level, idx) "
                f"JOIN {NODES} n ON n.level = k.level AND n.idx = k.idx UNION ALL "
                f"SELECT -1, notification_id, event_hash FROM {EVENTS_TABLE} "
                "WHERE notification_id = ANY(%s::bigint[])"
            )
            params = ([k[0] for k in high], [k[1] for k in high], positions)
            for lv, ix, h in self._rows(sql, params):
                if lv < 0:
                    leaves[int(ix) - 1] = bytes(h)
                else:
                    out[(int(lv), int(ix))] = bytes(h)
        else:
            if high:
                marks = ", ".join(["(%s, %s)"] * len(high))
                sql = f"SELECT level, idx, hash FROM {NODES} WHERE (level, idx) IN (VALUES {marks})"
                params2 = tuple(v for k in high for v in k)
                out.update({(int(lv), int(ix)): bytes(h) for lv, ix, h in self._rows(sql, params2)})
            if blocks:  # the 16-leaf blocks holding the low nodes, in one read
                where = " OR ".join(["notification_id BETWEEN %s AND %s"] * len(blocks))
                sql = f"SELECT notification_id, event_hash FROM {EVENTS_TABLE} WHERE {where}"
                params3 = tuple(v for b in blocks for v in (b * width + 1, (b + 1) * width))
                leaves = {int(p) - 1: bytes(h) for p, h in self._rows(sql, params3)}
        for level, index in low:
            first = index << level
            span = [leaves.get(i) for i in range(first, first + (1 << level))]
            if all(h is not None for h in span):
                out[(level, index)] = _fold([h for h in span if h is not None])
        return out

    def grow(
        self, expected: int, nodes: list[tuple[int, int, bytes]], size: int, root: bytes
    ) -> bool:
        """Store new nodes and the new head if the tree is still at ``expected`` leaves."""
        stored = [(lv, ix, h) for lv, ix, h in nodes if lv >= STORED_FROM]
        with self.transaction() as conn:
            sql = f"SELECT size FROM {HEAD} WHERE id = 1"
            if self.backend == "postgres":
                row = conn.execute(sql + " FOR UPDATE").fetchone()
            else:
                row = conn.execute(sql).fetchone()
            if (int(row[0]) if row else 0) != expected:
                return False  # another worker grew it meanwhile
            if self.backend == "postgres":
                if stored:
                    with (
                        conn.cursor() as cur,
                        cur.copy(f"COPY {NODES} (level, idx, hash) FROM STDIN") as copy,
                    ):
                        for n in stored:
                            copy.write_row(n)
                conn.execute(
                    f"INSERT INTO {HEAD} (id, size, root) VALUES (1, %s, %s) ON CONFLICT (id) "
                    "DO UPDATE SET size = excluded.size, root = excluded.root",
                    (size, root),
                )
            else:
                conn.executemany(f"INSERT INTO {NODES} (level, idx, hash) VALUES (?, ?, ?)", stored)
                conn.execute(
                    f"INSERT OR REPLACE INTO {HEAD} (id, size, root) VALUES (1, ?, ?)",
                    (size, root),
                )
        return True

    # -- checkpoints and cosignatures ----------------------------------------------------

    def add_checkpoint(self, size: int, root: bytes, note: str) -> bool:
        """Keep a signed checkpoint; False when one of that size is already kept."""
        sql = (
            f"INSERT INTO {CHECKPOINTS} (tree_size, root_hash, note, signed_at_us) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (tree_size) DO NOTHING"
        )
        with self.transaction() as conn:
            if self.backend == "sqlite":
                sql = sql.replace("%s", "?")
            cur = conn.execute(sql, (size, root, note, time.time_ns() // 1000))
            return bool(cur.rowcount)

    def _checkpoints(self, where: str, params: tuple[Any, ...]) -> list[StoredCheckpoint]:
        sql = f"SELECT tree_size, root_hash, note, signed_at_us FROM {CHECKPOINTS} {where}"
        return [
            StoredCheckpoint(int(s), bytes(r), str(n), int(t))
            for s, r, n, t in self._rows(sql, params)
        ]

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        found = self._checkpoints("ORDER BY tree_size DESC LIMIT 1", ())
        return found[0] if found else None

    def checkpoint(self, size: int) -> StoredCheckpoint | None:
        found = self._checkpoints("WHERE tree_size = %s", (size,))
        return found[0] if found else None

    def checkpoints_after(self, size: int, limit: int) -> list[StoredCheckpoint]:
        return self._checkpoints("WHERE tree_size > %s ORDER BY tree_size LIMIT %s", (size, limit))

    def add_cosignature(self, size: int, witness: str, line: str) -> bool:
        sql = (
            f"INSERT INTO {COSIGNATURES} (tree_size, witness, line, received_at_us) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (tree_size, witness) DO NOTHING"
        )
        with self.transaction() as conn:
            if self.backend == "sqlite":
                sql = sql.replace("%s", "?")
            cur = conn.execute(sql, (size, witness, line, time.time_ns() // 1000))
            return bool(cur.rowcount)

    def cosignature_lines(self, size: int) -> list[str]:
        sql = f"SELECT line FROM {COSIGNATURES} WHERE tree_size = %s ORDER BY witness"
        return [str(line) for (line,) in self._rows(sql, (size,))]

    # -- events for case proofs ----------------------------------------------------------

    def case_events(self, case_id: str, upto: int) -> list[CaseEventRow]:
        """A case's events at positions up to ``upto``, in version order."""
        if self.backend == "postgres":
            sql = (
                "SELECT notification_id, originator_version, topic, state, "
                "(extract(epoch from recorded_at) * 1000000)::bigint, event_hash "
                f"FROM {EVENTS_TABLE} WHERE originator_id = %s AND notification_id <= %s "
                "ORDER BY originator_version"
            )
        else:
            sql = (
                "SELECT notification_id, originator_version, topic, state, recorded_at, "
                f"event_hash FROM {EVENTS_TABLE} WHERE originator_id = %s "
                "AND notification_id <= %s ORDER BY originator_version"
            )
            case_id = case_id.replace("-", "")
        return [
            CaseEventRow(int(p), int(v), str(t), bytes(s), int(us), bytes(h))
            for p, v, t, s, us, h in self._rows(sql, (case_id, upto))
        ]


def _fold(leaves: list[bytes]) -> bytes:
    """The hash of a complete subtree over event hashes (a power-of-two count)."""
    level = [leaf_hash(h) for h in leaves]
    while len(level) > 1:
        level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]
