"""Portable SQL for apply functions: one transaction (:class:`Tx`) and batch row folds."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from operator import itemgetter
from typing import Any

from .schema import COLUMN_TYPES, PG_COPY_TYPES, Table


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


def on_write_behind_flush(tx: Tx, key: Any, flush: Callable[[Tx], None]) -> None:
    """Have :func:`flush_write_behind` call ``flush(tx)`` (once per ``key``, the latest
    registration wins): for folds that hold back more than rows of one table."""
    flushers: dict[Any, Callable[[Tx], None]] = tx.memo.setdefault(("write_behind_flush",), {})
    flushers[key] = flush


def flush_write_behind(tx: Tx) -> int:
    """Write every row a write-behind build still holds; the number written."""
    written = 0
    for flush in tx.memo.pop(("write_behind_flush",), {}).values():
        flush(tx)
    for name, table in tx.memo.get(("write_behind_tables",), {}).items():
        pending: dict[tuple[Any, ...], bool] = tx.memo.get(("pending", name), {})
        lru = tx.memo[("rowfold", name)]
        _write_rows(tx, table, {key: (lru[key], new) for key, new in pending.items()})
        written += len(pending)
        pending.clear()
    return written
