"""The PostgreSQL recorder: hash-chained, append-only, one statement per group-commit batch.

Writers serialise on a transaction-scoped advisory lock (see the class docstring) and the
whole batch is appended by the ``casestore_append_v3`` function defined below.

Over 400 lines: the write path (the append function, its lock and its batch statement),
the log scans and eventsourcing's notification API read the same table and share its
SQL, as in the SQLite recorder; kept together so the table's rules are read in one place.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from typing import Any
from uuid import UUID

import eventsourcing.persistence as es_errors
import psycopg
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.errors import error_from_result
from psycopg.pq import ConnStatus, ExecStatus, TransactionStatus
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Composed, Identifier

from casestore.store.batch import (
    AppendRequest,
    Duplicate,
    DuplicateCommand,
    GroupCommitter,
    TimedStoredEvent,
    VersionConflict,
)
from casestore.store.contracts import TOPIC, check_key
from casestore.store.integrity import LogRow
from casestore.store.keyguard import (
    GONE_MARK,
    GONE_STATE,
    failing_alone,
    key_ids_to_check,
    raise_if_gone,
)
from casestore.store.keytable import INSERT_KEY, INSERT_LINK, KEYS, LINKS
from casestore.store.logbase import (
    APPEND_FUNCTION,
    APPEND_ONLY_MESSAGE,
    BINDINGS_TABLE,
    EVENTS_TABLE,
    KEYS_TABLE,
    WRITE_LOCK_KEY,
    CommittedBatch,
    GroupCommitting,
    admit,
)
from casestore.timeutil import from_micros


class CasestorePostgresRecorder(GroupCommitting, PostgresApplicationRecorder):
    """PostgreSQL recorder: hash-chained, append-only, group-committing."""

    def __init__(
        self, datastore: PostgresDatastore, *, events_table_name: str = EVENTS_TABLE
    ) -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        self.commit_listeners = []
        self.batch_listeners = []
        schema = Identifier(self.datastore.schema)
        table = Identifier(self.events_table_name)
        keys = Identifier(KEYS_TABLE)
        bindings = Identifier(BINDINGS_TABLE)
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
            # Without it a superuser's TRUNCATE of the keys would let a retried submit
            # create a second case.
            SQL(
                "CREATE OR REPLACE TRIGGER {trg} BEFORE TRUNCATE ON {schema}.{keys} "
                "FOR EACH STATEMENT EXECUTE FUNCTION {schema}.{fn}()"
            ).format(trg=Identifier(f"{KEYS_TABLE}_no_truncate"), schema=schema, keys=keys, fn=fn),
            SQL(
                "CREATE TABLE IF NOT EXISTS {schema}.{bindings} (key text PRIMARY KEY, "
                "binding text NOT NULL)"
            ).format(schema=schema, bindings=bindings),
            SQL(
                "CREATE OR REPLACE TRIGGER {trg} BEFORE UPDATE OR DELETE ON {schema}.{b} "
                "FOR EACH ROW EXECUTE FUNCTION {schema}.{fn}()"
            ).format(
                trg=Identifier(f"{BINDINGS_TABLE}_no_change"), schema=schema, b=bindings, fn=fn
            ),
            SQL(
                "CREATE OR REPLACE TRIGGER {trg} BEFORE TRUNCATE ON {schema}.{b} "
                "FOR EACH STATEMENT EXECUTE FUNCTION {schema}.{fn}()"
            ).format(
                trg=Identifier(f"{BINDINGS_TABLE}_no_truncate"), schema=schema, b=bindings, fn=fn
            ),
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
                        .replace("__SUBJECT_KEYS__", _qualified(schema, KEYS))
                        .replace("__SUBJECT_LINKS__", _qualified(schema, LINKS))
                        .replace("__GONE_STATE__", GONE_STATE)
                        .replace("__GONE_MARK__", "'" + GONE_MARK + "'")
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
        # Bind a key first-writer-wins; READ COMMITTED may hide a row another transaction
        # committed while this statement waited on it, so ``bind_key`` reads again.
        self._sql_bind = SQL(
            "WITH ins AS (INSERT INTO {schema}.{b} (key, binding) VALUES (%s, %s) "
            "ON CONFLICT (key) DO NOTHING RETURNING binding) "
            "SELECT binding FROM ins UNION ALL SELECT binding FROM {schema}.{b} WHERE key = %s"
        ).format(schema=schema, b=bindings)
        self._sql_binding = SQL("SELECT binding FROM {schema}.{b} WHERE key = %s").format(
            schema=schema, b=bindings
        )
        self._schema, self._table, self._keys = schema, table, keys
        self.committer = GroupCommitter(failing_alone(self._commit_batch), in_flight=2)
        self._writers: list[Any] = []
        self._writers_lock = threading.Lock()
        self._writer_pids: set[int] = set()  # the leaders' sessions (their NOTIFYs are ours)
        #: (position, recorded_at µs) of the last row this recorder knows it committed.
        self._last_known: tuple[int, int] | None = None

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
                        f"{KEYS_TABLE}_no_truncate",
                        f"{BINDINGS_TABLE}_no_change",
                        f"{BINDINGS_TABLE}_no_truncate",
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
            if row is not None and row["n"] == 6 and function is not None and function["n"]:
                return
            curs.execute("SELECT pg_advisory_xact_lock(hashtext('casestore-schema'))")
            self._create_table(curs)

    def _commit_batch(self, batch: list[AppendRequest]) -> None:
        """The whole batch in one statement and one round trip (see ``_APPEND_SQL``).

        Every value is written as a literal: integers, UUIDs, hex-decoded bytes, topics
        checked to be ``module:Class`` names, and escaped idempotency keys.

        The events' side rows (a subject's new data key or link) are arrays the function
        writes in the batch's transaction, after it checked the keys the batch was sealed
        under: they commit with the batch or not at all. They are written for every
        request sent (the outcome of
        each is decided by the function); a request that then fails leaves an unused key
        or a link to an aggregate that does not exist, both idempotent and harmless.
        """
        reqs, oids, versions, topics, states, micros, keys = [], [], [], [], [], [], []
        new_keys: dict[str, tuple[str, ...]] = {}  # the batch's new data keys, by id
        links: dict[tuple[str, str], tuple[str, ...]] = {}  # its links, by aggregate, party
        sent: list[AppendRequest] = []
        for request in admit(batch):
            try:  # a request that cannot be written fails alone, never its batch
                literals = [_literals(ev) for ev in request.events]
                key = _text(request.idempotency_key) if request.idempotency_key else "NULL"
                side = [_side_literals(*row) for ev in request.events for row in _side_rows(ev)]
            except (es_errors.DataError, ValueError) as e:
                request.error = e
                continue
            for kind, name, row in side:  # each key once; each link as last written
                if kind == "key":
                    new_keys.setdefault(name, row)
                else:
                    links[name] = row
            sent.append(request)
            for lit_oid, lit_version, lit_topic, lit_state, lit_us in literals:
                reqs.append(str(len(sent)))
                oids.append(lit_oid)
                versions.append(lit_version)
                topics.append(lit_topic)
                states.append(lit_state)
                micros.append(lit_us)
            keys.append(key)
        if not sent:
            return
        batch = sent
        live = [f"'{k}'" for k in key_ids_to_check(batch)]  # remembered keys (keyguard)
        kcols = list(zip(*new_keys.values(), strict=True)) or [()] * 7
        lcols = list(zip(*links.values(), strict=True)) or [()] * 3
        query = (
            f"SELECT * FROM {self._append_fn}({_array(reqs)}::int[], {_array(oids)}::uuid[], "
            f"{_array(versions)}::bigint[], {_array(topics)}::text[], {_array(states)}::bytea[], "
            f"{_array(micros)}::bigint[], {_array(keys)}::text[], '{self._lock_timeout}', "
            f"{_array(live)}::text[], {_array(kcols[0])}::text[], {_array(kcols[1])}::text[], "
            f"{_array(kcols[2])}::bytea[], {_array(kcols[3])}::text[], "
            f"{_array(kcols[4])}::bigint[], {_array(kcols[5])}::text[], "
            f"{_array(kcols[6])}::text[], {_array(lcols[0])}::text[], "
            f"{_array(lcols[1])}::text[], {_array(lcols[2])}::text[])"
        )
        # libpq's PQexec straight away: one call that sends the statement and waits for its
        # whole result with the GIL released, so the leader needs the GIL once per batch,
        # not at each protocol step (other writers hold it meanwhile).
        try:
            with self._writer() as conn:
                result = conn.pgconn.exec_(query.encode())
                if result.status != ExecStatus.TUPLES_OK:
                    error = error_from_result(result, conn.info.encoding)
                    if conn.pgconn.status != ConnStatus.OK:  # the server went away
                        raise es_errors.OperationalError(str(error)) from error
                    raise_if_gone(error)  # a data key destroyed: see keyguard
                    raise _translated(error)
                outcomes = [
                    _outcome([result.get_value(i, j) for j in range(9)])
                    for i in range(result.ntuples)
                ]
        except psycopg.Error as e:  # a lost connection, a pool timeout: eventsourcing's errors
            raise _translated(e) from e
        last = stepped = largest = 0
        for n, status, first, oid, version, position, detail, moved, step_us in outcomes:
            stepped, largest = stepped + moved, max(largest, step_us)
            request = batch[n - 1]
            if status == "ok":
                request.positions = list(range(first, first + len(request.events)))
                last = max(last, request.positions[-1])
            elif status == "duplicate":
                key = request.idempotency_key or ""
                assert oid is not None and version is not None and position is not None
                request.error = DuplicateCommand(Duplicate(key, oid, version, position))
            else:
                request.error = VersionConflict(detail or "version conflict")
        self._record_steps_back(stepped, largest)
        if last:
            self._hand_over_outcomes(batch, outcomes)
            self._notify_listeners(last)

    def _hand_over_outcomes(self, batch: list[AppendRequest], outcomes: list[Any]) -> None:
        """Hand the batch's committed rows to the batch listeners.

        The append function reports each request's first position and how many of its
        events it stamped later than their clock reading (``stepped``, by at most
        ``step_us``); unstepped events keep their own ``recorded_at``. A stepped event is
        at the running floor, known from this recorder's previous batch when that one
        ended just before, or for a request of one event from ``step_us``; otherwise the
        rows are not handed (``rows=None``: a listener reads them back).
        """
        with self._writers_lock:
            known = self._last_known
        rows: list[tuple[Any, ...]] | None = []
        first_position = last_position = 0
        floor: int | None = None
        for n, status, first, _oid, _version, _position, _detail, moved, step_us in outcomes:
            if status != "ok":
                continue
            events = batch[n - 1].events
            if not first_position:
                first_position = first
                if known is not None and known[0] == first - 1:
                    floor = known[1]
            last_position = first + len(events) - 1
            if rows is None:
                continue
            stamps = [getattr(ev, "recorded_at_us", 0) for ev in events]
            if moved and floor is not None:
                at = floor
                stamps = [at := max(at, us) for us in stamps]
            elif moved and len(events) == 1:
                stamps = [stamps[0] + step_us]
            elif moved:
                rows = None
                continue
            rows += [
                (
                    first + i,
                    str(_uuid(ev.originator_id)),
                    ev.originator_version,
                    ev.topic,
                    ev.state,
                    stamps[i],
                    None,
                    None,
                )
                for i, ev in enumerate(events)
            ]
            floor = stamps[-1]
        with self._writers_lock:
            if self._last_known is None or self._last_known[0] < last_position:
                self._last_known = None if rows is None else (last_position, rows[-1][5])
        listeners = list(self.batch_listeners)
        if listeners and first_position:
            committed = CommittedBatch(first_position, last_position, rows)
            for listener in listeners:
                listener(committed)

    def writes_from(self, backend_pid: int) -> bool:
        return backend_pid in self._writer_pids

    @contextmanager
    def _writer(self) -> Iterator[Any]:
        """A connection kept for the leaders (at most two at once): borrowed from the pool
        once, not per batch. One that fails in any way goes back to the pool, which checks
        it, and the next batch borrows a fresh one."""
        with self._writers_lock:
            conn = self._writers.pop() if self._writers else None
        if conn is None:
            store = self.datastore  # open the pool as its get_connection does, then borrow
            store.pool.open(store.pool_open_timeout is not None, store.pool_open_timeout or 30.0)
            conn = store.pool.getconn()
            self._writer_pids.add(conn.info.backend_pid)
        try:
            yield conn
        except BaseException:
            self._writer_pids.discard(conn.info.backend_pid)
            if conn.info.transaction_status != TransactionStatus.IDLE:
                with suppress(Exception):
                    conn.rollback()
            self.datastore.pool.putconn(conn)
            raise
        with self._writers_lock:
            self._writers.append(conn)

    def close(self) -> None:
        """Give the leaders' connections back to the pool."""
        with self._writers_lock:
            writers, self._writers = self._writers, []
            self._writer_pids.clear()
        for conn in writers:
            with suppress(Exception):
                self.datastore.pool.putconn(conn)

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

    def bind_key(self, key: str, binding: str) -> str:
        check_key(key)
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(self._sql_bind, (key, binding, key))
            row = curs.fetchone()
        if row is None:  # bound meanwhile by a transaction this statement could not see
            with self.datastore.get_connection() as conn, conn.cursor() as curs:
                curs.execute(self._sql_binding, (key,))
                row = curs.fetchone()
        assert row is not None
        return str(row["binding"])

    def _scalar(self, statement: SQL, params: tuple[Any, ...]) -> Any:
        query = statement.format(s=self._schema, t=self._table)
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(query, params)
            row = curs.fetchone()
        assert row is not None
        return next(iter(row.values()))


