"""Planning one group-commit batch: conflicts, idempotency, positions and hash chain.

Backend-neutral: a recorder reads the heads under its write lock, asks
:func:`plan_batch` what to insert, inserts it and commits, then completes each
request. A version conflict fails only its own request; the others commit.

``recorded_at`` is monotone in position order: an event stamped earlier than the last
one in the log (a server clock that stepped back, or two hosts whose clocks disagree)
is recorded at the last one's moment instead, under the same write lock that assigns
positions, and the step is counted (``Plan.stepped_back``) so the recorder can log it.
As-of reads (``recorded_at <= t``) then always see a prefix of the log.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError, OperationalError, StoredEvent

from casestore.store.integrity import GENESIS, chain_hash, event_hash

#: A row another table needs written with an event, in its transaction: (SQL with ``?``
#: marks, values). Today: a subject's new data key or link (``subjectkeys.SubjectKey``).
SideRow = tuple[str, tuple[Any, ...]]


@dataclass(frozen=True)
class TimedStoredEvent(StoredEvent):
    """A stored event that also carries its ``recorded_at`` (kept in its own column) and
    the side rows to write with it (``side_rows``; idempotent statements, written only
    if the event is), and the ids of the existing data keys its personal fields were
    sealed under (``sealed_under``: the commit checks them live, see ``keyguard``)."""

    recorded_at_us: int = 0
    side_rows: tuple[SideRow, ...] = ()
    sealed_under: tuple[str, ...] = ()


@dataclass(frozen=True)
class Duplicate:
    """What an earlier command with the same idempotency key recorded."""

    key: str
    originator_id: UUID
    version: int
    position: int


class DuplicateCommand(IntegrityError):
    """The idempotency key was already used; carries the first command's outcome."""

    def __init__(self, duplicate: Duplicate) -> None:
        super().__init__(f"idempotency key {duplicate.key!r} was already used")
        self.duplicate = duplicate


class VersionConflict(IntegrityError):
    """An aggregate moved on since the command read it."""


class CommitQueueTimeout(OperationalError):
    """A request waited its bound in the group-commit queue and left it unwritten.

    Raised only for a request that never joined a batch: none of its events were sent
    to the database, so a retry (with the same idempotency key or without one) cannot
    write it twice.
    """


class AppendRequest:
    """One caller's events, waiting to be committed with others.

    ``done`` is a lock created held: the committer releases it once the request is
    complete (or promoted to lead), and a waiting caller blocks by acquiring it. A bare
    lock rather than a ``threading.Event``: one is made per command.
    """

    __slots__ = ("done", "error", "events", "idempotency_key", "positions", "promoted")

    def __init__(self, events: Sequence[StoredEvent], idempotency_key: str | None = None) -> None:
        self.events = events
        self.idempotency_key = idempotency_key
        self.positions: list[int] | None = None
        self.error: BaseException | None = None
        self.done = threading.Lock()
        self.done.acquire()
        self.promoted = False  # woken to lead the next batch

    @property
    def originator_ids(self) -> set[UUID]:
        return {_uuid(e.originator_id) for e in self.events}


@dataclass(frozen=True)
class Row:
    """One event ready to insert."""

    position: int
    originator_id: UUID
    version: int
    topic: str
    state: bytes
    recorded_at_us: int
    event_hash: bytes
    chain_hash: bytes


@dataclass
class Plan:
    """What one batch inserts, and each request's outcome."""

    rows: list[Row] = field(default_factory=list)
    keys: list[tuple[str, UUID, int, int]] = field(default_factory=list)
    #: The side rows of the events in ``rows``, each once, in order.
    side_rows: list[SideRow] = field(default_factory=list)
    outcomes: dict[int, list[int] | BaseException] = field(default_factory=dict)
    #: Events whose clock reading was earlier than the log's last ``recorded_at``, and
    #: the largest such step back in microseconds.
    stepped_back: int = 0
    largest_step_us: int = 0


def _uuid(value: UUID | str) -> UUID:
    return value if isinstance(value, UUID) else UUID(value)


