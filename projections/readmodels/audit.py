"""``audit``: every event's timeline entry (who, when recorded, when claimed, hash) and
per-actor activity counts by day, for auditors (审计) and inspectors (纪检监察).

Timeline rows cover cases, catalogue items and bundles (the case-number index is
left out: its one event repeats the case's ``Submitted``). No personal data is
stored: actors are staff, and event contents stay in the log.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from ..engine.base import (
    Column,
    Index,
    LogEvent,
    Projection,
    Table,
    Tx,
    local_day_iso,
    micros_to_datetime,
)
from ..engine.db import View

TIMELINE = Table(
    "audit_timeline",
    (
        Column("position", "int", not_null=True),
        Column("aggregate_id", not_null=True),
        Column("aggregate"),
        Column("version", "int"),
        Column("event_type"),
        Column("actor_staff"),
        Column("actor_role"),
        Column("actor_window"),
        Column("recorded_at_us", "int"),
        Column("occurred_at_us", "int"),
        Column("event_hash"),
    ),
    ("position",),
    (
        Index("aggregate", ("aggregate_id", "version")),
        Index("actor", ("actor_staff", "position")),
    ),
)
ACTIVITY = Table(
    "audit_activity",
    (
        Column("staff_id", not_null=True),
        Column("day", not_null=True),
        Column("role", not_null=True),
        Column("event_type", not_null=True),
        Column("events", "int"),
    ),
    ("staff_id", "day", "role", "event_type"),
    (Index("day", ("day",)),),
)
AUDITED = ("Case", "Item", "Bundle")


@dataclass
class _Batch:
    timeline: list[tuple[Any, ...]] = field(default_factory=list)
    activity: dict[tuple[str, str, str, str], int] = field(default_factory=dict)


def _record(b: _Batch, ev: LogEvent) -> None:
    actor = ev.actor()
    staff = actor["staff_id"]
    b.timeline.append(
        (  # in TIMELINE's column order
            ev.position,
            ev.aggregate_id,
            ev.aggregate,
            ev.version,
            ev.type,
            staff,
            actor["role"],
            actor["window"],
            ev.recorded_at_us,
            ev.occurred_at_us,
            ev.event_hash.hex(),
        )
    )
    if staff:
        # Activity is counted by the day the work was entered (recorded_at, local date).
        key = (staff, local_day_iso(ev.recorded_at_us), actor["role"], ev.type)
        b.activity[key] = b.activity.get(key, 0) + 1


class AuditProjection(Projection[_Batch]):
    """Timeline rows are inserted (a replay would clash, never double); counts are summed."""

    name = "audit"
    version = 1
    tables = (TIMELINE, ACTIVITY)

    def handles(self, event: LogEvent) -> bool:
        return event.aggregate in AUDITED

    def begin(self, tx: Tx, events: Sequence[LogEvent]) -> _Batch:
        return _Batch()

    def apply(self, tx: Tx, events: Sequence[LogEvent]) -> None:
        batch = self.begin(tx, events)
        for event in events:
            _record(batch, event)
        self.finish(tx, batch)

    def finish(self, tx: Tx, state: _Batch) -> None:
        tx.insert(TIMELINE, state.timeline)
        tx.upsert(
            ACTIVITY,
            [(s, d, r, t, n) for (s, d, r, t), n in state.activity.items()],
            add=("events",),
        )


PROJECTION = AuditProjection()


def _public(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if not k.endswith("_at_us")}
    out["recorded_at"] = micros_to_datetime(row["recorded_at_us"])
    occurred = row["occurred_at_us"]
    out["occurred_at"] = micros_to_datetime(occurred) if occurred is not None else None
    out["backdated_seconds"] = (
        (row["recorded_at_us"] - occurred) / 1e6 if occurred is not None else 0.0
    )
    return out


class AuditView(View):
    """Timelines and activity (live by default, or a named/as-of target)."""

    tables = (TIMELINE, ACTIVITY)

    def timeline(self, aggregate_id: str, *, limit: int = 1000) -> list[dict[str, Any]]:
        """Every event of one case (or item, or bundle) in version order."""
        rows = self.rows(
            "SELECT * FROM {audit_timeline} WHERE aggregate_id = %s ORDER BY version LIMIT %s",
            (str(aggregate_id), limit),
        )
        return [_public(r) for r in rows]

    def by_actor(
        self, staff_id: str, *, after_position: int = 0, limit: int = 100
    ) -> list[dict[str, Any]]:
        """What one staff member recorded, in log order (page with ``after_position``)."""
        rows = self.rows(
            "SELECT * FROM {audit_timeline} WHERE actor_staff = %s AND position > %s "
            "ORDER BY position LIMIT %s",
            (staff_id, after_position, limit),
        )
        return [_public(r) for r in rows]

    def actor_activity(
        self, staff_id: str, *, since: date | None = None, until: date | None = None
    ) -> dict[str, Any]:
        """Events per day (and per event type) recorded by one staff member."""
        where, params = ["staff_id = %s"], [staff_id]
        if since is not None:
            where.append("day >= %s")
            params.append(since.isoformat())
        if until is not None:
            where.append("day <= %s")
            params.append(until.isoformat())
        rows = self.rows(
            f"SELECT day, role, event_type, events FROM {{audit_activity}} "
            f"WHERE {' AND '.join(where)} ORDER BY day, role, event_type",
            params,
        )
        days: dict[str, dict[str, Any]] = {}
        for r in rows:
            day = days.setdefault(r["day"], {"day": r["day"], "events": 0, "by_type": {}})
            day["events"] += int(r["events"])
            day["by_type"][r["event_type"]] = day["by_type"].get(r["event_type"], 0) + int(
                r["events"]
            )
        roles = sorted({str(r["role"]) for r in rows})
        total = sum(d["events"] for d in days.values())
        return {"staff_id": staff_id, "roles": roles, "total": total, "days": list(days.values())}

    def activity_on(self, day: date) -> list[dict[str, Any]]:
        """Every active staff member's count on one day, busiest first."""
        return self.rows(
            "SELECT staff_id, role, sum(events) AS events FROM {audit_activity} WHERE day = %s "
            "GROUP BY staff_id, role ORDER BY events DESC, staff_id",
            (day.isoformat(),),
        )
