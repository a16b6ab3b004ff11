"""``access``: who held which authority when, and who looked at which case (纪检监察).

Two questions of disciplinary inspection, answered from the log:

- *who could approve on 30 June?* — ``staff_grants`` keeps one row per grant with the
  moment it began (``RoleGranted``) and the moment it ended (``RoleRevoked``,
  ``StaffSuspended`` or ``StaffLeft``), so a role held at any instant or on any day is
  one indexed range query; ``StaffReinstated`` opens a new row for each role it names
  (the grant kept through the suspension, in force again from the reinstatement);
- *who looked at this applicant's data?* — ``access_log`` keeps one row per case of
  each ``AccessRecorded`` event (staff id, role, route, purpose, when).

Names of staff are kept for the staff endpoints; the applicant's own access list shows
staff ids and roles only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..engine.base import Column, Index, LogEvent, Projection, Table, Tx, micros_to_datetime
from ..engine.db import View

STAFF_MEMBERS = Table(
    "staff_members",
    (
        Column("staff_id", not_null=True),
        Column("aggregate_id", not_null=True),
        Column("name"),
        Column("unit"),
        Column("enrolled_at_us", "int"),
        Column("status"),
        Column("status_at_us", "int"),
    ),
    ("staff_id",),
    (Index("aggregate", ("aggregate_id",)),),
)
STAFF_GRANTS = Table(
    "staff_grants",
    (
        Column("staff_id", not_null=True),
        Column("role", not_null=True),
        Column("granted_position", "int", not_null=True),
        Column("grant_window"),
        Column("unit"),
        Column("granted_by"),
        Column("seconded_by"),
        Column("reason"),
        Column("granted_at_us", "int"),
        Column("ended_position", "int"),
        Column("ended_at_us", "int"),
        Column("ended_by"),
        Column("ended_how"),
        Column("ended_reason"),
    ),
    ("staff_id", "role", "granted_position"),
    (Index("role", ("role", "granted_at_us")),),
)
ACCESS_LOG = Table(
    "access_log",
    (
        Column("position", "int", not_null=True),
        Column("case_id", not_null=True),
        Column("staff_id"),
        Column("role"),
        Column("route"),
        Column("purpose"),
        Column("recorded_at_us", "int"),
    ),
    ("position", "case_id"),
    (Index("case", ("case_id", "position")), Index("staff", ("staff_id", "position"))),
)
NO_CASE = ""


@dataclass
class _Batch:
    tx: Tx
    access: list[tuple[Any, ...]] = field(default_factory=list)


def _enrolled(b: _Batch, ev: LogEvent) -> None:
    b.tx.execute(
        "INSERT INTO {staff_members} (staff_id, aggregate_id, name, unit, enrolled_at_us, "
        "status, status_at_us) VALUES (%s, %s, %s, %s, %s, 'active', %s)",
        (
            ev.plain("staff_id"),
            ev.aggregate_id,
            ev.plain("name"),
            ev.plain("unit"),
            ev.recorded_at_us,
            ev.recorded_at_us,
        ),
    )


def _granted(b: _Batch, ev: LogEvent) -> None:
    b.tx.execute(
        "INSERT INTO {staff_grants} (staff_id, role, granted_position, grant_window, unit, "
        "granted_by, seconded_by, reason, granted_at_us) "
        "SELECT staff_id, %s, %s, %s, %s, %s, %s, %s, %s FROM {staff_members} "
        "WHERE aggregate_id = %s",
        (
            ev.plain("role"),
            ev.position,
            ev.plain("window"),
            ev.plain("unit"),
            ev.plain("granted_by"),
            ev.plain("seconded_by"),
            ev.plain("reason"),
            ev.recorded_at_us,
            ev.aggregate_id,
        ),
    )


def _end(b: _Batch, ev: LogEvent, how: str, role: str | None) -> None:
    where = (
        "staff_id = (SELECT staff_id FROM {staff_members} WHERE aggregate_id = %s) "
        "AND ended_position IS NULL"
    )
    params: list[Any] = [
        ev.position,
        ev.recorded_at_us,
        ev.actor()["staff_id"],
        how,
        ev.plain("reason"),
        ev.aggregate_id,
    ]
    if role is not None:
        where += " AND role = %s"
        params.append(role)
    b.tx.execute(
        "UPDATE {staff_grants} SET ended_position = %s, ended_at_us = %s, ended_by = %s, "
        f"ended_how = %s, ended_reason = %s WHERE {where}",
        params,
    )
    if role is None:
        b.tx.execute(
            "UPDATE {staff_members} SET status = %s, status_at_us = %s WHERE aggregate_id = %s",
            (how, ev.recorded_at_us, ev.aggregate_id),
        )


def _reinstated(b: _Batch, ev: LogEvent) -> None:
    for role in ev.plain("roles") or []:
        b.tx.execute(
            "INSERT INTO {staff_grants} (staff_id, role, granted_position, grant_window, unit, "
            "granted_by, seconded_by, reason, granted_at_us) "
            "SELECT s.staff_id, s.role, %s, s.grant_window, s.unit, s.granted_by, "
            "s.seconded_by, s.reason, %s FROM {staff_grants} s WHERE s.staff_id = "
            "(SELECT staff_id FROM {staff_members} WHERE aggregate_id = %s) AND s.role = %s "
            "AND s.granted_position = (SELECT MAX(g.granted_position) FROM {staff_grants} g "
            "WHERE g.staff_id = s.staff_id AND g.role = s.role)",
            (ev.position, ev.recorded_at_us, ev.aggregate_id, str(role)),
        )
    b.tx.execute(
        "UPDATE {staff_members} SET status = 'active', status_at_us = %s WHERE aggregate_id = %s",
        (ev.recorded_at_us, ev.aggregate_id),
    )


def _recorded(b: _Batch, ev: LogEvent) -> None:
    actor = ev.actor()
    cases = [str(c) for c in (ev.plain("case_ids") or [])] or [NO_CASE]
    for case_id in dict.fromkeys(cases):
        b.access.append(
            (
                ev.position,
                case_id,
                actor["staff_id"],
                actor["role"],
                ev.plain("route"),
                ev.plain("purpose"),
                ev.recorded_at_us,
            )
        )


class AccessProjection(Projection[_Batch]):
    """Grant intervals and the access trail."""

    name = "access"
    version = 1
    tables = (STAFF_MEMBERS, STAFF_GRANTS, ACCESS_LOG)
    handlers: ClassVar[dict[str, Callable[[Any, LogEvent], None]]] = {
        "Staff.StaffEnrolled": _enrolled,
        "Staff.RoleGranted": _granted,
        "Staff.RoleRevoked": lambda b, e: _end(b, e, "revoked", str(e.plain("role"))),
        "Staff.StaffSuspended": lambda b, e: _end(b, e, "suspended", None),
        "Staff.StaffReinstated": _reinstated,
        "Staff.StaffLeft": lambda b, e: _end(b, e, "left", None),
        "Access.AccessRecorded": _recorded,
    }

    def begin(self, tx: Tx, events: Sequence[LogEvent]) -> _Batch:
        return _Batch(tx)

    def finish(self, tx: Tx, state: _Batch) -> None:
        if state.access:
            tx.insert(ACCESS_LOG, state.access)


PROJECTION = AccessProjection()


def _moment(us: Any) -> str | None:
    return micros_to_datetime(int(us)).isoformat() if us is not None else None


class AccessView(View):
    """Queries over grants and the access trail."""

    tables = (STAFF_MEMBERS, STAFF_GRANTS, ACCESS_LOG)

    def holders(self, role: str, start_us: int, end_us: int) -> list[dict[str, Any]]:
        """Everyone who held ``role`` at some instant in ``[start_us, end_us]``."""
        rows = self.rows(
            "SELECT g.*, m.name AS name FROM {staff_grants} g JOIN {staff_members} m "
            "ON m.staff_id = g.staff_id WHERE g.role = %s AND g.granted_at_us <= %s "
            "AND (g.ended_at_us IS NULL OR g.ended_at_us > %s) "
            "ORDER BY g.staff_id, g.granted_position",
            (role, end_us, start_us),
        )
        return [_grant(r) for r in rows]

    def trail(
        self,
        *,
        case_id: str | None = None,
        staff_id: str | None = None,
        from_us: int | None = None,
        to_us: int | None = None,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        """Access rows, oldest first, filtered by case, staff and time."""
        where, params = ["1 = 1"], list[Any]()
        for column, value in (("case_id", case_id), ("staff_id", staff_id)):
            if value is not None:
                where.append(f"{column} = %s")
                params.append(value)
        if from_us is not None:
            where.append("recorded_at_us >= %s")
            params.append(from_us)
        if to_us is not None:
            where.append("recorded_at_us <= %s")
            params.append(to_us)
        rows = self.rows(
            f"SELECT * FROM {{access_log}} WHERE {' AND '.join(where)} "
            "ORDER BY position, case_id LIMIT %s",
            [*params, limit],
        )
        return [
            {
                "position": int(r["position"]),
                "case_id": r["case_id"] or None,
                "staff_id": r["staff_id"],
                "role": r["role"],
                "route": r["route"],
                "purpose": r["purpose"],
                "recorded_at": _moment(r["recorded_at_us"]),
            }
            for r in rows
        ]


def _grant(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "staff_id": r["staff_id"],
        "name": r.get("name"),
        "role": r["role"],
        "window": r["grant_window"],
        "unit": r["unit"],
        "granted_by": r["granted_by"],
        "seconded_by": r["seconded_by"] or None,
        "reason": r["reason"],
        "granted_at": _moment(r["granted_at_us"]),
        "granted_position": int(r["granted_position"]),
        "ended_at": _moment(r["ended_at_us"]),
        "ended_position": r["ended_position"],
        "ended_how": r["ended_how"],
    }
