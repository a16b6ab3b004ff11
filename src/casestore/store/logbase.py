"""What both casestore recorders share: table names, the log-reading API and the
group-committing ``insert_events`` (the backends differ only in how a batch commits).

Positions (notification ids) are assigned explicitly under the write lock, one more
than the last, so the global chain follows id order by construction and there are no
gaps. Writers are serialised as eventsourcing's are: commit order equals id order,
which is what lets a tailing reader never skip.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.persistence import DataError, InterfaceError, OperationalError, StoredEvent

from casestore.store.batch import AppendRequest, Duplicate, GroupCommitter, Plan
from casestore.store.contracts import check_request
from casestore.store.integrity import LogRow

EVENTS_TABLE = "casestore_events"
KEYS_TABLE = "casestore_idempotency"
#: First-writer-wins: what each idempotency key was first used for (a fingerprint of the
#: staff member, the command, its target and its body); append-only like the keys.
BINDINGS_TABLE = "casestore_idempotency_bindings"
APPEND_ONLY_MESSAGE = "casestore: the event log is append-only"
#: The advisory lock key every casestore writer holds from its first read of the heads
#: until its commit (an arbitrary constant: "CSEVENTS" in ASCII).
WRITE_LOCK_KEY = 0x4353_4556_454E_5453

#: The server-side append of one batch (created with the schema, see ``_APPEND_SQL``).
APPEND_FUNCTION = "casestore_append_v3"

#: A step back of ``recorded_at`` up to this many microseconds is ordinary skew between
#: concurrent writers, not a clock that stepped back: a command stamps its events when it
#: decides, then waits its turn in the group commit, so under load a stamp taken a few
#: commits earlier can reach the log just after a later one (through ``casestore serve``
#: at 8 and 32 clients, 6-19 % of batches, by up to ~40 ms; each logged a warning). Such
#: events are floored and counted (``clock_steps_back``)
#: without a log line. A larger step — a server clock stepped back (NTP, a VM restored),
#: or writers on hosts whose clocks disagree — is logged as a warning.
CLOCK_STEP_WARN_US = 1_000_000
#: Seconds between two clock warnings of one recorder: a clock that stays behind the log
#: warns at once, then once per interval with the count of steps since the last line.
CLOCK_WARN_INTERVAL_S = 60.0

CommitListener = Callable[[int], None]


@dataclass(frozen=True)
class CommittedBatch:
    """What one group-commit batch of this process appended, as the log now holds it.

    ``rows`` are the events in position order, each ``(position, aggregate id as text,
    version, topic, stored state, recorded_at µs, event hash, chain hash)`` (the shape
    the read side's log scan gives; the hashes are None where the recorder did not
    compute them in process), or None when the recorder cannot tell every row's
    ``recorded_at`` without reading it back (a listener then reads ``first``..``last``).
    """

    first: int
    last: int
    rows: list[tuple[Any, ...]] | None


#: Called in the committing thread right after a batch committed (see ``CommittedBatch``).
BatchListener = Callable[[CommittedBatch], None]
_HEADS_CACHED = 50_000
_log = logging.getLogger("casestore.store")


class LogReader:
    """The read API shared by both recorders (log scans, as-of look-ups, keys)."""

    commit_listeners: list[CommitListener]
    #: Handed each committed batch's rows (the stream hub: no read back of its own commits).
    batch_listeners: list[BatchListener]
    #: Events this recorder stamped later than their clock reading because the clock
    #: had stepped back behind the log's last ``recorded_at`` (see ``batch``), any step.
    clock_steps_back: int = 0
    #: Of those, the events floored by more than ``CLOCK_STEP_WARN_US``.
    clock_large_steps_back: int = 0
    _clock_warned_at: float | None = None  # monotonic time of the last clock warning
    _clock_unwarned: int = 0  # large steps since that warning, not yet in a log line
    _clock_lock = threading.Lock()  # one for all recorders, taken only when a batch floored

    def close(self) -> None:
        """Release connections the recorder keeps outside eventsourcing's pool."""

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

    def bind_key(self, key: str, binding: str) -> str:
        """Bind ``key`` to ``binding`` unless it is bound already; the binding in force.

        The first request to use a key binds it, in its own committed statement and
        before its command is appended: every later request with that key must carry
        the same binding, whatever became of the first (a refused first command leaves
        the key bound, so only an identical retry may use it)."""
        raise NotImplementedError

    def _count_steps_back(self, plan: Plan) -> None:
        self._record_steps_back(plan.stepped_back, plan.largest_step_us)

    def _record_steps_back(self, events: int, largest_us: int) -> None:
        """Count a batch's floored events; warn (rate-limited) only for a step back beyond
        ordinary concurrent-writer skew (``CLOCK_STEP_WARN_US``)."""
        if not events:
            return
        large = largest_us > CLOCK_STEP_WARN_US
        with self._clock_lock:  # two leaders may finish batches at once
            self.clock_steps_back += events
            if not large:
                return
            self.clock_large_steps_back += events
            self._clock_unwarned += events
            now = time.monotonic()
            if self._clock_warned_at is not None and (
                now - self._clock_warned_at < CLOCK_WARN_INTERVAL_S
            ):
                return
            self._clock_warned_at = now
            unwarned, self._clock_unwarned = self._clock_unwarned, 0
        _log.warning(
            "server clock behind the log: %d event(s) recorded at the last recorded_at "
            "instead since the last warning (largest step back in this batch %.6f s; "
            "%d floored by more than %.1f s so far, %d by any step)",
            unwarned,
            largest_us / 1e6,
            self.clock_large_steps_back,
            CLOCK_STEP_WARN_US / 1e6,
            self.clock_steps_back,
        )

    def _notify_listeners(self, position: int) -> None:
        for listener in list(self.commit_listeners):
            listener(position)

    def _hand_over(self, plan: Plan) -> None:
        """Hand a committed plan's rows to the batch listeners (built only if any)."""
        listeners = list(self.batch_listeners)
        if not listeners or not plan.rows:
            return
        rows = [
            (
                r.position,
                str(r.originator_id),
                r.version,
                r.topic,
                r.state,
                r.recorded_at_us,
                r.event_hash,
                r.chain_hash,
            )
            for r in plan.rows
        ]
        committed = CommittedBatch(rows[0][0], rows[-1][0], rows)
        for listener in listeners:
            listener(committed)

    def writes_from(self, backend_pid: int) -> bool:
        """Whether a database session of this id is one this recorder appends through
        (a NOTIFY it sent announces a batch the batch listeners are handed)."""
        return False


