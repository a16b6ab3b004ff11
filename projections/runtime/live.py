"""Live projection workers: wake-ups, leader election and the embedded runner.

Each projection runs in its own thread (:class:`ProjectionThread`): it waits to be
elected, makes sure its live tables exist at the current version (rebuilding
blue/green when the projection's ``version`` changed), then catches up and tails.

Wake-ups: on PostgreSQL a LISTEN on ``casestore_events`` (every append NOTIFYs in its
transaction); on SQLite the store's in-process commit listeners; on both, polling
as the fallback (another process may write; a notification may be missed while a
connection reconnects).

Election (one active worker per projection): on PostgreSQL
``pg_try_advisory_lock`` held on a dedicated connection, so it is released when the
worker's process dies and a standby, retrying every ``standby_interval`` seconds,
takes over; on a SQLite file an exclusive ``flock`` on a lock file beside the
database, released likewise by the kernel. A worker that is wrongly active anyway
(a lock lost to a network blip) cannot double-apply: every batch checks the position.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from ..engine.base import Projection
from ..engine.db import ViewDB, create_target
from .logsource import LogSource
from .port import EventLog
from .registry import select
from .worker import BatchHook, Worker, rebuild_into

log = logging.getLogger("casestore.projections")


def lock_key(name: str) -> int:
    """The 63-bit advisory lock key electing ``name``'s worker."""
    digest = hashlib.sha256(f"casestore-projection:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def worker_label(name: str) -> str:
    """How an active worker names itself (PostgreSQL application_name, status lines)."""
    return f"casestore-projection {name} pid {os.getpid()}@{socket.gethostname()}"[:63]


class PgElection:
    """Active while holding an advisory lock on its own connection."""

    def __init__(self, url: str, name: str) -> None:
        self.url, self.name, self.key = url, name, lock_key(name)
        self._conn: Any = None

    def acquire(self) -> bool:
        import psycopg

        try:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(
                    self.url, autocommit=True, application_name=worker_label(self.name)
                )
            row = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
            return bool(row and row[0])
        except psycopg.Error as e:
            log.warning("election for %s: %s", self.name, e)
            self._drop()
            return False

    def held(self) -> bool:
        import psycopg

        try:
            return self._conn is not None and self._conn.execute("SELECT 1").fetchone() == (1,)
        except psycopg.Error:
            self._drop()
            return False

    def release(self) -> None:
        self._drop()  # closing the session releases its advisory locks

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
        self._conn = None


class FileElection:
    """Active while holding an exclusive flock on ``<database>.<name>.lock``."""

    def __init__(self, path: str, name: str) -> None:
        self.path = f"{path}.projection-{name}.lock"
        self._fd: int | None = None

    def acquire(self) -> bool:
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, worker_label("").encode())
        self._fd = fd
        return True

    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None


class NoElection:
    """In-memory SQLite: one process, nothing to elect."""

    def acquire(self) -> bool:
        return True

    def held(self) -> bool:
        return True

    def release(self) -> None:
        pass


def election_for(db: ViewDB, name: str) -> PgElection | FileElection | NoElection:
    if db.backend == "postgres":
        return PgElection(db.url, name)
    if db.sqlite_path.startswith("file:") or db.sqlite_path == ":memory:":
        return NoElection()
    return FileElection(db.sqlite_path, name)


class NotifyListener(threading.Thread):
    """LISTEN on the events channel (named after the events table: every append NOTIFYs
    it in its transaction) and wake every registered worker on a NOTIFY."""

    def __init__(
        self,
        url: str,
        channel: str,
        wake: Callable[[], None],
        stop: threading.Event,
        ours: Callable[[int], bool] | None = None,
    ) -> None:
        super().__init__(name="casestore-listen", daemon=True)
        self.url, self.channel, self.wake, self.stop = url, channel, wake, stop
        #: NOTIFYs sent by a session for which ``ours(pid)`` is true wake nobody (their
        #: batch is handed over in process).
        self.ours = ours
        self.listening = threading.Event()  # set once LISTEN is on and the wake it owes sent

    def run(self) -> None:
        import psycopg

        while not self.stop.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True) as conn:
                    conn.execute(f"LISTEN {self.channel}")
                    self.wake()  # anything committed while we were not listening
                    self.listening.set()
                    while not self.stop.is_set():
                        for note in conn.notifies(timeout=0.5, stop_after=1):
                            if self.ours is None or not self.ours(note.pid):
                                self.wake()
            except psycopg.Error as e:
                log.warning("LISTEN connection lost (%s); polling until it is back", e)
                self.stop.wait(1.0)