class ReadOnlyPostgresRecorder(CasestorePostgresRecorder):
    """The recorder an audit opens: every session starts read-only (``verify``, ``digest``
    and ``export`` must not be able to write, whatever the role may do)."""

    def __init__(
        self, datastore: PostgresDatastore, *, events_table_name: str = EVENTS_TABLE
    ) -> None:
        pool = datastore.pool
        kwargs = pool.kwargs
        assert isinstance(kwargs, dict)  # set before eventsourcing opens the pool
        kwargs["options"] = "-c default_transaction_read_only=on"
        if isinstance(pool.conninfo, str):
            pool.conninfo = audit_conninfo(pool.conninfo)
        super().__init__(datastore, events_table_name=events_table_name)


def audit_conninfo(conninfo: str) -> str:
    """``conninfo`` for a session that is read-only from its start: libpq judges
    ``target_session_attrs=read-write`` by ``transaction_read_only``, which such a session
    always reports, so every host of a failover pair's URL would be refused (``verify``
    could not reach the log). The writable server that URL means is the primary, which
    ``target_session_attrs=primary`` finds by ``in_hot_standby`` instead."""
    params = conninfo_to_dict(conninfo)
    if params.get("target_session_attrs") != "read-write":
        return conninfo
    params["target_session_attrs"] = "primary"
    return make_conninfo("", **params)


