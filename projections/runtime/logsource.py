"""Reading the global log for projections: ordered pages, streamed, optionally prefetched.

Same rows and order as ``app.log.iter_log``. Positions are gap-free, and commit order
equals position order: on PostgreSQL every append holds the writers' lock (eventsourcing's
EXCLUSIVE table lock, or the transaction-scoped advisory lock casestore uses instead)
from reading the last position until its commit is visible; SQLite has one writer. So
reading ``position > last`` never skips an event a slower transaction could still fill
(``tests/integration/test_projection_concurrency.py`` checks it under 8 writers).

It reads the table directly with tuple rows, ids as text and times as integer
microseconds, because building ``LogRow`` dataclasses from dict rows costs more than
the projections themselves during a rebuild. ``pages(prefetch=True)`` reads the next
page on its own connection while the current one is applied; at most two pages are
in memory, whatever the length of the log.

A reader that handles only some event kinds passes them as ``keys``: rows of other
kinds are skipped before anything is built or decoded (no ``LogEvent``, no unwrap),
and the :class:`Page` still says how many rows were read and where the last one was,
so the reader's position moves past them exactly as if it had seen them.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable, Generator, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from casestore.store.config import eventsourcing_env

from ..engine.base import LogEvent, micros_to_datetime, topic_parts
from .port import EventLog

_T = TypeVar("_T")
log = logging.getLogger("casestore.projections")

#: ``EventLog.unwrapper``'s answer: one batch's unwrap from its stored states.
Unwrapper = Callable[[list[bytes]], Callable[[bytes], bytes] | None]

_FAR = 2**62
_END_OF_TIME = datetime(9999, 1, 1, tzinfo=UTC)
_PG_SCAN = (
    "SELECT notification_id, originator_id::text, originator_version, topic, state, "
    "(extract(epoch from recorded_at) * 1000000)::bigint, event_hash, chain_hash "
    "FROM {table} WHERE notification_id > %s AND notification_id <= %s "
    "AND recorded_at <= %s ORDER BY notification_id LIMIT %s"
)
_SQLITE_SCAN = (
    "SELECT notification_id, originator_id, originator_version, topic, state, recorded_at, "
    "event_hash, chain_hash FROM {table} WHERE notification_id > ? "
    "AND notification_id <= ? AND recorded_at <= ? ORDER BY notification_id LIMIT ?"
)


def _dashed(h: str) -> str:
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class Page(list[LogEvent]):
    """One page of the log: the events kept (all, or those of the wanted kinds), how many
    rows were read, the position and time of the last row read (kept or not), and the
    event hash of every row read, kept or not (``hashes``; the Merkle tree a view records
    is over every event of the log, see ``treebind``)."""

    __slots__ = ("hashes", "last_position", "last_recorded_at_us", "read")

    def __init__(
        self,
        events: list[LogEvent],
        read: int,
        last_position: int,
        last_recorded_at_us: int,
        hashes: list[bytes] | None = None,
    ) -> None:
        super().__init__(events)
        self.read = read
        self.last_position = last_position
        self.last_recorded_at_us = last_recorded_at_us
        self.hashes = [e.event_hash for e in events] if hashes is None else hashes


def _keep(rows: list[Any], keys: frozenset[str] | None) -> list[Any]:
    """The rows whose event kind (``Aggregate.Event``, from the stored topic) is wanted."""
    if keys is None:
        return rows
    # A page holds a handful of topics: decide each once, then filter in one pass.
    wanted = {topic for topic in {r[3] for r in rows} if topic_parts(topic)[2] in keys}
    return [r for r in rows if r[3] in wanted]


class LogSource:
    """Ordered reads of one event log (the store behind :class:`~.port.EventLog`)."""

    def __init__(self, log: EventLog) -> None:
        self.log = log
        self.url = log.db_url
        self.backend = log.backend
        self.table = log.events_table
        self._log = log
        self.unwrap = log.unwrapper()
        self.sealed = log.unwrapper(personal=False)  # for readers of no personal field
        self._openers: dict[frozenset[str], Unwrapper] = {}  # for readers of some
        self._pg_scan = _PG_SCAN.format(table=self.table)
        self._sqlite_scan = _SQLITE_SCAN.format(table=self.table)
        self._local = threading.local()
        self._conns: list[Any] = []
        self._lock = threading.Lock()

    def connect(self) -> Any:
        """A new connection to the event database (autocommit)."""
        if self.backend == "sqlite":
            name = eventsourcing_env(self.url)["SQLITE_DBNAME"]
            conn: Any = sqlite3.connect(
                name,
                timeout=30,
                isolation_level=None,
                check_same_thread=False,
                uri=name.startswith("file:"),
            )
        else:
            import psycopg

            conn = psycopg.connect(self.url, autocommit=True)
        return conn

    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is not None and getattr(conn, "closed", False):
            self._drop(conn)  # closed by a database restart: reconnect
            conn = None
        if conn is None:
            conn = self._local.conn = self.connect()
            with self._lock:
                self._conns.append(conn)
        return conn

    def _drop(self, conn: Any) -> None:
        """Forget this thread's connection after it failed; the next read reconnects."""
        if getattr(self._local, "conn", None) is conn:
            self._local.conn = None
        with self._lock:
            if conn in self._conns:
                self._conns.remove(conn)
        with contextlib.suppress(Exception):
            conn.close()

    def _run(self, use: Callable[[Any], _T]) -> _T:
        """Run ``use`` on this thread's connection; a lost connection is dropped (and the
        error raised) so the caller's retry reconnects instead of reusing a dead one."""
        conn = self._conn()
        try:
            return use(conn)
        except Exception as e:
            if _connection_lost(e):
                self._drop(conn)
            raise

    def close(self) -> None:
        with self._lock:
            for conn in self._conns:
                conn.close()
            self._conns.clear()
        self._local = threading.local()

    # -- reads -----------------------------------------------------------------------------

    def read(
        self,
        after: int,
        limit: int,
        *,
        upto: int | None = None,
        until_us: int | None = None,
        conn: Any = None,
        personal: bool | Mapping[str, frozenset[str]] = True,
    ) -> list[LogEvent]:
        """Up to ``limit`` events after a position, in order (bounded by upto/until);
        personal fields opened only for a ``personal`` reader, and for one that names
        fields per event (``Projection.personal``) only those (else left sealed)."""
        return self.read_page(
            after, limit, upto=upto, until_us=until_us, conn=conn, personal=personal
        )

    def read_page(
        self,
        after: int,
        limit: int,
        *,
        upto: int | None = None,
        until_us: int | None = None,
        conn: Any = None,
        personal: bool | Mapping[str, frozenset[str]] = True,
        keys: frozenset[str] | None = None,
    ) -> Page:
        """:meth:`read` as a :class:`Page`, keeping only the events whose key is in
        ``keys`` when given (the others are read past, never built, decoded or
        unwrapped: their keys are not fetched)."""
        if conn is None:
            return self._run(
                lambda c: self.read_page(
                    after, limit, upto=upto, until_us=until_us, conn=c, personal=personal, keys=keys
                )
            )
        stop = _FAR if upto is None else upto
        if self.backend == "sqlite":
            until = _FAR if until_us is None else until_us
            rows = conn.execute(self._sqlite_scan, (after, stop, until, limit)).fetchall()
        else:
            until_dt = _END_OF_TIME if until_us is None else micros_to_datetime(until_us)
            with conn.cursor(binary=True) as cur:
                cur.execute(self._pg_scan, (after, stop, until_dt, limit), prepare=True)
                rows = cur.fetchall()
        if not rows:
            return Page([], 0, after, 0)
        kept = _keep(rows, keys)
        unwraps = self._unwraps(kept, personal) if kept else []
        if self.backend == "sqlite":
            # Ids as stored (32 hex digits) to canonical text once per id in the page:
            # a busy page holds a few events of each of many cases.
            ids = {h: _dashed(h) for h in {r[1] for r in kept}}
            events = LogEvent.many(kept, unwraps, ids)
        else:
            events = LogEvent.many(kept, unwraps)
        hashes = None if kept is rows else [bytes(r[6]) for r in rows]
        return Page(events, len(rows), rows[-1][0], rows[-1][5], hashes)

    def _unwraps(
        self, rows: list[Any], personal: bool | Mapping[str, frozenset[str]]
    ) -> list[Callable[[bytes], bytes] | None]:
        """Each row's unwrap: personal fields opened where the reader reads them (their
        keys fetched for those rows only), sealed everywhere else."""
        if isinstance(personal, bool):
            unwrap = (self.unwrap if personal else self.sealed)([r[4] for r in rows])
            return [unwrap] * len(rows)
        named_by_topic = {t: personal.get(topic_parts(t)[2]) for t in {r[3] for r in rows}}
        fields = [named_by_topic[r[3]] for r in rows]
        sealed = self.sealed([r[4] for r in rows])
        groups: dict[frozenset[str], list[bytes]] = {}
        for r, named in zip(rows, fields, strict=True):
            if named:
                groups.setdefault(named, []).append(r[4])
        if not groups:
            return [sealed] * len(rows)
        opened = {named: self._opener(named)(states) for named, states in groups.items()}
        return [opened[named] if named else sealed for named in fields]

    def _opener(self, fields: frozenset[str]) -> Unwrapper:
        factory = self._openers.get(fields)
        if factory is None:
            factory = self._openers[fields] = self._log.unwrapper(personal=fields)
        return factory

    def pages(
        self,
        after: int,
        page: int,
        *,
        upto: int | None = None,
        until_us: int | None = None,
        prefetch: bool = False,
        personal: bool | Mapping[str, frozenset[str]] = True,
        keys: frozenset[str] | None = None,
    ) -> Generator[Page, None, None]:
        """Successive full pages after a position; stops after the first short page.
        With ``keys``, a page may hold fewer events than it read (even none)."""
        if not prefetch:
            position = after
            while True:
                rows = self.read_page(
                    position, page, upto=upto, until_us=until_us, personal=personal, keys=keys
                )
                if rows.read:
                    yield rows
                if rows.read < page:
                    return
                position = rows.last_position
        yield from self._prefetched(after, page, upto, until_us, personal, keys)

    def _prefetched(
        self,
        after: int,
        page: int,
        upto: int | None,
        until_us: int | None,
        personal: bool | Mapping[str, frozenset[str]],
        keys: frozenset[str] | None,
    ) -> Iterator[Page]:
        pending: queue.Queue[Page | BaseException | None] = queue.Queue(maxsize=1)
        stop = threading.Event()

        def offer(item: Page | BaseException | None) -> bool:
            while not stop.is_set():
                try:
                    pending.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def produce() -> None:
            conn = None
            try:  # a failed connect too is handed over (the consumer would wait forever)
                conn = self.connect()
                position = after
                while True:
                    rows = self.read_page(
                        position,
                        page,
                        upto=upto,
                        until_us=until_us,
                        conn=conn,
                        personal=personal,
                        keys=keys,
                    )
                    if rows.read and not offer(rows):
                        return
                    if rows.read < page:
                        offer(None)
                        return
                    position = rows.last_position
            except BaseException as e:  # handed to the consumer
                offer(e)
            finally:
                if conn is not None:
                    conn.close()

        reader = threading.Thread(target=produce, name="casestore-log-prefetch", daemon=True)
        reader.start()
        try:
            while True:
                item = pending.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            reader.join()

    def tree_frontier(self, size: int) -> list[bytes] | None:
        """The stored tree's frontier at ``size`` leaves (None: the tree is not there yet,
        or cannot be read now; a view's root is extra, never a reason to stop it)."""
        try:
            return self.log.tree_frontier(size)
        except Exception as e:
            log.warning("tree root at size %d unavailable: %s: %s", size, type(e).__name__, e)
            return None

    def tree_size(self) -> int | None:
        """The stored tree's size (None: cannot be read now)."""
        try:
            return self.log.tree_size()
        except Exception as e:
            log.warning("tree size unavailable: %s: %s", type(e).__name__, e)
            return None

    def head(self) -> int:
        """The last position of the log (0 when empty)."""
        sql = f"SELECT coalesce(max(notification_id), 0) FROM {self.table}"
        return int(self._run(lambda c: c.execute(sql).fetchone()[0]))

    def recorded_at(self, position: int) -> datetime | None:
        """When the event at a position was recorded."""
        rows = self.read(position - 1, 1, upto=position)
        return rows[0].recorded_at if rows else None

    def position_at(self, until_us: int) -> int:
        """The last position recorded at or before a moment."""
        sql = f"SELECT coalesce(max(notification_id), 0) FROM {self.table} WHERE recorded_at <= "
        param: Any = until_us
        if self.backend == "sqlite":
            sql += "?"
        else:
            sql, param = sql + "%s", micros_to_datetime(until_us)
        return int(self._run(lambda c: c.execute(sql, (param,)).fetchone()[0]))


def _connection_lost(error: BaseException) -> bool:
    """True when the connection itself failed (server restart, network), not the query."""
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return False
    if isinstance(error, psycopg.OperationalError | psycopg.InterfaceError):
        return True
    return isinstance(error, sqlite3.OperationalError | sqlite3.ProgrammingError)