def plan_batch(
    requests: Iterable[AppendRequest],
    heads: dict[UUID, tuple[int, bytes]],
    last_position: int,
    last_chain: bytes | None,
    used_keys: dict[str, Duplicate],
    last_recorded_us: int = 0,
) -> Plan:
    """Decide each request against the heads read under the write lock.

    ``last_recorded_us`` is the log's last ``recorded_at``: no row is stamped earlier.
    """
    plan = Plan()
    chain = last_chain or GENESIS
    position = last_position
    floor = last_recorded_us
    heads = dict(heads)
    seen_keys = dict(used_keys)
    sides: dict[SideRow, None] = {}  # in order, each once
    for n, request in enumerate(requests):
        if request.idempotency_key and request.idempotency_key in seen_keys:
            plan.outcomes[n] = DuplicateCommand(seen_keys[request.idempotency_key])
            continue
        trial: dict[UUID, tuple[int, bytes]] = {}
        hashed: list[tuple[UUID, Any, bytes, int]] = []
        conflict: str | None = None
        at = floor
        # The caller's order is kept (eventsourcing gives each aggregate's events in
        # version order), so a batch written in time order reads back in time order.
        for ev in request.events:
            oid = _uuid(ev.originator_id)
            version, prev = trial.get(oid) or heads.get(oid, (0, GENESIS))
            if ev.originator_version != version + 1:
                conflict = (
                    f"{oid} is at version {version}; the command produced version "
                    f"{ev.originator_version}"
                )
                break
            micros = getattr(ev, "recorded_at_us", 0)
            at = max(at, micros)
            ev_hash = event_hash(prev, oid, ev.originator_version, ev.topic, ev.state, at)
            trial[oid] = (ev.originator_version, ev_hash)
            hashed.append((oid, ev, ev_hash, at))
        if conflict is not None:
            plan.outcomes[n] = VersionConflict(conflict)
            continue
        positions = []
        for oid, ev, ev_hash, at in hashed:
            for side in getattr(ev, "side_rows", ()):
                sides.setdefault(side)
            step = at - getattr(ev, "recorded_at_us", 0)
            if step > 0:
                plan.stepped_back += 1
                plan.largest_step_us = max(plan.largest_step_us, step)
            position += 1
            chain = chain_hash(chain, ev_hash)
            plan.rows.append(
                Row(
                    position,
                    oid,
                    ev.originator_version,
                    ev.topic,
                    ev.state,
                    at,
                    ev_hash,
                    chain,
                )
            )
            positions.append(position)
            floor = at
        heads.update(trial)
        plan.outcomes[n] = positions
        if request.idempotency_key and hashed:
            last_oid, last_ev, _, _ = hashed[-1]
            dup = Duplicate(request.idempotency_key, last_oid, last_ev.originator_version, position)
            seen_keys[request.idempotency_key] = dup
            plan.keys.append((dup.key, dup.originator_id, dup.version, dup.position))
    plan.side_rows = list(sides)
    return plan


