"""Where each projection stands: position, head, lag in events and seconds, who is active,
and the Merkle tree (size and root) it recorded it was built to."""

from __future__ import annotations

import base64
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from ..engine.base import micros_to_datetime
from ..engine.db import TrackingRow, ViewDB
from ..engine.parking import parked_events
from .logsource import LogSource


@dataclass(frozen=True)
class ProjectionStatus:
    """One target of one projection.

    ``lag_seconds`` is how long the oldest event not yet applied has been waiting
    (0 when caught up). A frozen target (built as of a past moment) has no lag.
    """

    name: str
    target: str  # '' = live
    kind: str  # live | target | scratch
    version: int
    position: int
    head: int
    lag_events: int
    lag_seconds: float
    until: datetime | None
    upto: int | None
    updated_at: datetime
    active: str | None = None  # the elected worker (PostgreSQL), when known
    parked: tuple[int, ...] = ()  # positions of events this target could not apply
    tree_size: int | None = None  # the tree recorded with the position (see treebind)
    tree_root: str | None = None  # its root, base64 as checkpoints write it; None: pending

    @property
    def frozen(self) -> bool:
        return self.until is not None or self.upto is not None

    def line(self) -> str:
        label = self.name + (f" [{self.target}]" if self.target else "")
        if self.kind == "scratch":
            label += " (rebuild in progress or abandoned)"
        text = f"{label:<34} position {self.position:>10}  head {self.head:>10}  "
        if self.frozen:
            bound = f"until {self.until.isoformat()}" if self.until else f"upto {self.upto}"
            return text + f"frozen ({bound})"
        text += f"lag {self.lag_events} events {self.lag_seconds:.1f} s"
        text += f"  tree root {self.tree_root or 'pending'}"
        if self.active:
            text += f"  active: {self.active}"
        if self.parked:
            shown = ", ".join(str(p) for p in self.parked[:10])
            more = f" (+{len(self.parked) - 10} more)" if len(self.parked) > 10 else ""
            text += f"  DEGRADED: {len(self.parked)} parked at {shown}{more}"
        return text


def statuses(
    db: ViewDB, source: LogSource, *, now: datetime | None = None
) -> list[ProjectionStatus]:
    """Every tracked target, live views first."""
    head = source.head()
    moment = now or datetime.now(UTC)
    active = _active_workers(db)
    parked: dict[str, list[int]] = {}
    for p in parked_events(db):
        parked.setdefault(p.key, []).append(p.position)
    out = []
    for row in sorted(db.all_tracking(), key=lambda r: (r.kind != "live", r.projection, r.key)):
        status = _status(row, head, moment, source, active.get(row.projection))
        out.append(replace(status, parked=tuple(parked.get(row.key, ()))))
    return out


def _status(
    row: TrackingRow, head: int, now: datetime, source: LogSource, active: str | None
) -> ProjectionStatus:
    lag = 0 if row.frozen else max(head - row.position, 0)
    waiting = 0.0
    if lag:
        oldest = source.recorded_at(row.position + 1)
        waiting = max((now - oldest).total_seconds(), 0.0) if oldest else 0.0
    return ProjectionStatus(
        name=row.projection,
        target=row.target,
        kind=row.kind,
        version=row.version,
        position=row.position,
        head=head,
        lag_events=lag,
        lag_seconds=waiting,
        until=micros_to_datetime(row.until_us) if row.until_us is not None else None,
        upto=row.upto,
        updated_at=micros_to_datetime(row.updated_at_us),
        active=active if row.kind == "live" else None,
        **recorded_tree(row),
    )


def recorded_tree(row: TrackingRow) -> dict[str, Any]:
    """``tree_size`` and base64 ``tree_root`` a target recorded with its position (the
    root None while pending: ahead of the tree worker, or not recorded before schema 2)."""
    bound = row.tree_root is not None and row.tree_size == row.position
    return {
        "tree_size": row.position,
        "tree_root": base64.b64encode(row.tree_root).decode() if bound and row.tree_root else None,
    }


def _active_workers(db: ViewDB) -> dict[str, str]:
    """Projection -> the application_name of the session holding its election lock."""
    if db.backend != "postgres":
        return {}
    rows = db.rows(
        "SELECT a.application_name AS label FROM pg_locks l JOIN pg_stat_activity a "
        "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
        "AND a.application_name LIKE 'casestore-projection %%'"
    )
    found: dict[str, str] = {}
    for r in rows:
        parts = str(r["label"]).split(" ", 2)
        if len(parts) == 3:
            found[parts[1]] = parts[2]
    return found