class GroupCommitting(LogReader):
    """``insert_events`` through the group committer; subclasses define ``_commit_batch``.

    ``last_write_failure`` remembers why the last append failed for the database's
    reasons (unreachable, full disk, read-only, lock timeout) until one succeeds, so
    ``/health`` can say truthfully that commands cannot be taken.
    """

    committer: GroupCommitter
    last_write_failure: tuple[float, str] | None = None

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if not stored_events:
            return []
        check_request(stored_events, kwargs.get("idempotency_key"))
        try:
            positions = self.committer.submit(
                AppendRequest(stored_events, idempotency_key=kwargs.get("idempotency_key"))
            )
        except (OperationalError, InterfaceError) as e:
            self.last_write_failure = (time.time(), f"{type(e).__name__}: {e}")
            raise
        self.last_write_failure = None
        return positions


def admit(batch: list[AppendRequest]) -> list[AppendRequest]:
    """The requests of a batch that can be written; each other one fails alone.

    ``insert_events`` checks a request before it joins a batch; this guards code that
    hands requests to the committer directly.
    """
    admitted = []
    for request in batch:
        try:
            check_request(request.events, request.idempotency_key)
        except DataError as e:
            request.error = e
        else:
            admitted.append(request)
    return admitted


def complete_requests(batch: list[AppendRequest], plan: Plan) -> None:
    for n, request in enumerate(batch):
        outcome = plan.outcomes[n]
        if isinstance(outcome, BaseException):
            request.error = outcome
        else:
            request.positions = outcome
