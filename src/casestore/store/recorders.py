"""eventsourcing recorders extended with the hash chain, recorded_at, append-only
triggers, idempotency keys and group commit (SQLite and PostgreSQL).

Positions (notification ids) are assigned explicitly under the write lock, one more
than the last, so the global chain follows id order by construction and there are no
gaps. The serialisation of eventsourcing's PostgreSQL writers is kept: it
makes commit order equal id order, which is what lets a tailing reader never skip (held
as a transaction-scoped advisory lock, see ``CasestorePostgresRecorder``).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore
from psycopg.pq import TransactionStatus
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Composed, Identifier

from casestore.store.batch import (
    AppendRequest,
    Duplicate,
    DuplicateCommand,
    GroupCommitter,
    Plan,
    TimedStoredEvent,
    VersionConflict,
    from_micros,
    plan_batch,
)
from casestore.store.integrity import LogRow

EVENTS_TABLE = "casestore_events"
KEYS_TABLE = "casestore_idempotency"
APPEND_ONLY_MESSAGE = "casestore: the event log is append-only"
#: The advisory lock key every casestore writer holds from its first read of the heads
#: until its commit (an arbitrary constant: "CSEVENTS" in ASCII).
WRITE_LOCK_KEY = 0x4353_4556_454E_5453

#: The server-side append of one batch (created with the schema, see ``_APPEND_SQL``).
APPEND_FUNCTION = "casestore_append_v1"

CommitListener = Callable[[int], None]
_HEADS_CACHED = 50_000


class LogReader:
    """The read API shared by both recorders (log scans, as-of look-ups, keys)."""

    commit_listeners: list[CommitListener]

    def iter_log(
        self,
        after: int = 0,
        *,
        upto: int | None = None,
        until_us: int | None = None,
        page: int = 10_000,
    ) -> Iterator[LogRow]:
        """Stream the log in position order; never loads it whole."""
        raise NotImplementedError

    def version_at(self, originator_id: UUID, micros: int) -> int:
        """The aggregate's version as recorded by a moment (0 when it did not exist)."""
        raise NotImplementedError

    def position_at(self, micros: int) -> int:
        """The last log position recorded by a moment."""
        raise NotImplementedError

    def version_at_position(self, originator_id: UUID, position: int) -> int:
        """The aggregate's version as of a log position (0 when it did not exist)."""
        raise NotImplementedError

    def head(self) -> tuple[int, bytes | None]:
        """(last position, its chain hash)."""
        raise NotImplementedError

    def find_key(self, key: str) -> Duplicate | None:
        """An earlier command's outcome under this idempotency key."""
        raise NotImplementedError

    def _notify_listeners(self, position: int) -> None:
        for listener in list(self.commit_listeners):
            listener(position)


# --------------------------------------------------------------------------- PostgreSQL


