"""Operations behind ``casestore project run|rebuild|status`` (called by the CLI).

- ``run``: long-running workers, one thread per projection, until SIGINT/SIGTERM; on
  PostgreSQL start the same command on several machines: one worker per projection
  is active (advisory lock), the others stand by and take over when it dies.
- ``rebuild``: blue/green. Builds into fresh tables beside the live ones (which keep
  serving), then swaps them in with one transaction once caught up; a running live
  worker continues from the swapped-in position. ``--target NAME`` keeps the result
  beside the live view instead (query both side by side); ``--until TIME`` applies only
  events recorded at or before TIME and freezes the result there. A past-time build
  never replaces the live view: without ``--target`` it is named ``asof_<TIME>``.
- ``status``: one line per projection target with position, head and lag, and
  ``DEGRADED`` with the positions of events it parked (``engine.parking``).
- ``retry``: re-apply a projection's parked events after a fix: a blue/green rebuild
  of its live view (a fold must see each case's events in order); what still fails is
  parked again. Prints what is still parked.

Each takes the event log (:class:`~.port.EventLog`) the caller opened through the
composition root, and leaves closing it to the caller.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from datetime import UTC, datetime
from types import FrameType

from casestore.domain.errors import InvalidCommand
from casestore.timeutil import to_micros

from ..engine.db import ViewDB
from ..engine.parking import parked_events
from .live import EmbeddedWorkers
from .logsource import LogSource
from .port import EventLog
from .registry import get_projection
from .status import statuses
from .worker import RebuildResult, rebuild_into

log = logging.getLogger("casestore.projections.run")


def run(
    events: EventLog, names: list[str], *, poll_interval: float = 0.5, batch: int = 1000
) -> None:
    """Run workers for ``names`` (all registered projections when empty) until signalled."""
    workers = EmbeddedWorkers(events, names, poll_interval=poll_interval, batch=batch)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    workers.start()
    log.info(
        "projection workers for %s started",
        ", ".join(p.name for p in workers.projections),
        extra={"projections": [p.name for p in workers.projections]},
    )
    try:
        while not stop.wait(1.0):
            for name, error in workers.errors().items():
                log.warning("%s: %s (retrying)", name, error, extra={"projection": name})
    finally:
        workers.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        log.info("projection workers stopped")


def default_target(until: datetime) -> str:
    """The name a past-time build gets when none is given (asof_20250301t000000)."""
    return "asof_" + until.astimezone(UTC).strftime("%Y%m%dt%H%M%S")


def rebuild(
    events: EventLog,
    name: str,
    until: datetime | None = None,
    target: str | None = None,
    *,
    batch: int = 10_000,
    quiet: bool = False,
) -> None:
    """Rebuild one projection blue/green (see the module docstring)."""
    result = rebuild_projection(events, name, until=until, target=target, batch=batch, quiet=quiet)
    where = f"target {result.target!r}" if result.target else "the live view"
    print(
        f"{name}: rebuilt into {where} at position {result.position} "
        f"({result.events} events, {result.seconds:.1f} s, {result.events_per_second:,.0f}/s)"
    )


def rebuild_projection(
    events: EventLog,
    name: str,
    *,
    until: datetime | None = None,
    target: str | None = None,
    batch: int = 10_000,
    quiet: bool = True,
) -> RebuildResult:
    """The library form of :func:`rebuild`: returns what was built."""
    if until is not None and until.tzinfo is None:
        raise InvalidCommand("--until needs a time zone (e.g. 2025-03-01T00:00:00+08:00)")
    projection = get_projection(name)
    chosen = target if target is not None else (default_target(until) if until else "")
    db = ViewDB(events.db_url)
    source = LogSource(events)
    last = [0.0]

    def progress(projection_name: str, position: int, head: int) -> None:
        now = datetime.now(UTC).timestamp()
        if not quiet and (now - last[0] > 2 or position >= head):
            last[0] = now
            _err(f"{projection_name}: {position}/{head}")

    try:
        return rebuild_into(
            source,
            db,
            projection,
            target=chosen,
            until_us=to_micros(until) if until is not None else None,
            batch=batch,
            progress=progress,
        )
    finally:
        source.close()
        db.close()


def retry(events: EventLog, name: str, *, batch: int = 10_000) -> list[int]:
    """Re-apply ``name``'s parked events (see the module docstring); the positions still
    parked afterwards (empty when the fix worked)."""
    projection = get_projection(name)
    db = ViewDB(events.db_url)
    try:
        before = [p.position for p in parked_events(db, projection.name)]
    finally:
        db.close()
    result = rebuild_projection(events, name, batch=batch)
    db = ViewDB(events.db_url)
    try:
        after = [p.position for p in parked_events(db, projection.name)]
    finally:
        db.close()
    done = sorted(set(before) - set(after))
    print(
        f"{name}: rebuilt at position {result.position}; re-applied {len(done)} parked "
        f"event(s){': ' + ', '.join(map(str, done)) if done else ''}; "
        f"still parked: {', '.join(map(str, after)) if after else 'none'}"
    )
    return after


def status(events: EventLog) -> list[str]:
    """Human-readable lines: name, position, head, lag (events and seconds)."""
    db = ViewDB(events.db_url)
    source = LogSource(events)
    try:
        found = statuses(db, source)
        if not found:
            return [f"no projections yet (log head {source.head()}); start `casestore project run`"]
        return [s.line() for s in found]
    finally:
        source.close()
        db.close()


def _err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