#: psycopg's error classes as eventsourcing's persistence errors, as the datastore raises
#: them for every other statement (most specific first).

_TRANSLATIONS: tuple[tuple[type[Exception], type[Exception]], ...] = (
    (psycopg.InterfaceError, es_errors.InterfaceError),
    (psycopg.OperationalError, es_errors.OperationalError),
    (psycopg.DataError, es_errors.DataError),
    (psycopg.IntegrityError, es_errors.IntegrityError),
    (psycopg.InternalError, es_errors.InternalError),
    (psycopg.ProgrammingError, es_errors.ProgrammingError),
    (psycopg.NotSupportedError, es_errors.NotSupportedError),
    (psycopg.DatabaseError, es_errors.DatabaseError),
)


def _translated(error: Exception) -> Exception:
    for theirs, ours in _TRANSLATIONS:
        if isinstance(error, theirs):
            translated = ours(str(error))
            translated.__cause__ = error
            return translated
    return error


def _outcome(
    values: list[bytes | None],
) -> tuple[int, str, int, UUID | None, int | None, int | None, str | None, int, int]:
    """One row of the append function's result, from libpq's text format."""
    req, status, first, oid, version, position, detail, moved, step_us = values
    assert req is not None and status is not None
    return (
        int(req),
        status.decode(),
        int(first) if first is not None else 0,
        UUID(oid.decode()) if oid is not None else None,
        int(version) if version is not None else None,
        int(position) if position is not None else None,
        detail.decode() if detail is not None else None,
        int(moved) if moved is not None else 0,
        int(step_us) if step_us is not None else 0,
    )