class CasestorePostgresRecorder(PostgresApplicationRecorder, LogReader):
    """PostgreSQL recorder: hash-chained, append-only, group-committing."""

    def __init__(
        self, datastore: PostgresDatastore, *, events_table_name: str = EVENTS_TABLE
    ) -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        self.commit_listeners = []
        schema = Identifier(self.datastore.schema)
        table = Identifier(self.events_table_name)
        keys = Identifier(KEYS_TABLE)
        self.sql_create_statements[self.create_table_statement_index] = SQL(
            "CREATE TABLE IF NOT EXISTS {schema}.{table} ("
            "originator_id uuid NOT NULL, originator_version bigint NOT NULL, "
            "topic text NOT NULL, state bytea NOT NULL, notification_id bigint NOT NULL, "
            "recorded_at timestamptz NOT NULL, event_hash bytea NOT NULL, "
            "chain_hash bytea NOT NULL, PRIMARY KEY (originator_id, originator_version))"
        ).format(schema=schema, table=table)
        fn = Identifier(f"{self.events_table_name}_refuse_change")
        self.sql_create_statements += [
            SQL(
                "CREATE INDEX IF NOT EXISTS {idx} ON {schema}.{table} USING brin (recorded_at)"
            ).format(
                idx=Identifier(f"{self.events_table_name}_recorded_at_brin"),
                schema=schema,
                table=table,
            ),
            SQL(
                "CREATE TABLE IF NOT EXISTS {schema}.{keys} (key text PRIMARY KEY, "
                "originator_id uuid NOT NULL, version bigint NOT NULL, "
                "position bigint NOT NULL)"
            ).format(schema=schema, keys=keys),
            SQL(
                "CREATE OR REPLACE FUNCTION {schema}.{fn}() RETURNS trigger "
                "LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '{msg} (% refused)', TG_OP "
                "USING ERRCODE = 'insufficient_privilege'; END $$"
            ).format(schema=schema, fn=fn, msg=SQL(APPEND_ONLY_MESSAGE)),
            SQL(
                "CREATE OR REPLACE TRIGGER {trg} BEFORE UPDATE OR DELETE ON {schema}.{table} "
                "FOR EACH ROW EXECUTE FUNCTION {schema}.{fn}()"
            ).format(
                trg=Identifier(f"{self.events_table_name}_no_change"),
                schema=schema,
                table=table,
                fn=fn,
            ),
            SQL(
                "CREATE OR REPLACE TRIGGER {trg} BEFORE TRUNCATE ON {schema}.{table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION {schema}.{fn}()"
            ).format(
                trg=Identifier(f"{self.events_table_name}_no_truncate"),
                schema=schema,
                table=table,
                fn=fn,
            ),
            SQL(
                "CREATE OR REPLACE TRIGGER {trg} BEFORE UPDATE OR DELETE ON {schema}.{keys} "
                "FOR EACH ROW EXECUTE FUNCTION {schema}.{fn}()"
            ).format(trg=Identifier(f"{KEYS_TABLE}_no_change"), schema=schema, keys=keys, fn=fn),
        ]
        # Writers serialise on a transaction-scoped advisory lock instead of eventsourcing's
        # LOCK TABLE ... IN EXCLUSIVE MODE: PostgreSQL grants that table lock only to roles
        # with UPDATE, DELETE or TRUNCATE rights, which the append-only application role
        # must not have. Like the table lock, an advisory xact lock is released only after
        # the commit is visible, so positions still commit in order and a tailing reader
        # never passes over a position that a still-open transaction could fill.
        self.lock_table_statements = [
            SQL("SET LOCAL lock_timeout = '{0}s'").format(self.datastore.lock_timeout),
            SQL("SELECT pg_advisory_xact_lock({0})").format(WRITE_LOCK_KEY),
        ]
        # The insert-function of eventsourcing is never created nor used.
        del self.sql_create_statements[self.create_insert_function_statement_index]
        # A batch is one statement: the append function below, called with the batch's
        # events as literal arrays (simple query protocol: the least client CPU) in an
        # implicit transaction, so the write lock is held only while the server plans,
        # hashes, inserts and commits, with no client round trip in between.
        table_sql = SQL("{0}.{1}").format(schema, table).as_string(None)
        keys_sql = SQL("{0}.{1}").format(schema, keys).as_string(None)
        self._append_fn = SQL("{0}.{1}").format(schema, Identifier(APPEND_FUNCTION)).as_string(None)
        self.sql_create_statements.append(
            Composed(
                [
                    SQL(
                        _APPEND_SQL.replace("__FUNCTION__", self._append_fn)
                        .replace("__EVENTS__", table_sql)
                        .replace("__KEYS__", keys_sql)
                        .replace("__LOCK__", str(WRITE_LOCK_KEY))
                        .replace("__CHANNEL__", "'" + self.channel_name.replace("'", "''") + "'")
                    )
                ]
            )
        )
        self._lock_timeout = f"{int(self.datastore.lock_timeout or 0)}s"
        self._sql_last = SQL(
            "SELECT notification_id, chain_hash FROM {schema}.{table} "
            "ORDER BY notification_id DESC LIMIT 1"
        ).format(schema=schema, table=table)
        self._sql_keys = SQL(
            "SELECT key, originator_id, version, position FROM {schema}.{keys} WHERE key = ANY(%s)"
        ).format(schema=schema, keys=keys)
        self._sql_scan = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state, "
            "(extract(epoch from recorded_at) * 1000000)::bigint AS us, event_hash, chain_hash "
            "FROM {schema}.{table} WHERE notification_id > %s AND notification_id <= %s "
            "AND recorded_at <= %s ORDER BY notification_id LIMIT %s"
        ).format(schema=schema, table=table)
        self._schema, self._table, self._keys = schema, table, keys
        self.committer = GroupCommitter(self._commit_batch, in_flight=2)

    def create_table(self) -> None:
        # Several processes may start at once: serialise schema creation.
        # An application role without DDL rights finds everything in place and stops here.
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                "SELECT count(*) AS n FROM pg_trigger WHERE tgname = ANY(%s)",
                (
                    [
                        f"{self.events_table_name}_no_change",
                        f"{self.events_table_name}_no_truncate",
                        f"{KEYS_TABLE}_no_change",
                    ],
                ),
            )
            row = curs.fetchone()
            curs.execute(
                "SELECT count(*) AS n FROM pg_proc p JOIN pg_namespace s ON s.oid = p.pronamespace "
                "WHERE p.proname = %s AND s.nspname = %s",
                (APPEND_FUNCTION, self.datastore.schema or "public"),
            )
            function = curs.fetchone()
            if row is not None and row["n"] == 3 and function is not None and function["n"]:
                return
            curs.execute("SELECT pg_advisory_xact_lock(hashtext('casestore-schema'))")
            self._create_table(curs)

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if not stored_events:
            return []
        return self.committer.submit(
            AppendRequest(stored_events, idempotency_key=kwargs.get("idempotency_key"))
        )

    def _commit_batch(self, batch: list[AppendRequest]) -> None:
        """The whole batch in one statement and one round trip (see ``_APPEND_SQL``).

        Every value is written as a literal: integers, UUIDs, hex-decoded bytes, topics
        checked to be ``module:Class`` names, and escaped idempotency keys.
        """
        reqs, oids, versions, topics, states, micros = [], [], [], [], [], []
        for n, request in enumerate(batch, start=1):
            for ev in request.events:
                reqs.append(str(n))
                oids.append(f"'{ev.originator_id}'")
                versions.append(str(int(ev.originator_version)))
                topics.append(f"'{_topic(ev.topic)}'")
                states.append(f"decode('{ev.state.hex()}','hex')")
                micros.append(str(ev.recorded_at_us if isinstance(ev, TimedStoredEvent) else 0))
        keys = [_text(r.idempotency_key) if r.idempotency_key else "NULL" for r in batch]
        query = (
            f"SELECT * FROM {self._append_fn}({_array(reqs)}::int[], {_array(oids)}::uuid[], "
            f"{_array(versions)}::bigint[], {_array(topics)}::text[], {_array(states)}::bytea[], "
            f"{_array(micros)}::bigint[], {_array(keys)}::text[], '{self._lock_timeout}')"
        )
        with self.datastore.get_connection() as conn:
            try:
                with conn.cursor(row_factory=tuple_row) as curs:
                    curs.execute(query.encode())
                    outcomes = curs.fetchall()
            except BaseException:
                if conn.info.transaction_status != TransactionStatus.IDLE:
                    conn.rollback()
                raise
        last = 0
        for n, status, first, oid, version, position, detail in outcomes:
            request = batch[n - 1]
            if status == "ok":
                request.positions = list(range(first, first + len(request.events)))
                last = max(last, request.positions[-1])
            elif status == "duplicate":
                key = request.idempotency_key or ""
                request.error = DuplicateCommand(Duplicate(key, oid, version, position))
            else:
                request.error = VersionConflict(detail)
        if last:
            self._notify_listeners(last)

    def iter_log(
        self,
        after: int = 0,
        *,
        upto: int | None = None,
        until_us: int | None = None,
        page: int = 10_000,
    ) -> Iterator[LogRow]:
        stop = upto if upto is not None else 2**62
        until = (
            _from_us(until_us)
            if until_us is not None
            else datetime.max.replace(tzinfo=_from_us(0).tzinfo)
        )
        position = after
        while True:
            with (
                self.datastore.get_connection() as conn,
                conn.cursor(binary=True, row_factory=tuple_row) as curs,
            ):
                curs.execute(self._sql_scan, (position, stop, until, page), prepare=True)
                rows = curs.fetchall()
            for n, oid, version, topic, state, us, ev_hash, chain in rows:
                yield LogRow(n, oid, version, topic, bytes(state), us, bytes(ev_hash), bytes(chain))
            if len(rows) < page:
                return
            position = rows[-1][0]

    def version_at(self, originator_id: UUID, micros: int) -> int:
        return int(
            self._scalar(
                SQL(
                    "SELECT coalesce(max(originator_version), 0) FROM {s}.{t} "
                    "WHERE originator_id = %s "
                    "AND recorded_at <= %s"
                ),
                (originator_id, _from_us(micros)),
            )
        )

    def version_at_position(self, originator_id: UUID, position: int) -> int:
        return int(
            self._scalar(
                SQL(
                    "SELECT coalesce(max(originator_version), 0) FROM {s}.{t} "
                    "WHERE originator_id = %s "
                    "AND notification_id <= %s"
                ),
                (originator_id, position),
            )
        )

    def position_at(self, micros: int) -> int:
        return int(
            self._scalar(
                SQL(
                    "SELECT coalesce(max(notification_id), 0) FROM {s}.{t} WHERE recorded_at <= %s"
                ),
                (_from_us(micros),),
            )
        )

    def head(self) -> tuple[int, bytes | None]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._sql_last)
            row = curs.fetchone()
        return (row["notification_id"], bytes(row["chain_hash"])) if row else (0, None)

    def find_key(self, key: str) -> Duplicate | None:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._sql_keys, ([key],))
            r = curs.fetchone()
        return Duplicate(r["key"], r["originator_id"], r["version"], r["position"]) if r else None

    def _scalar(self, statement: SQL, params: tuple[Any, ...]) -> Any:
        query = statement.format(s=self._schema, t=self._table)
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(query, params)
            row = curs.fetchone()
        assert row is not None
        return next(iter(row.values()))


