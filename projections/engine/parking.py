"""Dead letters: an event a projection's handler cannot apply is parked, the view goes on.

One bad event must never stop a view (an append-only log cannot drop it). When a
handler raises while applying a batch, the batch is re-applied one event at a time,
each inside a savepoint; an event that fails again is rolled back to its savepoint and
recorded here, for that target of that projection, with the error — in the same
transaction that moves the position, so exactly-once still holds: every event is
either applied or parked, once. Marten and KurrentDB keep dead letters the same way.

Infrastructure errors (the database gone, a lock timeout, a full disk) are not the
event's fault: they are never parked, the batch fails whole and is retried.

``casestore project retry NAME`` re-applies the parked events after a fix by rebuilding
the projection blue/green (a fold must see a case's events in order, so re-applying
one event on its own could not be right); what still fails is parked again in the
new build, and its parked rows replace the old ones when it is swapped in.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import Any

import eventsourcing.persistence as es
import psycopg

from .events import LogEvent
from .sql import Tx

PARKED = "projection_parked"
PARKED_DDL = (
    f"CREATE TABLE IF NOT EXISTS {PARKED} (key TEXT NOT NULL, projection TEXT NOT NULL, "
    "position BIGINT NOT NULL, aggregate_id TEXT NOT NULL, event TEXT NOT NULL, "
    "error TEXT NOT NULL, parked_at_us BIGINT NOT NULL, PRIMARY KEY (key, position))"
)
_INFRASTRUCTURE: tuple[type[BaseException], ...] = (
    sqlite3.InterfaceError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
    es.OperationalError,
    es.InterfaceError,
    ConnectionError,
    TimeoutError,
    MemoryError,
)

_SQLITE_TRANSIENT = ("locked", "busy", "disk", "full", "readonly", "unable to open", "i/o")


@dataclass(frozen=True)
class ParkedEvent:
    """One event a target of a projection could not apply."""

    key: str  # the target's tracking key (projection name, or name__target)
    projection: str
    position: int
    aggregate_id: str
    event: str  # "Case.Accepted"
    error: str
    parked_at_us: int


class HandlerFailed(Exception):
    """A projection's handler raised for an event of the batch (not the database)."""


def is_infrastructure(error: BaseException) -> bool:
    """True when the database, not the event, made the batch fail (never parked)."""
    current: BaseException | None = error
    while current is not None:
        if isinstance(current, _INFRASTRUCTURE):
            return True
        # sqlite3 calls a missing column "operational" too: only these are the database's.
        if isinstance(current, sqlite3.OperationalError) and any(
            word in str(current).lower() for word in _SQLITE_TRANSIENT
        ):
            return True
        current = current.__cause__
    return False


def park(tx: Tx, key: str, projection: str, event: LogEvent, error: BaseException) -> None:
    """Record one event as parked for one target (in the batch's transaction)."""
    text = f"{type(error).__name__}: {error}"[:2000]
    tx.execute(
        f"INSERT INTO {PARKED} (key, projection, position, aggregate_id, event, error, "
        "parked_at_us) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (key, position) "
        "DO UPDATE SET error = excluded.error, parked_at_us = excluded.parked_at_us",
        (key, projection, event.position, event.aggregate_id, event.key, text, _now_us()),
    )


def move_parked(tx: Tx, source_key: str, dest_key: str) -> None:
    """A swap: the destination's parked events become the swapped-in build's."""
    tx.execute(f"DELETE FROM {PARKED} WHERE key = %s", (dest_key,))
    tx.execute(f"UPDATE {PARKED} SET key = %s WHERE key = %s", (dest_key, source_key))


def drop_parked(tx: Tx, key: str) -> None:
    tx.execute(f"DELETE FROM {PARKED} WHERE key = %s", (key,))


def parked_events(db: Any, key: str | None = None) -> list[ParkedEvent]:
    """Parked events of one target (all targets when ``key`` is None), by position."""
    where, params = ("WHERE key = %s", (key,)) if key is not None else ("", ())
    rows = db.rows(
        "SELECT key, projection, position, aggregate_id, event, error, parked_at_us "
        f"FROM {PARKED} {where} ORDER BY key, position",
        params,
    )
    return [ParkedEvent(**r) for r in rows]


def _now_us() -> int:
    return time.time_ns() // 1000