def _uuid(value: Any) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


def _literals(ev: Any) -> tuple[str, str, str, str, str]:
    """One event's SQL literals: id, version, topic, state and recorded_at µs."""
    us = ev.recorded_at_us if isinstance(ev, TimedStoredEvent) else 0
    return (
        f"'{UUID(str(ev.originator_id))}'",
        str(int(ev.originator_version)),
        f"'{_topic(ev.topic)}'",
        f"decode('{ev.state.hex()}','hex')",
        str(int(us)),
    )


def _side_rows(ev: Any) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    return ev.side_rows if isinstance(ev, TimedStoredEvent) else ()


def _side_literals(sql: str, params: tuple[Any, ...]) -> tuple[str, Any, tuple[str, ...]]:
    """A side row (``keytable.INSERT_KEY`` or ``INSERT_LINK`` with its values) as the
    append function's literals: ``("key", key id, row)`` or ``("link", aggregate and
    party, row)``, text escaped, bytes hex-decoded, integers as such."""
    if sql == INSERT_KEY and len(params) == 7:
        key_id, ref, wrapped, master, created_us, owner, party = params
        if not isinstance(wrapped, bytes) or type(created_us) is not int:
            raise ValueError("a new data key's row holds values of the wrong types")
        cells = (_text(key_id), _text(ref), f"decode('{wrapped.hex()}','hex')", _text(master))
        made_for = tuple("NULL" if v is None else _text(v) for v in (owner, party))
        return "key", str(key_id), (*cells, str(created_us), *made_for)
    if sql == INSERT_LINK and len(params) == 3:
        owner, party, key_id = (_text(v) for v in params)
        return "link", (str(params[0]), str(params[1])), (owner, party, key_id)
    raise ValueError("a side row that is neither a new data key nor a link")