# --------------------------------------------------------------------------- SQLite


class CasestoreSQLiteRecorder(SQLiteApplicationRecorder, LogReader):
    """SQLite recorder with the same chain, triggers and group commit (BEGIN IMMEDIATE)."""

    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = EVENTS_TABLE) -> None:
        super().__init__(datastore, events_table_name)
        self.commit_listeners = []
        self.committer = GroupCommitter(self._commit_batch)
        #: (version, event hash) of aggregates this recorder appended to, valid while the
        #: log ends at ``_known_position`` (the position of this recorder's last commit).
        self._heads: dict[UUID, tuple[int, bytes]] = {}
        self._known_position = -1

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
        ]

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if not stored_events:
            return []
        return self.committer.submit(
            AppendRequest(stored_events, idempotency_key=kwargs.get("idempotency_key"))
        )

    def _commit_batch(self, batch: list[AppendRequest]) -> None:
        """One ``BEGIN IMMEDIATE`` transaction for the whole batch.

        Heads come from an in-process cache of this recorder's own commits while the last
        position shows nobody else appended since (any other writer empties it), else
        from the table. SQLite's busy wait polls, so one transaction at a time.
        """
        t = self.events_table_name
        keys = [r.idempotency_key for r in batch if r.idempotency_key]
        with self.datastore.get_connection(commit=True) as conn:
            c = _raw(conn)
            c.execute("BEGIN IMMEDIATE")
            try:
                last = c.execute(
                    f"SELECT notification_id, chain_hash FROM {t} "
                    "ORDER BY notification_id DESC LIMIT 1"
                ).fetchone()
                last_position = last[0] if last else 0
                if last_position != self._known_position or len(self._heads) > _HEADS_CACHED:
                    self._heads.clear()
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
                        f"SELECT key, originator_id, version, position FROM "
                        f"{KEYS_TABLE} WHERE key=?",
                        (key,),
                    ).fetchone()
                    if r:
                        used[r[0]] = Duplicate(r[0], UUID(r[1]), r[2], r[3])
                plan = plan_batch(
                    batch, heads, last_position, bytes(last[1]) if last else None, used
                )
                rows = [
                    (
                        r.position,
                        r.originator_id.hex,
                        r.version,
                        r.topic,
                        r.state,
                        r.recorded_at_us,
                        r.event_hash,
                        r.chain_hash,
                    )
                    for r in plan.rows
                ]
                insert = (
                    f"INSERT INTO {t} (notification_id, originator_id, originator_version, "
                    "topic, state, recorded_at, event_hash, chain_hash) VALUES (?,?,?,?,?,?,?,?)"
                )
                if len(rows) == 1:
                    c.execute(insert, rows[0])
                elif rows:
                    c.executemany(insert, rows)
                if plan.keys:
                    c.executemany(
                        f"INSERT INTO {KEYS_TABLE} VALUES (?,?,?,?)",
                        [(k, o.hex, v, p) for k, o, v, p in plan.keys],
                    )
                c.execute("COMMIT")
            except BaseException:
                self._heads.clear()
                self._known_position = -1
                if c.in_transaction:
                    c.execute("ROLLBACK")
                raise
        for row in plan.rows:
            self._heads[row.originator_id] = (row.version, row.event_hash)
        self._known_position = plan.rows[-1].position if plan.rows else last_position
        _complete(batch, plan)
        if plan.rows:
            self._notify_listeners(plan.rows[-1].position)

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
        position = after
        ids: dict[str, UUID] = {}  # a case's events share one id object (parsing is slow)
        while True:
            with self.datastore.get_connection(commit=False) as conn:
                cursor = _raw(conn).cursor()
                cursor.row_factory = None  # plain tuples
                rows = cursor.execute(
                    f"SELECT notification_id, originator_id, originator_version, topic, state, "
                    f"recorded_at, event_hash, chain_hash FROM {self.events_table_name} "
                    "WHERE notification_id > ? AND notification_id <= ? AND recorded_at <= ? "
                    "ORDER BY notification_id LIMIT ?",
                    (position, stop, until, page),
                ).fetchall()
                cursor.close()
            if len(ids) > 100_000:
                ids.clear()
            for n, hexid, version, topic, state, us, ev_hash, chain in rows:
                oid = ids.get(hexid)
                if oid is None:
                    oid = ids[hexid] = UUID(hexid)
                yield LogRow(n, oid, version, topic, state, us, ev_hash, chain)
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
        with self.datastore.get_connection(commit=False) as conn:
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
        with self.datastore.get_connection(commit=False) as conn:
            r = (
                _raw(conn)
                .execute(
                    f"SELECT key, originator_id, version, position FROM {KEYS_TABLE} WHERE key = ?",
                    (key,),
                )
                .fetchone()
            )
        return Duplicate(r[0], UUID(r[1]), r[2], r[3]) if r else None

    def _scalar(self, query: str, params: tuple[Any, ...]) -> Any:
        with self.datastore.get_connection(commit=False) as conn:
            row = _raw(conn).execute(query, params).fetchone()
        return row[0]