class GroupCommitter:
    """Leader/follower group commit: no fixed delay, no extra thread.

    The first caller to find no batch in flight leads: it takes everything queued
    (up to ``max_batch``), commits it in one transaction and completes every request,
    then hands the lead to the oldest waiting request. While a commit is in flight new
    requests queue up, so batches grow exactly as fast as the database is slow. An
    uncontended caller commits its own request directly, with no thread hand-off.

    With ``in_flight=2`` the lead passes as soon as a batch is taken, and the next
    leader may send its batch while the first still commits: it waits at the database
    for the write lock (on PostgreSQL that wait is server-side and ends the moment the
    commit does), which saves the client's round trip between two commits. It does so
    only once it has gathered half as many requests as the last two batches held on
    average (at least two);
    until then it waits for the commit in flight and takes everything queued when it
    ends. Without that gate a lone request would overlap every large batch, and the
    writers would settle into batches of one and of all-but-one, paying a commit for
    a single command every other time. The database's write lock keeps commit order
    equal to position order either way.
    """

    def __init__(
        self,
        commit: Callable[[list[AppendRequest]], None],
        *,
        max_batch: int = 256,
        in_flight: int = 1,
        queue_wait: float | None = None,
    ) -> None:
        self._commit = commit
        self._max_batch = max_batch
        self._max_in_flight = in_flight
        #: Seconds a request may wait in the queue before it leaves it unwritten (None:
        #: no bound). Set from ``Settings.commit_queue_wait`` by the application.
        self.queue_wait = queue_wait
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._queue: list[AppendRequest] = []
        self._leading = False
        self._in_flight = 0
        self._recent = [0, 0]  # sizes of the last two batches
        self._waiting_for = 0  # queue length the waiting leader needs to overlap (0: none)

    def submit(self, request: AppendRequest) -> list[int]:
        """Block until the request's transaction committed (or failed).

        A request still *queued* when ``queue_wait`` seconds have passed — not taken into
        a batch, so provably unwritten — leaves the queue and raises
        :class:`CommitQueueTimeout`. One already taken into a batch waits for that
        batch's outcome however long it takes: it may commit.
        """
        bound = self.queue_wait
        deadline = None if bound is None else time.monotonic() + bound
        with self._lock:
            self._queue.append(request)
            lead = not self._leading
            if lead:
                self._leading = True
            elif self._waiting_for and len(self._queue) >= self._waiting_for:
                self._changed.notify()
        if not lead:
            self._follow(request, deadline)  # returns when complete, or promoted to lead
            if not request.promoted:
                return self._result(request)
        self._lead(request, deadline)
        return self._result(request)

    def _follow(self, request: AppendRequest, deadline: float | None) -> None:
        """Wait until the request is complete or promoted to lead; leave the queue (and
        raise) if the deadline passes while it is still only queued."""
        if deadline is None:
            request.done.acquire()
            return
        remaining = deadline - time.monotonic()
        if remaining > 0 and request.done.acquire(timeout=remaining):
            return
        with self._lock:
            # Taken into a batch (its outcome is coming) or chosen to lead (its ``done``
            # is about to be released): it stays. Otherwise it leaves, atomically with
            # respect to every leader, which takes requests only under this lock.
            leaves = not request.promoted and _remove(self._queue, request)
        if leaves:
            raise self._timed_out()
        request.done.acquire()

    def _lead(self, request: AppendRequest, deadline: float | None = None) -> None:
        timed_out = False
        successor: AppendRequest | None = None
        with self._lock:
            while self._in_flight:
                if self._in_flight < self._max_in_flight:
                    enough = max(2, sum(self._recent) // 4)
                    if len(self._queue) >= enough:
                        break
                    self._waiting_for = enough
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    timed_out = True
                    break
                self._changed.wait(remaining)
            self._waiting_for = 0
            if timed_out:
                # Still queued behind a batch that has not finished: leave unwritten, and
                # hand the lead to the oldest request still waiting (if any).
                _remove(self._queue, request)
                successor = self._promote_locked()
            else:
                batch = self._queue[: self._max_batch]
                del self._queue[: self._max_batch]
                self._in_flight += 1
                self._recent = [self._recent[1], len(batch)]
        if timed_out:
            if successor is not None:
                successor.done.release()
            raise self._timed_out()
        if self._max_in_flight > 1:
            self._pass_lead()
        try:
            self._commit(batch)
        except BaseException as e:  # the whole transaction failed: every request fails
            for r in batch:
                if r.positions is None and r.error is None:
                    r.error = e
        finally:
            with self._lock:
                self._in_flight -= 1
                self._changed.notify()
            for r in batch:
                r.done.release()
            if self._max_in_flight == 1:
                self._pass_lead()

    def _timed_out(self) -> CommitQueueTimeout:
        return CommitQueueTimeout(
            f"the command waited {self.queue_wait or 0:g} s behind a write the database has "
            "not finished and was withdrawn unwritten; nothing was recorded, retry later"
        )

    def _pass_lead(self) -> None:
        """Wake the oldest waiting request to lead the next batch (or stop leading)."""
        with self._lock:
            successor = self._promote_locked()
        if successor is not None:
            successor.done.release()

    def _promote_locked(self) -> AppendRequest | None:
        """Under the lock: mark the oldest queued request to lead (its ``done`` is to be
        released once the lock is let go), or stop leading when none waits."""
        if not self._queue:
            self._leading = False
            return None
        successor = self._queue[0]
        successor.promoted = True
        return successor

    @staticmethod
    def _result(request: AppendRequest) -> list[int]:
        if request.error is not None:
            raise request.error
        assert request.positions is not None
        return request.positions


def _remove(queue: list[AppendRequest], request: AppendRequest) -> bool:
    """Take ``request`` (by identity) out of ``queue``; whether it was there."""
    for n, queued in enumerate(queue):
        if queued is request:
            del queue[n]
            return True
    return False