def _qualified(schema: Any, table: str) -> str:
    return SQL("{0}.{1}").format(schema, Identifier(table)).as_string(None)


def _topic(topic: str) -> str:
    """A topic (``module:Class.Event``) checked to be safe inside a literal."""
    if not TOPIC.match(topic):
        raise ValueError(f"unexpected characters in topic {topic!r}")
    return topic


def _text(value: Any) -> str:
    """A string literal that is safe whatever ``standard_conforming_strings`` says."""
    if not isinstance(value, str):
        raise ValueError(f"text expected, not a {type(value).__name__}")
    if "\x00" in value:
        raise ValueError("text may not contain NUL")
    return "E'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _array(literals: Iterator[str] | Any) -> str:
    items = ",".join(literals)
    return f"ARRAY[{items}]" if items else "'{}'"


def _from_us(micros: int) -> datetime:
    return from_micros(micros)


# The append of one batch on PostgreSQL, run in one implicit transaction: take the write
# lock (held to the commit, so positions commit in order), queue the NOTIFY, check that
# the data keys the batch was sealed under (``p_live``) are live, else fail with a marked
# error and write nothing (see ``keyguard``: a forget destroys keys under the same lock,
# so none can be destroyed between this check and the commit), write the batch's new
# data keys and links (``p_k*``, ``p_l*``), then for each request (events numbered by
# ``p_req``): an idempotency key used before (in the table or earlier in this batch)
# makes it a duplicate; an event whose version is not its aggregate's head + 1 makes it a
# conflict (only that request fails); otherwise its events get the next positions, their
# event hashes (SHA-256 over the previous hash of the aggregate, the id, version,
# recorded_at in microseconds, the topic's length and bytes, and the stored state:
# exactly ``integrity.event_hash``) and chain hashes. An event's recorded_at is never
# earlier than the one before it in the log (a clock that stepped back is floored at the
# last recorded_at, under the lock, as ``batch.plan_batch`` does; ``stepped``/``step_us``
# report how many and by how much). One row per request reports the outcome. ``SECURITY
# INVOKER``: it needs the caller's SELECT and INSERT rights (and UPDATE on the links)
# and nothing more. The key check and the key rows are one statement per key with
# scalar parameters, whose plan PostgreSQL caches once per session (a statement over a
# whole array parameter was planned anew at every call: the custom plan, knowing the
# array, looks cheaper than the generic one; planning cost a delivery ~140 µs).
# (v3: v2 left the key check and the key-table rows to statements of their own ahead of
# it, each parsed and planned per batch, the check share-locking the key rows; v2: v1
# took recorded_at as given.)
_APPEND_SQL = """\
CREATE OR REPLACE FUNCTION __FUNCTION__(
    p_req integer[], p_oid uuid[], p_ver bigint[], p_topic text[], p_state bytea[],
    p_us bigint[], p_keys text[], p_lock_timeout text, p_live text[], p_kid text[],
    p_kref text[], p_kwrapped bytea[], p_kmaster text[], p_kus bigint[], p_kowner text[],
    p_kparty text[], p_lowner text[], p_lparty text[], p_lkey text[]
) RETURNS TABLE (req integer, status text, first_position bigint, dup_oid uuid,
                 dup_version bigint, dup_position bigint, detail text, stepped integer,
                 step_us bigint)
LANGUAGE plpgsql AS $fn$
DECLARE
    n_ev integer := coalesce(array_length(p_oid, 1), 0);
    genesis bytea := decode(repeat('00', 32), 'hex');
    last_pos bigint;
    chain bytea;
    last_us bigint;
    at_us bigint;
    r_us bigint[];
    o_us bigint[] := '{}';
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
    gone text;
    k_id text;
    d record;
BEGIN
    PERFORM set_config('lock_timeout', p_lock_timeout, true);
    PERFORM pg_advisory_xact_lock(__LOCK__);
    PERFORM pg_notify(__CHANNEL__, '');
    FOREACH k_id IN ARRAY p_live LOOP
        PERFORM FROM __SUBJECT_KEYS__ s WHERE s.key_id = k_id AND s.wrapped IS NULL;
        IF FOUND THEN
            gone := concat_ws(',', gone, k_id);
        END IF;
    END LOOP;
    IF gone IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = '__GONE_STATE__', MESSAGE = __GONE_MARK__ || gone;
    END IF;
    FOR i IN 1 .. coalesce(array_length(p_kid, 1), 0) LOOP
        INSERT INTO __SUBJECT_KEYS__ AS s (key_id, ref, wrapped, master_kid, created_us,
                                           owner_id, party)
            VALUES (p_kid[i], p_kref[i], p_kwrapped[i], p_kmaster[i], p_kus[i], p_kowner[i],
                    p_kparty[i])
            ON CONFLICT (key_id) DO NOTHING;
    END LOOP;
    FOR i IN 1 .. coalesce(array_length(p_lowner, 1), 0) LOOP
        INSERT INTO __SUBJECT_LINKS__ AS l (owner_id, party, key_id)
            VALUES (p_lowner[i], p_lparty[i], p_lkey[i])
            ON CONFLICT (owner_id, party) DO UPDATE SET key_id = excluded.key_id;
    END LOOP;
    SELECT t.notification_id, t.chain_hash,
           (extract(epoch FROM t.recorded_at) * 1000000)::bigint INTO last_pos, chain, last_us
        FROM __EVENTS__ t ORDER BY t.notification_id DESC LIMIT 1;
    IF last_pos IS NULL THEN
        last_pos := 0;
        chain := genesis;
        last_us := 0;
    END IF;
    FOR r IN 1 .. coalesce(array_length(p_keys, 1), 0) LOOP
        first_ev := e;
        WHILE e <= n_ev AND p_req[e] = r LOOP
            e := e + 1;
        END LOOP;
        req := r; status := NULL; first_position := NULL; dup_oid := NULL;
        dup_version := NULL; dup_position := NULL; detail := NULL; stepped := 0; step_us := 0;
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
        at_us := last_us; r_us := '{}';
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
            at_us := greatest(at_us, p_us[i]);
            IF at_us > p_us[i] THEN
                stepped := stepped + 1;
                step_us := greatest(step_us, at_us - p_us[i]);
            END IF;
            r_us := r_us || at_us;
            t_hash[idx] := sha256(t_hash[idx] || uuid_send(p_oid[i]) || int8send(p_ver[i])
                                  || int8send(at_us) || int4send(octet_length(tb)) || tb
                                  || p_state[i]);
            t_ver[idx] := p_ver[i];
            ev_hash := ev_hash || t_hash[idx];
        END LOOP;
        IF conflict IS NOT NULL THEN
            status := 'conflict'; detail := conflict; stepped := 0; step_us := 0;
            RETURN NEXT;
            CONTINUE;
        END IF;
        h_oid := t_oid; h_ver := t_ver; h_hash := t_hash; last_us := at_us;
        first_position := last_pos + 1;
        j := 0;
        FOR i IN first_ev .. e - 1 LOOP
            j := j + 1;
            last_pos := last_pos + 1;
            chain := sha256(chain || ev_hash[j]);
            o_pos := o_pos || last_pos; o_eh := o_eh || ev_hash[j]; o_ch := o_ch || chain;
            o_ev := o_ev || i; o_us := o_us || r_us[j];
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
               timestamptz 'epoch' + u.us * interval '1 microsecond', u.eh, u.ch
        FROM unnest(o_pos, o_ev, o_eh, o_ch, o_us) AS u(pos, ev, eh, ch, us);
    IF array_length(k_key, 1) > 0 THEN
        INSERT INTO __KEYS__ (key, originator_id, version, position)
            SELECT * FROM unnest(k_key, k_oid, k_ver, k_pos);
    END IF;
END
$fn$
"""
