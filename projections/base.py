"""The shape every projection shares: name, handled events, tables, apply functions.

A projection is a small class (one module each, registered in
:mod:`casestore.projections.registry`)::

    class CaseStatusProjection(Projection[RowFold]):
        name = "case_status"
        version = 1                        # bump when tables or logic change: run rebuilds
        tables = (CASE_STATUS,)            # Table declarations, DDL for SQLite and PostgreSQL
        handlers = {"Case.Submitted": _submitted, ...}   # apply functions

        def begin(self, tx, events): ...   # batch state, e.g. RowFold(tx, CASE_STATUS)
        def finish(self, tx, state): ...   # write the batch back

The runtime (:mod:`casestore.projections.runtime`) calls :meth:`Projection.apply`
with a batch of events in log order inside one transaction that also records the
projection's position, so every batch counts exactly once. Apply functions get a
:class:`LogEvent` (position, ids, type, actor, times, hashes, lazily decoded state)
and never see the domain classes, which keeps rebuilds fast and lets an old log be
projected after the domain moved on. SQL is written once with ``%s`` placeholders and
``{logical_table}`` names; :class:`Tx` maps both to the backend and the target.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from operator import itemgetter
from typing import Any, ClassVar, Generic, TypeVar

import orjson

from casestore.domain.errors import InvalidCommand
from casestore.domain.values import BUREAU_TZ

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Portable column types -> (SQLite, PostgreSQL) declarations and PostgreSQL array casts.
COLUMN_TYPES: Mapping[str, tuple[str, str]] = {
    "text": ("TEXT", "TEXT"),
    "int": ("INTEGER", "BIGINT"),
    "float": ("REAL", "DOUBLE PRECISION"),
    "bytes": ("BLOB", "BYTEA"),
}
#: Binary COPY type names for PostgreSQL.
PG_COPY_TYPES: Mapping[str, str] = {
    "text": "text",
    "int": "int8",
    "float": "float8",
    "bytes": "bytea",
}
_IDENT = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
_TARGET = re.compile(r"^[a-z][a-z0-9_]{0,23}$")


def check_target(target: str) -> str:
    """A target name usable as a table-name suffix ('' is the live view)."""
    if target and (not _TARGET.match(target) or "__" in target):
        raise InvalidCommand(
            f"target {target!r} must be 1-24 lowercase letters, digits or single underscores, "
            "starting with a letter"
        )
    return target


def physical(logical: str, target: str = "") -> str:
    """The table that holds ``logical`` for a target (the live view when target is '')."""
    return f"{logical}__{target}" if target else logical


@dataclass(frozen=True)
class Column:
    """One column with a portable type (text, int, float, bytes)."""

    name: str
    type: str = "text"
    not_null: bool = False

    def __post_init__(self) -> None:
        if not _IDENT.match(self.name) or self.type not in COLUMN_TYPES:
            raise ValueError(f"bad column {self.name!r} of type {self.type!r}")


@dataclass(frozen=True)
class Index:
    """A secondary index, named per physical table when the table is created."""

    name: str
    columns: tuple[str, ...]
    unique: bool = False


@dataclass(frozen=True)
class Table:
    """A projection table: columns, primary key and indexes, portable across backends."""

    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    indexes: tuple[Index, ...] = ()

    def __post_init__(self) -> None:
        names = {c.name for c in self.columns}
        if not _IDENT.match(self.name) or not set(self.primary_key) <= names:
            raise ValueError(f"bad table {self.name!r}")
        for index in self.indexes:
            if not set(index.columns) <= names:
                raise ValueError(f"index {index.name} of {self.name} names unknown columns")

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def ddl(self, backend: str, table: str, *, indexes: bool = True) -> list[str]:
        """CREATE TABLE (and, unless deferred, CREATE INDEX) for one physical table."""
        slot = 1 if backend == "postgres" else 0
        cols = [
            f"{c.name} {COLUMN_TYPES[c.type][slot]}{' NOT NULL' if c.not_null else ''}"
            for c in self.columns
        ]
        cols.append(f"PRIMARY KEY ({', '.join(self.primary_key)})")
        statements = [f"CREATE TABLE {table} ({', '.join(cols)})"]
        return statements + (self.index_ddl(table) if indexes else [])

    def index_ddl(self, table: str) -> list[str]:
        """CREATE INDEX statements, named after the physical table they were built on."""
        return [
            f"CREATE {'UNIQUE ' if index.unique else ''}INDEX ix_{table}_{index.name} "
            f"ON {table} ({', '.join(index.columns)})"
            for index in self.indexes
        ]

    def pg_array_types(self) -> list[str]:
        return [COLUMN_TYPES[c.type][1] + "[]" for c in self.columns]


# --------------------------------------------------------------------------- events


def tagged_plain(value: Any) -> Any:
    """The transcoder's tagged JSON as plain JSON values (UUIDs, times and dates as strings)."""
    if isinstance(value, dict):
        if len(value) == 1:
            ((key, inner),) = value.items()
            if key == "__uuid__":
                h = str(inner)
                return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
            if key in ("__datetime__", "__date__", "__decimal__"):
                return inner
            if key == "__tuple__":
                return [tagged_plain(v) for v in inner]
        if "__value__" in value:
            return {k: tagged_plain(v) for k, v in value["fields"].items()}
        return {k: tagged_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [tagged_plain(v) for v in value]
    return value


def iso_to_micros(text: str) -> int:
    """Microseconds since the epoch of an ISO-8601 aware timestamp."""
    return (datetime.fromisoformat(text) - EPOCH) // timedelta(microseconds=1)


def micros_to_datetime(micros: int) -> datetime:
    """An aware UTC datetime from microseconds since the epoch."""
    return EPOCH + timedelta(microseconds=micros)


_DAY_US = 86_400_000_000
_BUREAU_OFFSET_US = int(BUREAU_TZ.utcoffset(None).total_seconds()) * 1_000_000  # type: ignore[union-attr]
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def local_day(micros: int) -> date:
    """The bureau's calendar date (UTC+8, no daylight saving) of an instant."""
    return date.fromordinal(_EPOCH_ORDINAL + (micros + _BUREAU_OFFSET_US) // _DAY_US)


_DAY_ISO: dict[int, str] = {}


def local_day_iso(micros: int) -> str:
    """``local_day(micros).isoformat()``, cached per day (hot in per-day aggregates)."""
    number = (micros + _BUREAU_OFFSET_US) // _DAY_US
    text = _DAY_ISO.get(number)
    if text is None:
        text = _DAY_ISO[number] = date.fromordinal(_EPOCH_ORDINAL + number).isoformat()
    return text


_TOPIC_PARTS: dict[str, tuple[str, str, str]] = {}


def topic_parts(topic: str) -> tuple[str, str, str]:
    """('Case', 'Submitted', 'Case.Submitted') from 'casestore.domain.case:Case.Submitted'."""
    parts = _TOPIC_PARTS.get(topic)
    if parts is None:
        qualname = topic.rsplit(":", 1)[-1]
        aggregate, _, kind = qualname.rpartition(".")
        parts = _TOPIC_PARTS[topic] = (aggregate, kind, f"{aggregate}.{kind}")
    return parts


class LogEvent:
    """One event of the global log as a projection sees it (state decoded on demand).

    ``key`` is ``"<Aggregate>.<Event>"`` (e.g. ``"Case.Submitted"``), the key of
    :attr:`Projection.handlers`. ``raw`` is the stored JSON with the transcoder's tags
    kept (cheap); :meth:`plain` gives a field as plain JSON.
    """

    __slots__ = (
        "_actor",
        "_raw",
        "aggregate",
        "aggregate_id",
        "chain_hash",
        "event_hash",
        "key",
        "position",
        "recorded_at_us",
        "state",
        "topic",
        "type",
        "unwrap",
        "version",
    )

    def __init__(
        self,
        position: int,
        aggregate_id: str,
        version: int,
        topic: str,
        state: bytes,
        recorded_at_us: int,
        event_hash: bytes,
        chain_hash: bytes,
        unwrap: Callable[[bytes], bytes] | None = None,
    ) -> None:
        self.position = position
        self.aggregate_id = aggregate_id  # canonical UUID text, as stored in views
        self.version = version
        self.topic = topic
        self.aggregate, self.type, self.key = topic_parts(topic)
        self.state = state
        self.recorded_at_us = recorded_at_us
        self.event_hash = event_hash
        self.chain_hash = chain_hash
        self.unwrap = unwrap
        self._raw: dict[str, Any] | None = None
        self._actor: dict[str, str] | None = None

    @property
    def raw(self) -> dict[str, Any]:
        """The stored state as tagged JSON (decrypted/decompressed when configured)."""
        if self._raw is None:
            data = self.unwrap(self.state) if self.unwrap else self.state
            self._raw = orjson.loads(data)
        return self._raw

    def plain(self, field: str, default: Any = None) -> Any:
        """One field of the event as plain JSON (UUIDs, times and dates as strings)."""
        value = self.raw.get(field, default)
        return tagged_plain(value) if isinstance(value, (dict, list)) else value

    def actor(self) -> dict[str, str]:
        """The actor's staff_id, role, name and window ('' when the event has none).

        Computed once per event and shared: treat it as read-only.
        """
        if self._actor is None:
            try:
                fields = self.raw["actor"]["fields"]
                self._actor = {
                    "staff_id": fields["staff_id"],
                    "role": fields["role"],
                    "name": fields["name"],
                    "window": fields["window"],
                }
            except (KeyError, TypeError):  # an event without a (complete) actor
                actor = self.raw.get("actor")
                fields = actor.get("fields", {}) if isinstance(actor, dict) else {}
                self._actor = {
                    k: str(fields.get(k, "")) for k in ("staff_id", "role", "name", "window")
                }
        return self._actor

    @property
    def occurred_at_us(self) -> int | None:
        """The claimed business time, when it was entered separately."""
        value = self.raw.get("occurred_at")
        if isinstance(value, dict) and "__datetime__" in value:
            return iso_to_micros(value["__datetime__"])
        return None

    @property
    def business_at_us(self) -> int:
        """``occurred_at`` when given, else ``recorded_at`` (what the domain uses for dates)."""
        occurred = self.occurred_at_us
        return self.recorded_at_us if occurred is None else occurred

    @property
    def recorded_at(self) -> datetime:
        return micros_to_datetime(self.recorded_at_us)

    def __repr__(self) -> str:
        return f"LogEvent({self.position}, {self.key}, {self.aggregate_id} v{self.version})"


# --------------------------------------------------------------------------- transactions


class Tx:
    """One open view transaction: portable SQL over a SQLite or psycopg connection.

    Templates use ``%s`` placeholders and ``{table}`` logical names; both are mapped
    to the backend and to the physical tables of the target being written. Rows for
    :meth:`insert` and :meth:`upsert` are mappings by column name or tuples in the
    table's column order. On PostgreSQL large batches go through binary COPY.
    """

    COPY_FROM = 64  # rows: below this an INSERT is cheaper than COPY via a temp table

    def __init__(self, conn: Any, backend: str, names: Mapping[str, str]) -> None:
        self.conn = conn
        self.backend = backend
        self.names = dict(names)
        self._cache: dict[str, str] = {}
        self._staging: set[str] = set()
        #: State a worker keeps between its batches (see :class:`RowFold`'s ``cache``).
        self.memo: dict[Any, Any] = {}

    def sql(self, template: str) -> str:
        text = self._cache.get(template)
        if text is None:
            text = template.format_map(self.names)
            if self.backend == "sqlite":
                text = text.replace("%s", "?")
            self._cache[template] = text
        return text

    def table(self, logical: str) -> str:
        return self.names[logical]

    def execute(self, template: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement; returns its rows (empty for statements without a result)."""
        cur = self.conn.execute(self.sql(template), params)
        if cur.description is None:
            return []
        return [tuple(r) for r in cur.fetchall()]

    def executemany(self, template: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = list(rows)
        if not rows:
            return
        if self.backend == "sqlite":
            self.conn.executemany(self.sql(template), rows)
        else:
            with self.conn.cursor() as cur:
                cur.executemany(self.sql(template), rows)

    def select_keys(
        self, table: Table, keys: Iterable[tuple[Any, ...]]
    ) -> dict[tuple[Any, ...], dict[str, Any]]:
        """The existing rows for these primary keys."""
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}
        cols = table.column_names
        pk = table.primary_key
        name = self.names[table.name]
        idx = [cols.index(c) for c in pk]
        rows: list[Any] = []
        if self.backend == "postgres" and len(pk) == 1:
            with self.conn.cursor(binary=True) as cur:
                cast = COLUMN_TYPES[table.columns[idx[0]].type][1]
                # A table being bulk-built has no statistics yet and the planner would
                # scan it whole for every batch (measured: 1 s per lookup at 100k rows).
                cur.execute("SET LOCAL enable_seqscan = off")
                cur.execute(
                    f"SELECT {', '.join(cols)} FROM {name} WHERE {pk[0]} = ANY(%s::{cast}[])",
                    ([k[0] for k in wanted],),
                )
                rows = cur.fetchall()
                cur.execute("SET LOCAL enable_seqscan TO DEFAULT")
        else:
            step = 900 // len(pk)  # SQLite's host-parameter limit
            one = "(" + ", ".join(["%s"] * len(pk)) + ")"
            for start in range(0, len(wanted), step):
                chunk = wanted[start : start + step]
                query = (
                    f"SELECT {', '.join(cols)} FROM {name} WHERE ({', '.join(pk)}) IN "
                    f"(VALUES {', '.join([one] * len(chunk))})"
                )
                if self.backend == "sqlite":
                    query = query.replace("%s", "?")
                rows += self.conn.execute(query, [v for k in chunk for v in k]).fetchall()
        return {tuple(r[i] for i in idx): dict(zip(cols, r, strict=True)) for r in rows}

    def upsert(
        self,
        table: Table,
        rows: Sequence[Mapping[str, Any] | Sequence[Any]],
        *,
        add: Sequence[str] = (),
    ) -> None:
        """Insert rows, or on a primary-key clash overwrite (or, for ``add``, sum) the rest."""
        if not rows:
            return
        name = self.names[table.name]
        rest = [c for c in table.column_names if c not in table.primary_key]
        sets = [
            f"{c} = {name}.{c} + excluded.{c}" if c in add else f"{c} = excluded.{c}" for c in rest
        ]
        keys = ", ".join(table.primary_key)
        action = f"DO UPDATE SET {', '.join(sets)}" if sets else "DO NOTHING"
        self._write(table, rows, f" ON CONFLICT ({keys}) {action}")

    def insert(self, table: Table, rows: Sequence[Mapping[str, Any] | Sequence[Any]]) -> None:
        """Insert new rows (a clash is an error: the batch is rolled back)."""
        if rows:
            self._write(table, rows, None)

    def _write(
        self,
        table: Table,
        rows: Sequence[Mapping[str, Any] | Sequence[Any]],
        conflict: str | None,
    ) -> None:
        cols = table.column_names
        name = self.names[table.name]
        values = _tuples(rows, cols)
        listed = ", ".join(cols)
        if self.backend == "sqlite":
            marks = ", ".join("?" * len(cols))
            self.conn.executemany(
                f"INSERT INTO {name} ({listed}) VALUES ({marks}){conflict or ''}", values
            )
        elif len(values) < self.COPY_FROM:
            casts = ", ".join(f"%s::{t}" for t in table.pg_array_types())
            with self.conn.cursor(binary=True) as cur:
                cur.execute(
                    f"INSERT INTO {name} ({listed}) SELECT * FROM unnest({casts}){conflict or ''}",
                    [list(column) for column in zip(*values, strict=True)],
                )
        elif conflict is None:
            self._copy(name, table, values)
        else:
            staging = f"_staging_{table.name}"
            if staging not in self._staging:
                self.conn.execute(
                    f"CREATE TEMP TABLE IF NOT EXISTS {staging} (LIKE {name}) ON COMMIT DELETE ROWS"
                )
                self._staging.add(staging)
            self._copy(staging, table, values)
            self.conn.execute(
                f"INSERT INTO {name} ({listed}) SELECT {listed} FROM {staging}{conflict}"
            )
            self.conn.execute(f"TRUNCATE {staging}")

    def _copy(self, name: str, table: Table, values: list[tuple[Any, ...]]) -> None:
        cols = table.column_names
        with self.conn.cursor() as cur:
            statement = f"COPY {name} ({', '.join(cols)}) FROM STDIN (FORMAT BINARY)"
            with cur.copy(statement) as copy:
                copy.set_types([PG_COPY_TYPES[c.type] for c in table.columns])
                for row in values:
                    copy.write_row(row)


def _tuples(
    rows: Sequence[Mapping[str, Any] | Sequence[Any]], cols: tuple[str, ...]
) -> list[tuple[Any, ...]]:
    """Rows as tuples in column order (a mapping's missing columns become NULL)."""
    if not isinstance(rows[0], Mapping):
        return [tuple(row) for row in rows]
    if len(cols) == 1:
        return [(row.get(cols[0]),) for row in rows]  # type: ignore[union-attr]
    getter = itemgetter(*cols)
    try:
        return [getter(row) for row in rows]
    except KeyError:
        return [tuple(row.get(c) for c in cols) for row in rows]  # type: ignore[union-attr]


class RowFold:
    """Rows of one table for one batch: loaded once, changed in memory, written back once.

    The usual apply pattern: ``prefetch`` the keys the batch touches, ``get``/``put``
    rows while folding events, and ``flush`` at the end of the batch.

    ``cache=N`` keeps up to N recently written rows in the worker's memo between
    batches, saving the SELECT for rows the worker itself wrote last. That is only
    sound while every write to the table goes through this fold, which is why it is
    opt-in. The runtime empties the memo whenever it cannot vouch for it: after a
    failed batch, or when another writer moved the position.
    """

    def __init__(self, tx: Tx, table: Table, *, cache: int = 0) -> None:
        self.tx = tx
        self.table = table
        self.rows: dict[tuple[Any, ...], dict[str, Any]] = {}
        self.dirty: set[tuple[Any, ...]] = set()
        self._loaded: set[tuple[Any, ...]] = set()
        self._absent: set[tuple[Any, ...]] = set()  # looked up and not in the table
        self._limit = cache
        self._lru: OrderedDict[tuple[Any, ...], dict[str, Any]] | None = (
            tx.memo.setdefault(("rowfold", table.name), OrderedDict()) if cache else None
        )

    def prefetch(self, keys: Iterable[tuple[Any, ...]]) -> None:
        missing = [k for k in dict.fromkeys(keys) if k not in self._loaded]
        lru = self._lru
        if lru:
            unknown = []
            for key in missing:
                row = lru.get(key)
                if row is None:
                    unknown.append(key)
                else:
                    self.rows[key] = row
            self._loaded.update(missing)
            missing = unknown
        found = self.tx.select_keys(self.table, missing)
        self.rows.update(found)
        self._loaded.update(missing)
        self._absent.update(k for k in missing if k not in found)

    def mark_loaded(self, keys: Iterable[tuple[Any, ...]]) -> None:
        """Declare keys known (rows put into ``rows`` directly, or known to be absent)."""
        self._loaded.update(keys)

    def get(self, key: tuple[Any, ...]) -> dict[str, Any] | None:
        if key not in self._loaded:
            self.prefetch([key])
        return self.rows.get(key)

    def put(self, key: tuple[Any, ...], row: dict[str, Any]) -> None:
        self._loaded.add(key)
        self.rows[key] = row
        self.dirty.add(key)

    def touch(self, key: tuple[Any, ...]) -> None:
        """Mark a row changed in place (after mutating the dict ``get`` returned)."""
        self.dirty.add(key)

    def flush(self) -> None:
        """Write the changed rows: known-new ones by plain insert, the others by upsert."""
        if self._lru is not None and self.tx.memo.get(WRITE_BEHIND):
            self._flush_behind(self._lru)
            return
        new = [self.rows[k] for k in self.dirty if k in self._absent]
        self.tx.insert(self.table, new)
        self.tx.upsert(self.table, [self.rows[k] for k in self.dirty if k not in self._absent])
        self._absent.difference_update(self.dirty)
        lru = self._lru
        if lru is not None:
            for key in self.dirty:
                lru[key] = self.rows[key]
                lru.move_to_end(key)
            while len(lru) > self._limit:
                lru.popitem(last=False)
        self.dirty.clear()

    def _flush_behind(self, lru: OrderedDict[tuple[Any, ...], dict[str, Any]]) -> None:
        """Write-behind (bulk builds of a scratch target): a changed row stays in the
        cache and is written once, when it leaves the cache or the build ends."""
        pending = _pending(self.tx, self.table)
        for key in self.dirty:
            lru[key] = self.rows[key]
            lru.move_to_end(key)
            pending[key] = pending.get(key, False) or key in self._absent
        leaving: dict[tuple[Any, ...], tuple[dict[str, Any], bool]] = {}
        while len(lru) > self._limit:
            key, row = lru.popitem(last=False)
            if key in pending:
                leaving[key] = (row, pending.pop(key))
        _write_rows(self.tx, self.table, leaving)
        self._absent.difference_update(self.dirty)
        self.dirty.clear()


#: Memo flag: cached RowFolds write behind (see :func:`flush_write_behind`).
WRITE_BEHIND = "write_behind"


def _pending(tx: Tx, table: Table) -> dict[tuple[Any, ...], bool]:
    """Rows changed but not yet written (key -> never written before), per table."""
    tables: dict[str, Table] = tx.memo.setdefault(("write_behind_tables",), {})
    tables[table.name] = table
    pending: dict[tuple[Any, ...], bool] = tx.memo.setdefault(("pending", table.name), {})
    return pending


def _write_rows(
    tx: Tx, table: Table, rows: Mapping[tuple[Any, ...], tuple[dict[str, Any], bool]]
) -> None:
    tx.insert(table, [row for row, new in rows.values() if new])
    tx.upsert(table, [row for row, new in rows.values() if not new])


def flush_write_behind(tx: Tx) -> int:
    """Write every row a write-behind build still holds; the number written."""
    written = 0
    for name, table in tx.memo.get(("write_behind_tables",), {}).items():
        pending: dict[tuple[Any, ...], bool] = tx.memo.get(("pending", name), {})
        lru = tx.memo[("rowfold", name)]
        _write_rows(tx, table, {key: (lru[key], new) for key, new in pending.items()})
        written += len(pending)
        pending.clear()
    return written


# --------------------------------------------------------------------------- projections

S = TypeVar("S")
Handler = Callable[[S, LogEvent], None]


class Projection(Generic[S]):
    """Base of every projection; subclasses declare name, version, tables and handlers.

    Mirrors ``eventsourcing.projection.Projection`` (a ``name`` and the ``topics`` it
    handles) but applies a whole batch per transaction: :meth:`begin` builds the batch
    state, each handled event goes to its handler, :meth:`finish` writes the state.
    Events with no handler are skipped (the position still advances past them).
    """

    name: ClassVar[str] = ""
    version: ClassVar[int] = 1
    tables: ClassVar[tuple[Table, ...]] = ()
    handlers: ClassVar[Mapping[str, Callable[[Any, LogEvent], None]]] = {}
    #: Handle every event (e.g. the ledger), not only the keys of ``handlers``.
    all_events: ClassVar[bool] = False

    def handles(self, event: LogEvent) -> bool:
        return self.all_events or event.key in self.handlers

    def begin(self, tx: Tx, events: Sequence[LogEvent]) -> S:
        """The batch state the handlers fold into (default: the transaction itself)."""
        return tx  # type: ignore[return-value]

    def finish(self, tx: Tx, state: S) -> None:
        """Write what the handlers folded into ``state``."""

    def apply(self, tx: Tx, events: Sequence[LogEvent]) -> None:
        """Apply one batch of handled events, in log order, inside ``tx``."""
        state = self.begin(tx, events)
        handlers = self.handlers
        for event in events:
            handler = handlers.get(event.key)
            if handler is not None:
                handler(state, event)
        self.finish(tx, state)

    def table_names(self, target: str = "") -> dict[str, str]:
        """Logical -> physical names of this projection's tables for a target."""
        return {t.name: physical(t.name, target) for t in self.tables}
