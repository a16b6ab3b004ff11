"""Rows of the compliance projection: derived from a case's clocks, and read on a later day.

A case's row is computed with ``today`` = the bureau date its latest event was
recorded (its ``as_of``), so a rebuild gives the same rows. Reading a row on another
day compares the stored due dates with that day — except for decision clocks paused by
an open suspension: those are read with :func:`~casestore.projections.facts.clockstate.read_paused`
(due date moved by the working days suspended since, remaining days frozen, never late
for time spent paused), which is what :func:`~casestore.projections.facts.caseclocks.case_clocks`
computes from the facts on that day.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from casestore.domain.values import ItemLimits, local_date
from casestore.timelimits import (
    ClockConfig,
    WarningLevel,
    WorkingCalendar,
    remaining_working_days,
    warning_level,
)

from ...facts.caseclocks import case_clocks, deemed_decision_clocks
from ...facts.casefacts import CaseFacts
from ...facts.clockstate import PausedReading, read_paused

#: kind -> (due column, condition for a clock that can be overdue on a day). A case still
#: undecided on acceptance runs on its ``deemed_*_due`` columns: the decision clocks a
#: deemed acceptance (视为受理) starts from receipt, due no earlier than the acceptance
#: clock, so they are overdue only once the case is deemed accepted.
OVERDUE: dict[str, tuple[str, str]] = {
    "acceptance": ("acceptance_due", "acceptance_open = 1"),
    "promised": (
        "coalesce(promised_due, deemed_promised_due)",
        "(decision_open = 1 AND (paused = 0 OR promised_due < paused_since)) "
        "OR (acceptance_open = 1 AND deemed_promised_due IS NOT NULL)",
    ),
    "statutory": (
        "coalesce(statutory_due, deemed_statutory_due)",
        "(decision_open = 1 AND (paused = 0 OR statutory_due < paused_since)) "
        "OR (acceptance_open = 1 AND deemed_statutory_due IS NOT NULL)",
    ),
    "delivery": ("delivery_due", "delivery_open = 1"),
}


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


def compliance_row(
    f: CaseFacts,
    cal: WorkingCalendar,
    config: ClockConfig,
    fallback: ItemLimits | None = None,
) -> dict[str, Any]:
    """The derived columns of one case, as of the day its latest event was recorded."""
    today = local_date(f.last.recorded_at) if f.last else date.min
    c = case_clocks(f, cal, today, config, fallback)
    p, s, current = c.promised, c.statutory, c.current
    decided = f.decided.on if f.decided else None
    deemed_p, deemed_s = deemed_decision_clocks(f, cal, c, config, fallback)
    return {
        "case_no": f.case_no,
        "item_code": f.item_code,
        "service_window": f.window,
        "priority": int(f.priority),
        "staff": f.staff,
        "stage": f.stage,
        "received_on": _iso(f.submitted.on if f.submitted else None),
        "decision_start": _iso(p.start if p else None),
        "deemed": int(c.deemed_accepted),
        "promised_due": _iso(p.due if p else None),
        "statutory_due": _iso(s.due if s else None),
        "paused": int(bool(p and p.paused)),
        "paused_since": _iso(p.paused_since if p else None),
        "decision_open": int(bool(p and p.done is None)),
        "decided_on": _iso(decided),
        "month": f"{decided.year}-{decided.month:02d}" if decided else None,  # strftime("%Y-%m")
        "outcome": f.outcome,
        "promised_on_time": None if not (p and decided) else int(bool(p.on_time)),
        "statutory_on_time": None if not (s and decided) else int(bool(s.on_time)),
        "used_days": p.used if p and decided else None,
        "acceptance_due": _iso(c.acceptance.due if c.acceptance else None),
        "acceptance_open": int(bool(c.acceptance and c.acceptance.done is None)),
        "deemed_promised_due": _iso(deemed_p.due if deemed_p else None),
        "deemed_statutory_due": _iso(deemed_s.due if deemed_s else None),
        "delivery_due": _iso(c.delivery.due if c.delivery else None),
        "delivery_open": int(bool(c.delivery and c.delivery.done is None)),
        "current_kind": current.kind if current else None,
        "current_due": _iso(current.due if current else None),
        "provisional": int(c.provisional),
        "as_of": today.isoformat(),
        "last_position": f.last.position if f.last else 0,
    }


def _paused(r: Mapping[str, Any], column: str, day: date, cal: WorkingCalendar) -> PausedReading:
    return read_paused(
        date.fromisoformat(r[column]),
        date.fromisoformat(r["as_of"]),
        date.fromisoformat(r["paused_since"]),
        day,
        cal,
    )


def read_deadline(
    r: Mapping[str, Any], day: date, cal: WorkingCalendar, config: ClockConfig
) -> dict[str, Any]:
    """A case's due dates, running clock, remaining working days and warning level on
    ``day``, from its stored row (what the case list shows)."""
    promised_due, statutory_due = r["promised_due"], r["statutory_due"]
    statutory_late = bool(statutory_due and statutory_due < day.isoformat())
    promised: PausedReading | None = None
    if r["paused"] and r["paused_since"] and promised_due and statutory_due:
        promised = _paused(r, "promised_due", day, cal)
        statutory = _paused(r, "statutory_due", day, cal)
        promised_due, statutory_due = promised.due.isoformat(), statutory.due.isoformat()
        statutory_late = statutory.late
    due, remaining = r["current_due"], None
    warning: WarningLevel | None = None
    if due and promised is not None and r["current_kind"] == "decision.promised":
        due, remaining = promised_due, promised.remaining
        warning = "red" if promised.late else None
    elif due:
        remaining = remaining_working_days(date.fromisoformat(due), day, cal)
        warning = warning_level(remaining, config.yellow_threshold)
    if r["decision_open"] and statutory_late:
        warning = "red"
    return {
        "promised_due": promised_due,
        "statutory_due": statutory_due,
        "acceptance_due": r["acceptance_due"],
        "delivery_due": r["delivery_due"],
        "running": r["current_kind"],
        "due": due,
        "paused": bool(r["paused"]),
        "paused_since": r["paused_since"],
        "deemed_accepted": bool(r["deemed"]),
        "remaining_days": remaining,
        "warning": warning,
    }


def overdue_days(r: Mapping[str, Any], day: date, cal: WorkingCalendar) -> int:
    """Working days an overdue row is past its due date on ``day`` (frozen while paused)."""
    on = day
    if r.get("paused") and r.get("paused_since") and r["kind"] in ("promised", "statutory"):
        on = min(day, date.fromisoformat(r["paused_since"]))
    return -remaining_working_days(date.fromisoformat(r["due"]), on, cal)


def summary_group(key: str, r: Mapping[str, Any], running: int) -> dict[str, Any]:
    """On-time counts and rates of one group of decided cases (and how many still run)."""
    n = int(r.get("n") or 0)
    on_p, on_s, used = (int(r.get(f) or 0) for f in ("p", "s", "u"))
    return {
        "key": key,
        "decided": n,
        "open": running,
        "on_time_promised": on_p,
        "on_time_statutory": on_s,
        "late_promised": n - on_p,
        "late_statutory": n - on_s,
        "promised_rate": round(on_p / n, 4) if n else None,
        "statutory_rate": round(on_s / n, 4) if n else None,
        "avg_working_days_used": round(used / n, 2) if n else None,
        "deemed_accepted": int(r.get("d") or 0),
    }