def _complete(batch: list[AppendRequest], plan: Plan) -> None:
    for n, request in enumerate(batch):
        outcome = plan.outcomes[n]
        if isinstance(outcome, BaseException):
            request.error = outcome
        else:
            request.positions = outcome


_TOPIC = re.compile(r"^[A-Za-z0-9_.:]+$")


def _topic(topic: str) -> str:
    """A topic (``module:Class.Event``) checked to be safe inside a literal."""
    if not _TOPIC.match(topic):
        raise ValueError(f"unexpected characters in topic {topic!r}")
    return topic


def _text(value: str) -> str:
    """A string literal that is safe whatever ``standard_conforming_strings`` says."""
    if "\x00" in value:
        raise ValueError("text may not contain NUL")
    return "E'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _array(literals: Iterator[str] | Any) -> str:
    items = ",".join(literals)
    return f"ARRAY[{items}]" if items else "'{}'"


def _from_us(micros: int) -> datetime:
    return from_micros(micros)


def _raw(conn: Any) -> sqlite3.Connection:
    """The sqlite3 connection inside eventsourcing's pooled wrapper."""
    raw: sqlite3.Connection = conn._sqlite_conn
    return raw


# The append of one batch on PostgreSQL, run in one implicit transaction: take the write
# lock (held to the commit, so positions commit in order), queue the NOTIFY, then for
# each request (events numbered by ``p_req``): an idempotency key used before (in the
# table or earlier in this batch) makes it a duplicate; an event whose version is not
# its aggregate's head + 1 makes it a conflict (only that request fails); otherwise its
# events get the next positions, their event hashes (SHA-256 over the previous hash of
# the aggregate, the id, version, recorded_at in microseconds, the topic's length and
# bytes, and the stored state: exactly ``integrity.event_hash``) and chain hashes. One
# row per request reports the outcome. ``SECURITY INVOKER``: it needs the caller's
# SELECT and INSERT rights and nothing more.
_APPEND_SQL = """\
CREATE OR REPLACE FUNCTION __FUNCTION__(
    p_req integer[], p_oid uuid[], p_ver bigint[], p_topic text[], p_state bytea[],
    p_us bigint[], p_keys text[], p_lock_timeout text
) RETURNS TABLE (req integer, status text, first_position bigint, dup_oid uuid,
                 dup_version bigint, dup_position bigint, detail text)
LANGUAGE plpgsql AS $fn$
DECLARE
    n_ev integer := coalesce(array_length(p_oid, 1), 0);
    genesis bytea := decode(repeat('00', 32), 'hex');
    last_pos bigint;
    chain bytea;
    h_oid uuid[] := '{}';
    h_ver bigint[] := '{}';
    h_hash bytea[] := '{}';
    t_oid uuid[];
    t_ver bigint[];
    t_hash bytea[];
    ev_hash bytea[];
    o_pos bigint[] := '{}';
    o_eh bytea[] := '{}';
    o_ch bytea[] := '{}';
    o_ev integer[] := '{}';
    k_key text[] := '{}';
    k_oid uuid[] := '{}';
    k_ver bigint[] := '{}';
    k_pos bigint[] := '{}';
    e integer := 1;
    r integer;
    i integer;
    j integer;
    first_ev integer;
    idx integer;
    v bigint;
    prev bytea;
    tb bytea;
    conflict text;
    d record;
BEGIN
    PERFORM set_config('lock_timeout', p_lock_timeout, true);
    PERFORM pg_advisory_xact_lock(__LOCK__);
    PERFORM pg_notify(__CHANNEL__, '');
    SELECT t.notification_id, t.chain_hash INTO last_pos, chain
        FROM __EVENTS__ t ORDER BY t.notification_id DESC LIMIT 1;
    IF last_pos IS NULL THEN
        last_pos := 0;
        chain := genesis;
    END IF;
    FOR r IN 1 .. coalesce(array_length(p_keys, 1), 0) LOOP
        first_ev := e;
        WHILE e <= n_ev AND p_req[e] = r LOOP
            e := e + 1;
        END LOOP;
        req := r; status := NULL; first_position := NULL; dup_oid := NULL;
        dup_version := NULL; dup_position := NULL; detail := NULL;
        IF p_keys[r] IS NOT NULL THEN
            idx := array_position(k_key, p_keys[r]);
            IF idx IS NOT NULL THEN
                status := 'duplicate'; dup_oid := k_oid[idx]; dup_version := k_ver[idx];
                dup_position := k_pos[idx];
                RETURN NEXT;
                CONTINUE;
            END IF;
            SELECT k.originator_id, k.version, k.position INTO d
                FROM __KEYS__ k WHERE k.key = p_keys[r];
            IF FOUND THEN
                status := 'duplicate'; dup_oid := d.originator_id; dup_version := d.version;
                dup_position := d.position;
                RETURN NEXT;
                CONTINUE;
            END IF;
        END IF;
        t_oid := h_oid; t_ver := h_ver; t_hash := h_hash; ev_hash := '{}'; conflict := NULL;
        FOR i IN first_ev .. e - 1 LOOP
            idx := array_position(t_oid, p_oid[i]);
            IF idx IS NULL THEN
                SELECT t.originator_version, t.event_hash INTO v, prev FROM __EVENTS__ t
                    WHERE t.originator_id = p_oid[i]
                    ORDER BY t.originator_version DESC LIMIT 1;
                IF NOT FOUND THEN
                    v := 0;
                    prev := genesis;
                END IF;
                t_oid := t_oid || p_oid[i]; t_ver := t_ver || v; t_hash := t_hash || prev;
                idx := array_length(t_oid, 1);
            END IF;
            IF p_ver[i] <> t_ver[idx] + 1 THEN
                conflict := format('%s is at version %s; the command produced version %s',
                                   p_oid[i], t_ver[idx], p_ver[i]);
                EXIT;
            END IF;
            tb := convert_to(p_topic[i], 'UTF8');
            t_hash[idx] := sha256(t_hash[idx] || uuid_send(p_oid[i]) || int8send(p_ver[i])
                                  || int8send(p_us[i]) || int4send(octet_length(tb)) || tb
                                  || p_state[i]);
            t_ver[idx] := p_ver[i];
            ev_hash := ev_hash || t_hash[idx];
        END LOOP;
        IF conflict IS NOT NULL THEN
            status := 'conflict'; detail := conflict;
            RETURN NEXT;
            CONTINUE;
        END IF;
        h_oid := t_oid; h_ver := t_ver; h_hash := t_hash;
        first_position := last_pos + 1;
        j := 0;
        FOR i IN first_ev .. e - 1 LOOP
            j := j + 1;
            last_pos := last_pos + 1;
            chain := sha256(chain || ev_hash[j]);
            o_pos := o_pos || last_pos; o_eh := o_eh || ev_hash[j]; o_ch := o_ch || chain;
            o_ev := o_ev || i;
        END LOOP;
        IF p_keys[r] IS NOT NULL AND e > first_ev THEN
            k_key := k_key || p_keys[r]; k_oid := k_oid || p_oid[e - 1];
            k_ver := k_ver || p_ver[e - 1]; k_pos := k_pos || last_pos;
        END IF;
        status := 'ok';
        RETURN NEXT;
    END LOOP;
    INSERT INTO __EVENTS__ (notification_id, originator_id, originator_version, topic, state,
                            recorded_at, event_hash, chain_hash)
        SELECT u.pos, p_oid[u.ev], p_ver[u.ev], p_topic[u.ev], p_state[u.ev],
               timestamptz 'epoch' + p_us[u.ev] * interval '1 microsecond', u.eh, u.ch
        FROM unnest(o_pos, o_ev, o_eh, o_ch) AS u(pos, ev, eh, ch);
    IF array_length(k_key, 1) > 0 THEN
        INSERT INTO __KEYS__ (key, originator_id, version, position)
            SELECT * FROM unnest(k_key, k_oid, k_ver, k_pos);
    END IF;
END
$fn$
"""
