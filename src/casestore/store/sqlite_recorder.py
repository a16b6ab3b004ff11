"""The SQLite recorder: the same chain, triggers and group commit (``BEGIN IMMEDIATE``).

(A little over 400 lines: the write path, the log scans and eventsourcing's notification
API read the same table and are kept together.)
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote, urlsplit
from uuid import UUID

from eventsourcing.persistence import Notification
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore

from casestore.store.batch import (
    AppendRequest,
    Duplicate,
    GroupCommitter,
    Plan,
    plan_batch,
)
from casestore.store.contracts import check_key, sqlite_errors
from casestore.store.integrity import GENESIS, LinkCheck, LogRow, check_links
from casestore.store.keyguard import (
    CHECK_IN_INSERT_MAX,
    check_sqlite,
    failing_alone,
    insert_checked,
    sealed_under,
    write_side_rows,
)
from casestore.store.logbase import (
    _HEADS_CACHED,
    APPEND_ONLY_MESSAGE,
    BINDINGS_TABLE,
    EVENTS_TABLE,
    KEYS_TABLE,
    GroupCommitting,
    admit,
    complete_requests,
)
from casestore.store.sqlite_links import PARALLEL_FROM, check_in_parallel

#: Rows per INSERT statement (8 columns each, far below SQLite's variable limit).
_ROWS_PER_INSERT = 200


class CasestoreSQLiteRecorder(GroupCommitting, SQLiteApplicationRecorder):
    """SQLite recorder with the same chain, triggers and group commit (BEGIN IMMEDIATE)."""

    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = EVENTS_TABLE) -> None:
        super().__init__(datastore, events_table_name)
        self.commit_listeners = []
        self.batch_listeners = []
        self.committer = GroupCommitter(failing_alone(self._commit_batch))
        #: (version, event hash) of aggregates this recorder appended to or read under the
        #: write lock, and the log's (last position, chain hash) after this recorder's
        #: last commit: valid until another writer appends (see ``_commit_batch``).
        self._heads: dict[UUID, tuple[int, bytes]] = {}
        self._last: tuple[int, bytes, int] | None = None  # position, chain, recorded_at µs
        self._insert_statements: dict[int, str] = {}
        self._writer: sqlite3.Connection | None = None

    def construct_create_table_statements(self) -> list[str]:
        t = self.events_table_name
        guard = f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE} (%s refused)'); END"
        return [
            f"CREATE TABLE IF NOT EXISTS {t} (notification_id INTEGER PRIMARY KEY, "
            "originator_id TEXT NOT NULL, originator_version INTEGER NOT NULL, "
            "topic TEXT NOT NULL, state BLOB NOT NULL, recorded_at INTEGER NOT NULL, "
            "event_hash BLOB NOT NULL, chain_hash BLOB NOT NULL, "
            "UNIQUE (originator_id, originator_version))",
            f"CREATE INDEX IF NOT EXISTS {t}_recorded_at ON {t} (recorded_at)",
            f"CREATE TABLE IF NOT EXISTS {KEYS_TABLE} (key TEXT PRIMARY KEY, "
            "originator_id TEXT NOT NULL, version INTEGER NOT NULL, position INTEGER NOT NULL)",
            f"CREATE TRIGGER IF NOT EXISTS {t}_no_update BEFORE UPDATE ON {t} " + guard % "UPDATE",
            f"CREATE TRIGGER IF NOT EXISTS {t}_no_delete BEFORE DELETE ON {t} " + guard % "DELETE",
            f"CREATE TRIGGER IF NOT EXISTS {KEYS_TABLE}_no_update BEFORE UPDATE ON {KEYS_TABLE} "
            + guard % "UPDATE",
            f"CREATE TRIGGER IF NOT EXISTS {KEYS_TABLE}_no_delete BEFORE DELETE ON {KEYS_TABLE} "
            + guard % "DELETE",
            f"CREATE TABLE IF NOT EXISTS {BINDINGS_TABLE} (key TEXT PRIMARY KEY, "
            "binding TEXT NOT NULL)",
            f"CREATE TRIGGER IF NOT EXISTS {BINDINGS_TABLE}_no_update BEFORE UPDATE ON "
            f"{BINDINGS_TABLE} " + guard % "UPDATE",
            f"CREATE TRIGGER IF NOT EXISTS {BINDINGS_TABLE}_no_delete BEFORE DELETE ON "
            f"{BINDINGS_TABLE} " + guard % "DELETE",
        ]

    def _commit_batch(self, batch: list[AppendRequest]) -> None:
        """One transaction for the whole batch.

        Fast path: while this recorder's cache knows the log's last position and chain
        and the heads of every aggregate in the batch, the batch is planned in process
        and written by one multi-row INSERT (its own transaction) that claims the next
        positions; idempotency keys go in with it inside ``BEGIN IMMEDIATE``. If any other
        writer appended meanwhile, the first of those positions is taken (positions are
        gap-free), the statement fails as a whole, and the batch is redone carefully.

        Careful path: ``BEGIN IMMEDIATE``, read the last position, the heads and the keys
        under the write lock, plan, insert, commit (SQLite's busy wait polls, so one
        transaction at a time).
        """
        batch = admit(batch)
        if not batch:
            return
        keys = [r.idempotency_key for r in batch if r.idempotency_key]
        live = sealed_under(batch)  # remembered data keys: checked in the transaction
        with sqlite_errors(), self._write_connection() as c:
            plan = self._fast_plan(batch)
            if plan is not None:
                try:
                    explicit = bool(plan.keys or plan.side_rows)  # live: see _write
                    self._write(c, plan, explicit=explicit, live=live)
                except sqlite3.IntegrityError:
                    plan = None  # someone else appended (or used a key): redo carefully
                    self._forget()
                except BaseException:
                    self._forget()
                    raise
            if plan is None:
                plan = self._careful(c, batch, keys, live)
        for row in plan.rows:
            self._heads[row.originator_id] = (row.version, row.event_hash)
        if plan.rows:
            last = plan.rows[-1]
            self._last = (last.position, last.chain_hash, last.recorded_at_us)
        self._count_steps_back(plan)
        complete_requests(batch, plan)
        if plan.rows:
            self._hand_over(plan)
            self._notify_listeners(plan.rows[-1].position)

    def _fast_plan(self, batch: list[AppendRequest]) -> Plan | None:
        """The batch planned from the cache alone, or None when the cache cannot tell."""
        if self._last is None or len(self._heads) > _HEADS_CACHED:
            return None
        heads = self._heads
        for request in batch:
            for ev in request.events:
                oid = ev.originator_id
                if ev.originator_version != 1 and (
                    oid not in heads if isinstance(oid, UUID) else UUID(str(oid)) not in heads
                ):
                    return None  # an aggregate this recorder has not written: read its head
        position, chain, recorded_us = self._last
        plan = plan_batch(batch, heads, position, chain, {}, recorded_us)
        if any(isinstance(outcome, BaseException) for outcome in plan.outcomes.values()):
            return None  # a conflict: confirm it against the table, not the cache
        return plan

    def _careful(
        self, c: sqlite3.Connection, batch: list[AppendRequest], keys: list[str], live: list[str]
    ) -> Plan:
        t = self.events_table_name
        c.execute("BEGIN IMMEDIATE")
        try:
            last = c.execute(
                f"SELECT notification_id, chain_hash, recorded_at FROM {t} "
                "ORDER BY notification_id DESC LIMIT 1"
            ).fetchone()
            last_position = last[0] if last else 0
            last_chain = bytes(last[1]) if last else None
            last_recorded_us = int(last[2]) if last else 0
            if self._last is None or self._last[0] != last_position:
                self._heads.clear()  # another writer appended: cached heads may be stale
            heads: dict[UUID, tuple[int, bytes]] = {}
            for oid in {oid for r in batch for oid in r.originator_ids}:
                head = self._heads.get(oid)
                if head is None:
                    row = c.execute(
                        f"SELECT originator_version, event_hash FROM {t} "
                        "WHERE originator_id=? ORDER BY originator_version DESC LIMIT 1",
                        (oid.hex,),
                    ).fetchone()
                    head = (row[0], bytes(row[1])) if row else None
                if head is not None:
                    heads[oid] = head
            used = {}
            for key in keys:
                r = c.execute(
                    f"SELECT key, originator_id, version, position FROM {KEYS_TABLE} WHERE key=?",
                    (key,),
                ).fetchone()
                if r:
                    used[r[0]] = Duplicate(r[0], UUID(r[1]), r[2], r[3])
            plan = plan_batch(batch, heads, last_position, last_chain, used, last_recorded_us)
            self._write(c, plan, explicit=False, live=live)
            c.execute("COMMIT")
        except BaseException:
            self._forget()
            if c.in_transaction:
                c.execute("ROLLBACK")
            raise
        if len(self._heads) > _HEADS_CACHED:
            self._heads.clear()
        self._heads.update(heads)
        self._last = (last_position, last_chain or GENESIS, last_recorded_us)
        return plan

    def _write(
        self, c: sqlite3.Connection, plan: Plan, *, explicit: bool, live: Sequence[str] = ()
    ) -> None:
        """Insert a plan's rows (and keys, and side rows); ``explicit`` wraps them in
        BEGIN IMMEDIATE/COMMIT. The data keys ``live`` are checked in the same
        transaction (``keyguard``: ``KeysGone`` and nothing written if one is gone): by
        the INSERT itself when the rows fit one, else by a read first.

        The rows go in as one multi-row INSERT: outside an explicit transaction that
        single statement is a transaction of its own, so it lands whole or not at all.
        Side rows (a subject's new data key or link) go in the same transaction.
        """
        rows = plan.rows
        folded = len(rows) <= _ROWS_PER_INSERT and len(live) <= CHECK_IN_INSERT_MAX
        if explicit or (live and not folded and not c.in_transaction):
            c.execute("BEGIN IMMEDIATE")
            explicit = True
        try:
            if live and not folded:
                check_sqlite(c, live)
            for start in range(0, len(rows), _ROWS_PER_INSERT):
                chunk = rows[start : start + _ROWS_PER_INSERT]
                if len(rows) > _ROWS_PER_INSERT and not explicit and not c.in_transaction:
                    c.execute("BEGIN IMMEDIATE")  # a large batch: several statements, one txn
                    explicit = True
                values: list[Any] = []
                for r in chunk:
                    values += (
                        r.position,
                        r.originator_id.hex,
                        r.version,
                        r.topic,
                        r.state,
                        r.recorded_at_us,
                        r.event_hash,
                        r.chain_hash,
                    )
                if live and folded:
                    insert_checked(c, self._insert_sql(len(chunk)), values, len(chunk), live)
                else:
                    c.execute(self._insert_sql(len(chunk)), values)
            if plan.keys:
                c.executemany(
                    f"INSERT INTO {KEYS_TABLE} VALUES (?,?,?,?)",
                    [(k, o.hex, v, p) for k, o, v, p in plan.keys],
                )
            write_side_rows(c, plan.side_rows)  # KeysTaken: a second live key (keyguard)
            if explicit:
                c.execute("COMMIT")
        except BaseException:
            if explicit and c.in_transaction:
                c.execute("ROLLBACK")
            raise

    def _insert_sql(self, count: int) -> str:
        sql = self._insert_statements.get(count)
        if sql is None:
            sql = self._insert_statements[count] = (
                f"INSERT INTO {self.events_table_name} (notification_id, originator_id, "
                "originator_version, topic, state, recorded_at, event_hash, chain_hash) VALUES "
                + ",".join(["(?,?,?,?,?,?,?,?)"] * count)
            )
        return sql

    def _forget(self) -> None:
        """Distrust the cache: the next batch reads the log's head and heads again."""
        self._heads.clear()
        self._last = None

    @contextmanager
    def _write_connection(self) -> Iterator[sqlite3.Connection]:
        """This recorder's own writer connection (file databases), with a statement cache.

        eventsourcing's pooled connections cache one prepared statement; the writer uses
        a handful per batch. In-memory databases keep using the pool (shared-cache
        connections must not write concurrently).
        """
        pool = self.datastore.pool
        if pool.is_sqlite_memory_mode:
            with self.datastore.get_connection(commit=True) as conn:
                yield _raw(conn)
            return
        if self._writer is None:
            writer = sqlite3.connect(
                pool.db_name,
                uri=True,
                check_same_thread=False,
                isolation_level=None,
                cached_statements=64,
                timeout=float(pool.lock_timeout or 5),
            )
            writer.execute("PRAGMA journal_mode=WAL")
            self._writer = writer
        yield self._writer

    def close(self) -> None:
        """Close the writer connection (the pool is closed with the datastore)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        """eventsourcing's notification log over our positions (``notification_id``).

        eventsourcing's own query selects ``rowid``, which SQLite names after its alias
        here (``notification_id`` is the rowid), so its version cannot read this table.
        """
        low = 0 if start is None else start - (1 if inclusive_of_start else 0)
        high = stop if stop is not None else 2**62
        where = "notification_id > ? AND notification_id <= ?"
        params: list[Any] = [low, high]
        if topics:
            where += f" AND topic IN ({','.join('?' * len(topics))})"
            params += list(topics)
        params.append(limit)
        with sqlite_errors(), self.datastore.get_connection(commit=False) as conn:
            rows = (
                _raw(conn)
                .execute(
                    f"SELECT notification_id, originator_id, originator_version, topic, state "
                    f"FROM {self.events_table_name} WHERE {where} "
                    "ORDER BY notification_id LIMIT ?",
                    params,
                )
                .fetchall()
            )
        return [
            Notification(
                id=r[0],
                originator_id=UUID(r[1]),
                originator_version=r[2],
                topic=r[3],
                state=bytes(r[4]),
            )
            for r in rows
        ]

    def iter_log(
        self,
        after: int = 0,
        *,
        upto: int | None = None,
        until_us: int | None = None,
        page: int = 10_000,
    ) -> Iterator[LogRow]:
        stop = upto if upto is not None else 2**62
        until = until_us if until_us is not None else 2**62
        ids: dict[str, UUID] = {}  # a case's events share one id object (parsing is slow)
        for n, hexid, version, topic, state, us, ev_hash, chain in self._raw_rows(
            after, stop, until, page
        ):
            oid = ids.get(hexid)
            if oid is None:
                if len(ids) > 100_000:
                    ids.clear()
                oid = ids[hexid] = UUID(hexid)
            yield LogRow(n, oid, version, topic, state, us, ev_hash, chain)

    def check_links(self, digest_position: int = 0) -> LinkCheck:
        """Every hash link checked, counts only, up to the head as it is now: in this
        process for small logs, on both cores for large files (see ``sqlite_links``)."""
        upto, _ = self.head()
        pool = self.datastore.pool
        name = pool.db_name
        if name.startswith("file:/") and name.endswith("?mode=ro"):  # opened for an audit
            name = unquote(urlsplit(name).path)
        if upto >= PARALLEL_FROM and not pool.is_sqlite_memory_mode and name[:5] != "file:":
            found = check_in_parallel(name, self.events_table_name, upto, digest_position)
            if found is not None:
                return LinkCheck(*found)
        return check_links(self._raw_rows(0, upto), digest_position)

    def _raw_rows(
        self, after: int, upto: int, until_us: int = 2**62, page: int = 20_000
    ) -> Iterator[tuple[Any, ...]]:
        """The log in position order as plain tuples (case ids as hex), a page at a time."""
        position = after
        while True:
            with sqlite_errors(), self.datastore.get_connection(commit=False) as conn:
                cursor = _raw(conn).cursor()
                cursor.row_factory = None  # plain tuples
                rows = cursor.execute(
                    f"SELECT notification_id, originator_id, originator_version, topic, state, "
                    f"recorded_at, event_hash, chain_hash FROM {self.events_table_name} "
                    "WHERE notification_id > ? AND notification_id <= ? AND recorded_at <= ? "
                    "ORDER BY notification_id LIMIT ?",
                    (position, upto, until_us, page),
                ).fetchall()
                cursor.close()
            yield from rows
            if len(rows) < page:
                return
            position = rows[-1][0]

    def version_at(self, originator_id: UUID, micros: int) -> int:
        return int(
            self._scalar(
                f"SELECT coalesce(max(originator_version), 0) FROM {self.events_table_name} "
                "WHERE originator_id = ? AND recorded_at <= ?",
                (originator_id.hex, micros),
            )
        )

    def version_at_position(self, originator_id: UUID, position: int) -> int:
        return int(
            self._scalar(
                f"SELECT coalesce(max(originator_version), 0) FROM {self.events_table_name} "
                "WHERE originator_id = ? AND notification_id <= ?",
                (originator_id.hex, position),
            )
        )

    def position_at(self, micros: int) -> int:
        return int(
            self._scalar(
                f"SELECT coalesce(max(notification_id), 0) FROM {self.events_table_name} "
                "WHERE recorded_at <= ?",
                (micros,),
            )
        )

    def head(self) -> tuple[int, bytes | None]:
        with sqlite_errors(), self.datastore.get_connection(commit=False) as conn:
            row = (
                _raw(conn)
                .execute(
                    f"SELECT notification_id, chain_hash FROM "
                    f"{self.events_table_name} ORDER BY notification_id DESC "
                    "LIMIT 1"
                )
                .fetchone()
            )
        return (row[0], bytes(row[1])) if row else (0, None)

    def find_key(self, key: str) -> Duplicate | None:
        with sqlite_errors(), self.datastore.get_connection(commit=False) as conn:
            r = (
                _raw(conn)
                .execute(
                    f"SELECT key, originator_id, version, position FROM {KEYS_TABLE} WHERE key = ?",
                    (key,),
                )
                .fetchone()
            )
        return Duplicate(r[0], UUID(r[1]), r[2], r[3]) if r else None

    def bind_key(self, key: str, binding: str) -> str:
        check_key(key)
        # A pooled connection in autocommit: the insert is its own transaction (in memory
        # the pool keeps writers exclusive; on a file the group commit's writer holds the
        # write lock only while it commits, and this waits for it).
        with sqlite_errors(), self.datastore.get_connection(commit=True) as conn:
            raw = _raw(conn)
            raw.execute(
                f"INSERT OR IGNORE INTO {BINDINGS_TABLE} (key, binding) VALUES (?, ?)",
                (key, binding),
            )
            row = raw.execute(
                f"SELECT binding FROM {BINDINGS_TABLE} WHERE key = ?", (key,)
            ).fetchone()
        return str(row[0])

    def _scalar(self, query: str, params: tuple[Any, ...]) -> Any:
        with sqlite_errors(), self.datastore.get_connection(commit=False) as conn:
            row = _raw(conn).execute(query, params).fetchone()
        return row[0]


def _raw(conn: Any) -> sqlite3.Connection:
    """The sqlite3 connection inside eventsourcing's pooled wrapper."""
    raw: sqlite3.Connection = conn._sqlite_conn
    return raw
