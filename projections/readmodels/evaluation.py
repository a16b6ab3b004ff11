"""``evaluation``: 好差评 — participation, good rate, bad reviews and their handling, 红旗窗口.

Definitions (GB/T 39046 levels: 1 非常满意 … 5 非常不满意):

- *completed* (办结): a decision was made (approve or deny) or the application was
  refused (不予受理); withdrawn cases are not completed;
- *participation rate*: evaluated completed cases / completed cases;
- *good rate*: evaluations at levels 1–3 / all evaluations;
- *bad review* (差评): level 4 or 5; handled on time when verified and rectified within
  ``ClockConfig.bad_review_days`` working days; an unhandled one is overdue once today
  is past its due date;
- *one rating per visit* (一次一评): the unit of every figure here is a *visit*, not a
  case. A case outside a bundle is a visit of its own; the child cases of a 一件事 bundle
  are one visit (one intake, one pickup), keyed by the bundle id. A visit's rating is the
  first evaluation (by log position) of any of its cases; the service refuses a second one
  (``CaseService.visit_rated_by``), but logs from before that rule (or two ratings racing
  on two children) may hold one per child: they replay and stay in each case's own views
  as evidence, and only the first counts here. A visit is completed (办结) once one of its
  cases is, on the first such day (a later child's completion never moves it to another
  month). Its window, staff and item, for grouping, are those of the rated case, or of
  the first case taken in when it is not rated;
- *red-flag window ranking* (红旗窗口): windows ranked by good rate, then participation
  rate, then fewest bad reviews not handled on time, then most evaluations; windows with
  fewer than ``min_evaluations`` evaluations are listed after the ranked ones, unranked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, ClassVar

from casestore.domain import Case, InvalidCommand
from casestore.domain.values import local_date
from casestore.settings import load_settings
from casestore.timelimits import ClockConfig, WorkingCalendar, default_calendar

from ..engine.base import Column, Index, LogEvent, Projection, Table, Tx
from ..engine.db import View
from ..facts.caseclocks import bad_review_clock
from ..facts.casefacts import CaseFacts, FactsFold
from ..facts.clockstate import bureau_today
from ..facts.factsfold import cache_size

EVALUATION_CASES = Table(
    "evaluation_cases",
    (
        Column("case_id", not_null=True),
        Column("facts"),
        Column("service_window"),
        Column("staff"),
        Column("item_code"),
        Column("completed", "int"),
        Column("completed_on"),
        Column("level", "int"),
        Column("evaluated_on"),
        Column("channel"),
        Column("bad", "int"),
        Column("bad_due"),
        Column("handled_on"),
        Column("handled_on_time", "int"),
        Column("last_position", "int"),
        # 一次一评 (version 2): the visit (bundle id, or the case id), the position of the
        # case's first event and of its evaluation, to pick the visit's one rating.
        Column("visit"),
        Column("first_position", "int"),
        Column("evaluated_position", "int"),
    ),
    ("case_id",),
    (
        Index("window", ("service_window",)),
        Index("bad", ("bad", "bad_due")),
        Index("visit", ("visit",)),
    ),
)
GROUPS = {"window": "service_window", "staff": "staff", "item": "item_code"}

#: One row per visit (a FROM item, ``{evaluation_cases}`` still to be named): the
#: visit's rated case (the first rating by log position), else its first case, with the
#: visit's completion (any case completed; the first day one was).
VISITS = (
    "(SELECT * FROM (SELECT e.case_id, e.visit, e.service_window, e.staff, e.item_code, "
    "e.level, e.evaluated_on, e.channel, e.bad, e.bad_due, e.handled_on, e.handled_on_time, "
    "MAX(e.completed) OVER (PARTITION BY e.visit) AS completed, "
    "MIN(CASE WHEN e.completed = 1 THEN e.completed_on END) "
    "OVER (PARTITION BY e.visit) AS completed_on, "
    "COUNT(*) OVER (PARTITION BY e.visit) AS visit_cases, "
    "ROW_NUMBER() OVER (PARTITION BY e.visit ORDER BY "
    "CASE WHEN e.level IS NULL THEN 1 ELSE 0 END, e.evaluated_position, e.first_position, "
    "e.case_id) AS visit_rank "
    "FROM {evaluation_cases} e) ranked WHERE visit_rank = 1) visits"
)


@dataclass
class _Batch:
    cases: FactsFold


class EvaluationProjection(Projection[_Batch]):
    """One row per case with what 好差评 statistics need."""

    name = "evaluation"
    version = 2
    tables = (EVALUATION_CASES,)
    handlers: ClassVar[dict[str, Callable[[Any, LogEvent], None]]] = {
        f"Case.{k}": lambda b, e: b.cases.apply(e) for k in Case.EVENT_NAMES
    }

    def __init__(
        self, calendar: WorkingCalendar | None = None, config: ClockConfig | None = None
    ) -> None:
        self._calendar = calendar
        self._config = config

    def begin(self, tx: Tx, events: Sequence[LogEvent]) -> _Batch:
        cases = FactsFold(
            tx, EVALUATION_CASES, CaseFacts.blank, CaseFacts.from_dict, cache=cache_size(tx)
        )
        batch = _Batch(cases)
        batch.cases.prefetch(e.aggregate_id for e in events)
        return batch

    def finish(self, tx: Tx, state: _Batch) -> None:
        state.cases.write(self.row)

    def row(self, f: CaseFacts) -> dict[str, Any]:
        """The derived columns of one case."""
        if self._calendar is None:
            self._calendar = default_calendar()
        if self._config is None:
            self._config = load_settings().clock()
        completed = f.decided or f.rejected
        bad = f.bad_review
        clock = None
        if bad and f.last is not None:
            today = local_date(f.last.recorded_at)
            clock = bad_review_clock(f, self._calendar, today, self._config)
        handled = f.bad_review_handled
        first = f.submitted or f.last
        return {
            "service_window": f.window,
            "staff": f.staff,
            "item_code": f.item_code,
            "completed": int(completed is not None),
            "completed_on": completed.on.isoformat() if completed else None,
            "level": f.evaluation_level,
            "evaluated_on": f.evaluated.on.isoformat() if f.evaluated else None,
            "channel": f.evaluation_channel or None,
            "bad": int(bad),
            "bad_due": clock.due.isoformat() if clock else None,
            "handled_on": handled.on.isoformat() if handled else None,
            "handled_on_time": int(bool(clock.on_time)) if clock and handled else None,
            "last_position": f.last.position if f.last else 0,
            "visit": f.bundle_id or f.case_id,
            "first_position": first.position if first else 0,
            "evaluated_position": f.evaluated.position if f.evaluated else None,
        }


PROJECTION = EvaluationProjection()


class EvaluationView(View):
    """Queries over the evaluation projection: the live view, or a named target."""

    tables = PROJECTION.tables

    def summary(self, group_by: str | None = None, *, today: date | None = None) -> dict[str, Any]:
        """Participation, good rate and bad reviews overall, or by window, staff or item."""
        column = "''" if group_by is None else GROUPS.get(group_by)
        if column is None:
            raise InvalidCommand(f"group_by must be one of {sorted(GROUPS)}, got {group_by!r}")
        day = (today or bureau_today()).isoformat()
        rows = self.rows(
            f"SELECT {column} AS k, "
            "SUM(completed) AS completed, "
            "SUM(CASE WHEN completed = 1 AND level IS NOT NULL THEN 1 ELSE 0 END) AS ev_done, "
            "SUM(CASE WHEN level IS NOT NULL THEN 1 ELSE 0 END) AS evaluated, "
            "SUM(CASE WHEN level <= 3 THEN 1 ELSE 0 END) AS good, "
            "SUM(bad) AS bad, "
            "SUM(CASE WHEN handled_on IS NOT NULL THEN 1 ELSE 0 END) AS handled, "
            "SUM(COALESCE(handled_on_time, 0)) AS on_time, "
            "SUM(CASE WHEN bad = 1 AND handled_on IS NULL AND bad_due < %s THEN 1 ELSE 0 END)"
            " AS overdue "
            f"FROM {VISITS}" + ("" if group_by is None else f" GROUP BY {column}"),
            (day,),
        )
        groups = sorted((_stats(r) for r in rows), key=lambda g: g["key"])
        if group_by is None:
            return groups[0] if groups else _stats({"k": ""})
        return {"group_by": group_by, "groups": groups}

    def visits(self) -> list[dict[str, Any]]:
        """One row per visit (一次一评): its one rating and its completion (see above)."""
        return self.rows(f"SELECT * FROM {VISITS}")

    def window_ranking(
        self, *, min_evaluations: int = 1, today: date | None = None
    ) -> list[dict[str, Any]]:
        """Windows ranked for the red-flag (红旗窗口) award; rank 1 is the red-flag window."""
        groups = [g for g in self.summary("window", today=today)["groups"] if g["key"]]
        eligible = [g for g in groups if g["evaluated"] >= min_evaluations]
        rest = [g for g in groups if g["evaluated"] < min_evaluations]
        eligible.sort(
            key=lambda g: (
                -(g["good_rate"] or 0),
                -(g["participation_rate"] or 0),
                g["bad_reviews"] - g["handled_on_time"],
                -g["evaluated"],
                g["key"],
            )
        )
        ranked: list[tuple[int | None, dict[str, Any]]] = list(enumerate(eligible, 1))
        ranked += [(None, g) for g in rest]
        return [
            {"rank": rank, "window": g["key"], **{k: v for k, v in g.items() if k != "key"}}
            for rank, g in ranked
        ]


def follow_up_totals(view: View) -> dict[str, Any]:
    """回访满意率 totalled: every follow-up call recorded, how many found the applicant
    satisfied, overall and by window (the case's window)."""
    import orjson

    groups: dict[str, list[int]] = {}
    for r in view.rows("SELECT service_window, facts FROM {evaluation_cases}"):
        calls = CaseFacts.from_dict(orjson.loads(r["facts"])).follow_ups
        if calls:
            g = groups.setdefault(r["service_window"] or "", [0, 0])
            g[0] += len(calls)
            g[1] += sum(1 for _, ok in calls if ok)
    total, satisfied = sum(g[0] for g in groups.values()), sum(g[1] for g in groups.values())

    def rate(part: int, whole: int) -> float | None:
        return round(part / whole, 4) if whole else None

    return {
        "follow_ups": total,
        "satisfied": satisfied,
        "satisfaction_rate": rate(satisfied, total),
        "by_window": [
            {"window": k, "follow_ups": n, "satisfied": s, "satisfaction_rate": rate(s, n)}
            for k, (n, s) in sorted(groups.items())
        ],
    }


def _stats(r: Mapping[str, Any]) -> dict[str, Any]:
    n = {k: int(r.get(k) or 0) for k in ("completed", "ev_done", "evaluated", "good", "bad")}
    handled, on_time, overdue = (int(r.get(k) or 0) for k in ("handled", "on_time", "overdue"))
    return {
        "key": r.get("k") or "",
        "completed": n["completed"],
        "evaluated": n["evaluated"],
        "participation_rate": round(n["ev_done"] / n["completed"], 4) if n["completed"] else None,
        "good": n["good"],
        "good_rate": round(n["good"] / n["evaluated"], 4) if n["evaluated"] else None,
        "bad_reviews": n["bad"],
        "handled": handled,
        "handled_on_time": on_time,
        "unhandled_overdue": overdue,
    }