class ProjectionThread(threading.Thread):
    """Elect, prepare and tail one projection until stopped."""

    def __init__(
        self,
        source: LogSource,
        db: ViewDB,
        projection: Projection[Any],
        stop: threading.Event,
        *,
        poll_interval: float = 0.5,
        standby_interval: float = 0.5,
        batch: int = 1000,
        before_commit: BatchHook | None = None,
        on_commit: Callable[[str, int], None] | None = None,
    ) -> None:
        super().__init__(name=f"casestore-projection-{projection.name}", daemon=True)
        self.source, self.db, self.projection = source, db, projection
        self.stop_event = stop
        self.wake_event = threading.Event()
        self.poll_interval, self.standby_interval = poll_interval, standby_interval
        self.batch = batch
        self.before_commit, self.on_commit = before_commit, on_commit
        self.election = election_for(db, projection.name)
        self.active = False
        self.position = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop_event.is_set():
                try:
                    elected = self.election.acquire()
                except OSError as e:  # e.g. the lock file cannot be created
                    self.error = e
                    elected = False
                if not elected:
                    self.stop_event.wait(self.standby_interval)
                    continue
                try:
                    self._serve()
                except Exception as e:  # keep the process alive; report and retry
                    self.error = e
                    log.exception("projection %s failed; retrying", self.projection.name)
                    self.stop_event.wait(min(5.0, self.poll_interval * 4))
                finally:
                    self.active = False
        finally:
            self.election.release()

    def _serve(self) -> None:
        prepare(self.source, self.db, self.projection)
        worker = Worker(
            self.source,
            self.db,
            self.projection,
            batch=self.batch,
            before_commit=self.before_commit,
            on_commit=self._committed,
        )
        self.position, self.active = worker.position, True
        log.info("projection %s active at position %d", self.projection.name, worker.position)
        checked = time.monotonic()
        while not self.stop_event.is_set():
            if time.monotonic() - checked > 2.0:
                if not self.election.held():
                    log.warning("projection %s lost its election", self.projection.name)
                    return
                checked = time.monotonic()
            self.wake_event.clear()
            if worker.catch_up(stop=self.stop_event) == 0:
                self.error = None
                worker.bind_tree()  # ahead of the tree worker: its root, once it is there
                self.wake_event.wait(self.poll_interval)

    def _committed(self, name: str, position: int) -> None:
        self.position = position
        if self.on_commit is not None:
            self.on_commit(name, position)


def prepare(source: LogSource, db: ViewDB, projection: Projection[Any]) -> None:
    """Create the live tables, or rebuild them blue/green if the projection's version moved."""
    if create_target(db, projection):
        return
    row = db.tracking(projection.name)
    if row is not None and row.version != projection.version:
        log.warning(
            "projection %s is version %d in the database, %d in code: rebuilding",
            projection.name,
            row.version,
            projection.version,
        )
        rebuild_into(source, db, projection)


class EmbeddedWorkers:
    """Projection workers as threads of the calling process (the API's ``serve``).

    ``wait_for(position)`` blocks until every running projection has applied the log
    up to a position: read-your-writes after a command.
    """

    def __init__(
        self,
        app: EventLog,
        names: Iterable[str] | None = None,
        *,
        db: ViewDB | None = None,
        poll_interval: float = 0.5,
        batch: int = 1000,
        before_commit: BatchHook | None = None,
    ) -> None:
        self.app = app
        self.projections = select(list(names or []))
        self._own_db = db is None
        self.db = db or ViewDB(app.db_url)
        self.source = LogSource(app)
        self.stop_event = threading.Event()
        self._progress = threading.Condition()
        self.threads = [
            ProjectionThread(
                self.source,
                self.db,
                p,
                self.stop_event,
                poll_interval=poll_interval,
                batch=batch,
                before_commit=before_commit,
                on_commit=self._committed,
            )
            for p in self.projections
        ]
        self._listener: NotifyListener | None = None
        self._started = False

    def start(self) -> EmbeddedWorkers:
        self.app.add_commit_listener(self._on_commit)
        if self.db.backend == "postgres":
            self._listener = NotifyListener(
                self.db.url, self.app.events_table, self.wake, self.stop_event
            )
            self._listener.start()
        for thread in self.threads:
            thread.start()
        self._started = True
        return self

    def wake(self) -> None:
        for thread in self.threads:
            thread.wake_event.set()

    def _on_commit(self, position: int) -> None:
        self.wake()

    def _committed(self, name: str, position: int) -> None:
        with self._progress:
            self._progress.notify_all()

    def positions(self) -> dict[str, int]:
        """Each projection's live position (from the database: another process may lead)."""
        rows = {r.key: r.position for r in self.db.all_tracking()}
        return {p.name: rows.get(p.name, 0) for p in self.projections}

    def wait_for(self, position: int, timeout: float = 10.0) -> bool:
        """True once every projection reached ``position``; False on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            if all(pos >= position for pos in self.positions().values()):
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with self._progress:
                self._progress.wait(min(remaining, 0.1))

    def errors(self) -> dict[str, str]:
        return {t.projection.name: repr(t.error) for t in self.threads if t.error is not None}

    def stop(self, timeout: float = 10.0) -> None:
        self.stop_event.set()
        self.wake()
        self.app.remove_commit_listener(self._on_commit)
        if self._started:
            for thread in self.threads:
                thread.join(timeout)
            if self._listener is not None:
                self._listener.join(timeout)
        self.source.close()
        if self._own_db:
            self.db.close()

    def __enter__(self) -> EmbeddedWorkers:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
