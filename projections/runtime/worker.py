"""Applying the log to one target of one projection, exactly once; rebuilds and time travel.

One batch = one transaction: lock the target's tracking row, check it still holds the
position the batch was read after, apply the projection, move the position, commit.
A crash anywhere before the commit leaves rows and position as they were; a second
worker on the same target (a standby that woke too early, a rebuild's swap) shows up
as a moved position, and the batch is re-read from there instead of applied twice.

Rebuilds are blue/green: the projection is built into a scratch target beside the
one being replaced, which keeps serving; when the scratch target has caught up it is
swapped in with one transaction (:func:`casestore.projections.engine.db.swap`).

A handler that fails parks its event for this target and the worker goes on
(``engine.parking``). Each batch also records the Merkle tree root of its position
(``runtime.treebind``: from the stored tree or the worker's own frontier; NULL while
ahead of the tree, filled in by :meth:`Worker.bind_tree` when idle).

Over 400 lines because the worker, its parking path and the rebuild that drives it share
the same transaction rules and read best side by side.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from casestore.domain.errors import InvalidCommand, NotFound
from casestore.timeutil import to_micros

from ..engine.base import (
    WRITE_BEHIND,
    LogEvent,
    Projection,
    check_target,
    flush_write_behind,
    physical,
)
from ..engine.db import (
    TrackingRow,
    ViewDB,
    create_indexes,
    create_target,
    drop_target,
    lock_position,
    set_position,
    swap,
)
from ..engine.parking import HandlerFailed, is_infrastructure, park
from .logsource import LogSource, Page
from .port import EventLog
from .treebind import TreeBinder

log = logging.getLogger("casestore.projections")
BatchHook = Callable[["Worker", Sequence[LogEvent]], None]
CommitHook = Callable[[str, int], None]


class Worker:
    """Moves one target of one projection along the log, a batch per transaction."""

    def __init__(
        self,
        source: LogSource,
        db: ViewDB,
        projection: Projection[Any],
        *,
        target: str = "",
        batch: int = 1000,
        upto: int | None = None,
        until_us: int | None = None,
        before_commit: BatchHook | None = None,
        on_commit: CommitHook | None = None,
    ) -> None:
        self.source = source
        self.db = db
        self.projection = projection
        self.target = check_target(target)
        self.key = physical(projection.name, target)
        self.names = projection.table_names(target)
        self.batch = batch
        self.upto = upto
        self.until_us = until_us
        self.before_commit = before_commit
        self.on_commit = on_commit
        self.memo: dict[Any, Any] = {}
        self.tree = TreeBinder(source, db, self.key)
        # Rows of kinds the projection does not handle are read past without being built
        # or decoded, unless a hook wants to see the whole page.
        self.keys = projection.kinds() if before_commit is None else None
        self.position = self.load_position()

    def load_position(self) -> int:
        self.memo.clear()
        self.tree.moved()
        row = self.db.tracking(self.key)
        if row is None:
            raise NotFound(f"projection target {self.key} does not exist")
        self.position = row.position
        return row.position

    def catch_up(
        self, *, stop: threading.Event | None = None, max_batches: int | None = None
    ) -> int:
        """Apply everything after the position (within upto/until); the count applied.

        The first page is read directly; when it is full (a backlog), the following
        pages are read ahead on a second connection while each one is applied.
        """
        applied = batches = 0
        prefetch = backlog_gc = False
        with contextlib.ExitStack() as backlog:
            while True:
                if prefetch and not backlog_gc:
                    backlog.enter_context(bulk_gc())  # a backlog: collect garbage rarely
                    backlog_gc = True
                again = False
                pages = self.source.pages(
                    self.position,
                    self.batch,
                    upto=self.upto,
                    until_us=self.until_us,
                    prefetch=prefetch,
                    personal=self.projection.personal,
                    keys=self.keys,
                )
                try:
                    for page in pages:
                        if stop is not None and stop.is_set():
                            return applied
                        if not self.apply_page(page):
                            again = True  # re-read from where the position moved
                            break
                        applied += page.read
                        batches += 1
                        if backlog_gc or _gc_users:
                            bulk_gc_settle()
                        if max_batches is not None and batches >= max_batches:
                            return applied
                        if page.read == self.batch and not prefetch:
                            prefetch = again = True  # a backlog: read ahead from here on
                            break
                finally:
                    pages.close()
                if not again and applied == 0 and self._moved_while_idle():
                    again = True
                if not again:
                    return applied

    def _moved_while_idle(self) -> bool:
        """Nothing new to read: check the position is still ours. A rebuild swapped in
        at an older position would otherwise wait for the next event to be noticed,
        leaving the events in between unapplied until then."""
        row = self.db.tracking(self.key)
        if row is None or row.position == self.position:
            return False
        log.info("%s moved from %d to %d while idle", self.key, self.position, row.position)
        self.position = row.position
        self.memo.clear()
        self.tree.moved()
        return True

    def bind_tree(self) -> bool:
        """Record the tree root of the current position if it was committed without one
        (the projection was ahead of the tree worker) and the tree has reached it now."""
        return self.tree.bind(self.position)

    def write_behind(self, enabled: bool) -> None:
        """Scratch builds only: keep changed cached rows in memory and write each once,
        when it leaves the cache or when this is switched off (in one transaction that
        does not move the position). Until then the target's rows lag its position,
        which is harmless only because nobody reads a scratch target."""
        if enabled:
            self.memo[WRITE_BEHIND] = True
            return
        if not self.memo.get(WRITE_BEHIND):
            return
        try:
            with self.db.transaction(self.names) as tx:
                if lock_position(tx, self.key) != self.position:
                    raise RuntimeError(f"{self.key} moved under a write-behind build")
                tx.memo = self.memo
                try:
                    flush_write_behind(tx)
                except Exception as e:
                    # Held-back rows are derived here (facts projections): a failure is
                    # a handler's, to be found again and parked by a row-by-row build.
                    if is_infrastructure(e):
                        raise
                    raise WriteBehindPoisoned(f"{type(e).__name__}: {e}") from e
        except BaseException:
            self.memo.clear()
            raise
        self.memo[WRITE_BEHIND] = False

    def apply_page(self, page: Sequence[LogEvent]) -> bool:
        """Apply one page in one transaction; False when the position moved meanwhile.

        When a handler raises, the page is applied again one event at a time and each
        event that still fails is parked for this target (see ``engine.parking``).
        """
        try:
            return self._apply_page(page, parking=False)
        except HandlerFailed as failed:
            if self.memo.get(WRITE_BEHIND):
                raise WriteBehindPoisoned(str(failed.__cause__)) from failed.__cause__
            log.warning("%s: a handler failed in a batch; applying it event by event", self.key)
            return self._apply_page(page, parking=True)

    def _apply_page(self, page: Sequence[LogEvent], *, parking: bool) -> bool:
        handles = self.projection.handles
        handled = [e for e in page if handles(e)]
        if isinstance(page, Page):  # possibly filtered: its last row may not be in it
            last_position, last_at = page.last_position, page.last_recorded_at_us
        else:
            last_position, last_at = page[-1].position, page[-1].recorded_at_us
        root = self.tree.root_for(page)  # read before the transaction: no lock held
        try:
            with self.db.transaction(self.names) as tx:
                current = lock_position(tx, self.key)
                if current is None:
                    raise NotFound(f"projection target {self.key} was dropped")
                if current != self.position:
                    if self.memo.get(WRITE_BEHIND):
                        raise RuntimeError(f"{self.key} moved under a write-behind build")
                    log.info("%s moved from %d to %d meanwhile", self.key, self.position, current)
                    self.position = current
                    self.memo.clear()  # another writer: rows we remember may be stale
                    self.tree.moved()
                    return False
                tx.memo = self.memo
                if tx.backend == "postgres":
                    # Rows and position are lost together if the server crashes before the
                    # WAL is flushed, and then simply re-applied: no need to wait for fsync.
                    tx.execute("SET LOCAL synchronous_commit = off")
                if handled and parking:
                    self._apply_parking(tx, handled)
                elif handled:
                    try:
                        self.projection.apply(tx, handled)
                    except Exception as e:
                        if is_infrastructure(e):
                            raise
                        raise HandlerFailed(f"{type(e).__name__}: {e}") from e
                set_position(tx, self.key, last_position, last_at, root)
                if self.before_commit is not None:
                    self.before_commit(self, page)
        except BaseException:
            self.memo.clear()  # rolled back: the memo may hold uncommitted changes
            self.tree.moved()
            raise
        if parking:
            self.memo.clear()
        self.position = last_position
        self.tree.committed(last_position, root)
        if self.on_commit is not None:
            self.on_commit(self.projection.name, self.position)
        return True

    def _apply_parking(self, tx: Any, handled: Sequence[LogEvent]) -> None:
        """Each event in its own savepoint with a fresh row cache; failures parked."""
        for event in handled:
            tx.execute("SAVEPOINT casestore_park")
            tx.memo = {}
            try:
                self.projection.apply(tx, [event])
            except Exception as e:
                if is_infrastructure(e):
                    raise
                tx.execute("ROLLBACK TO SAVEPOINT casestore_park")
                log.error(
                    "%s: parked the event at position %d (%s): %s: %s",
                    self.key,
                    event.position,
                    event.key,
                    type(e).__name__,
                    e,
                )
                park(tx, self.key, self.projection.name, event, e)
            tx.execute("RELEASE SAVEPOINT casestore_park")


class WriteBehindPoisoned(Exception):
    """A handler failed during a write-behind bulk build: rebuild without write-behind
    (rows held back in memory cannot be told apart from the failed batch's)."""


@dataclass(frozen=True)
class RebuildResult:
    """What a rebuild produced."""

    projection: str
    target: str  # '' = the live view
    position: int
    events: int
    seconds: float

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


Progress = Callable[[str, int, int], None]  # (projection, position, head)
_gc_lock = threading.Lock()
_gc_users = 0
_gc_saved: tuple[int, int, int] = gc.get_threshold()


@contextlib.contextmanager
def bulk_gc() -> Iterator[None]:
    """Collect cyclic garbage rarely while bulk-applying.

    A rebuild keeps pages of decoded events and a row cache alive; the default
    thresholds make the collector walk them over and over (measured: about a quarter
    of a case_status rebuild). Reference counting still frees everything else at once.
    Process-wide, so nested or concurrent rebuilds share one save/restore. After each
    batch :func:`bulk_gc_settle` sets aside what survived it (``gc.freeze``), so the
    collector walks only what the next batch makes, not the whole row cache again
    (measured: 15-20% of a facts projection's rebuild); it is handed back to the
    collector when the last bulk user ends.
    """
    global _gc_users, _gc_saved
    with _gc_lock:
        if _gc_users == 0:
            _gc_saved = gc.get_threshold()
            gc.set_threshold(100_000, 50, 100)
        _gc_users += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_users -= 1
            if _gc_users == 0:
                gc.set_threshold(*_gc_saved)
                gc.unfreeze()


def bulk_gc_settle() -> None:
    """Between batches of a bulk apply: leave what survived out of later collections."""
    with _gc_lock:
        if _gc_users:
            gc.freeze()


def rebuild_into(
    source: LogSource,
    db: ViewDB,
    projection: Projection[Any],
    *,
    target: str = "",
    until_us: int | None = None,
    upto: int | None = None,
    batch: int = 10_000,
    progress: Progress | None = None,
    progress_every: int = 20,
    catch_up_rounds: int = 5,
) -> RebuildResult:
    """Build ``projection`` from zero beside ``target`` and swap it in when caught up.

    ``target`` '' replaces the live view; a name keeps the result beside the live one.
    With ``until_us``/``upto`` only events recorded by then / up to that position are
    applied and the result is frozen there (a past-time view); such a build never
    replaces the live view.
    """
    check_target(target)
    frozen = until_us is not None or upto is not None
    if frozen and not target:
        raise InvalidCommand("a view as of a past moment needs a target name beside the live one")
    options = (target, until_us, upto, batch, progress, progress_every, catch_up_rounds)
    try:
        return _rebuild_once(source, db, projection, *options, write_behind=True)
    except WriteBehindPoisoned as e:
        log.warning(
            "%s: an event cannot be applied (%s); rebuilding row by row", projection.name, e
        )
        return _rebuild_once(source, db, projection, *options, write_behind=False)


def _rebuild_once(
    source: LogSource,
    db: ViewDB,
    projection: Projection[Any],
    target: str,
    until_us: int | None,
    upto: int | None,
    batch: int,
    progress: Progress | None,
    progress_every: int,
    catch_up_rounds: int,
    *,
    write_behind: bool,
) -> RebuildResult:
    frozen = until_us is not None or upto is not None
    scratch = "b" + secrets.token_hex(4)
    create_target(
        db, projection, scratch, kind="scratch", until_us=until_us, upto=upto, indexes=False
    )
    started = time.perf_counter()
    with bulk_gc():
        try:
            worker = Worker(
                source, db, projection, target=scratch, batch=batch, upto=upto, until_us=until_us
            )
            worker.write_behind(write_behind)
            head = upto if upto is not None else source.head()
            events = 0
            indexed = False
            for _ in range(max(1, catch_up_rounds)):
                # Loop until a round finds nothing new: then the swap is a small step behind
                # at most, and the live worker (if any) continues from the swapped position.
                applied = _catch_up_reporting(worker, head, progress, progress_every)
                events += applied
                if not indexed:
                    # The bulk is in: write what is held back and index once now, then catch
                    # up the tail row by row with the indexes on.
                    worker.write_behind(False)
                    create_indexes(db, projection, scratch)
                    indexed = True
                if applied == 0 or frozen:
                    break
                head = source.head()
            worker.bind_tree()  # a root still pending (a frozen build), if the tree has it
            swapped = swap(db, projection, scratch, target)
        except BaseException:
            drop_target(db, projection, scratch)
            raise
    return RebuildResult(
        projection.name, target, swapped.position, events, time.perf_counter() - started
    )


def _catch_up_reporting(worker: Worker, head: int, progress: Progress | None, every: int) -> int:
    """Catch up, reporting progress every ``every`` batches."""
    applied = 0
    while True:
        n = worker.catch_up(max_batches=every)
        applied += n
        if progress is not None:
            progress(worker.projection.name, worker.position, max(head, worker.position))
        if n < every * worker.batch:
            return applied


def rebuild_as_of(
    log: EventLog,
    name: str,
    *,
    until: datetime | None = None,
    at_position: int | None = None,
    target: str,
    db: ViewDB | None = None,
    batch: int = 10_000,
) -> TrackingRow:
    """Build projection ``name`` as it stood at a past moment or log position into ``target``.

    The result sits beside the live view (query it with the view classes'
    ``target=`` argument) until rebuilt again or dropped.
    """
    from .registry import get_projection

    if not target:
        raise InvalidCommand("rebuild_as_of needs a target name beside the live view")
    projection = get_projection(name)
    own_db = db is None
    views = db or ViewDB(log.db_url)
    source = LogSource(log)
    try:
        until_us = to_micros(until) if until is not None else None
        rebuild_into(
            source,
            views,
            projection,
            target=target,
            until_us=until_us,
            upto=at_position,
            batch=batch,
        )
        row = views.tracking(physical(projection.name, target))
        assert row is not None
        return row
    finally:
        source.close()
        if own_db:
            views.close()
