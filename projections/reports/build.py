"""Building a report's views as of one log position (a scratch target per month or year)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from casestore.domain import InvalidCommand
from casestore.timelimits import ClockConfig, WorkingCalendar
from casestore.timeutil import to_micros, utc_now

from ..engine.db import ViewDB
from ..readmodels.awards import AwardView
from ..readmodels.compliance.projection import ComplianceView
from ..readmodels.enquiries import EnquiryView
from ..readmodels.evaluation import EvaluationView
from ..readmodels.supervision.projection import SupervisionView
from ..runtime.registry import get_projection
from .monthly import PROJECTIONS, MonthlyReport, Period, ReportViews, build_report

#: One build at a time per process (two requests for one month share a target).
_BUILDING = threading.Lock()


class LogHead(Protocol):
    """What a report needs from the write side's service: where the log stands."""

    def head(self) -> tuple[int, bytes | None]: ...

    def position_at(self, micros: int) -> int: ...

    def checkpoint_covering(self, position: int) -> str:
        """The signed note of the first checkpoint whose tree holds the log up to
        ``position``, else of the latest one, else ""."""


#: Rebuild projection NAME as of log position ``at_position`` into ``target`` of ``db``
#: (the composition root's ``WriteSide.rebuild_as_of``).
Rebuild = Callable[..., None]


def report_position(log: LogHead, month: Period, now: datetime | None = None) -> int:
    """The last log position recorded before ``month`` (or the year) ended (the head if it
    has not)."""
    end = min(month.end, now or utc_now())
    return int(log.position_at(to_micros(end) - 1))


def target_name(month: Period) -> str:
    """The scratch target a month's (or a year's) report views are built into."""
    return month.target


def monthly_report(
    log: LogHead,
    rebuild: Rebuild,
    db: ViewDB,
    month: Period,
    *,
    at_position: int | None = None,
    calendar: WorkingCalendar | None = None,
    config: ClockConfig | None = None,
    now: datetime | None = None,
) -> MonthlyReport:
    """Rebuild the report's views as of ``at_position`` (default: where ``month`` ended)
    into the month's target and compute every figure there."""
    head = int(log.head()[0])
    position = report_position(log, month, now) if at_position is None else at_position
    if not 0 <= position <= head:
        raise InvalidCommand(f"at-position must be 0..{head} (the log's head), got {position}")
    target = target_name(month)
    with _BUILDING:
        for name in PROJECTIONS:
            current = db.tracking(f"{name}__{target}")
            # A target built by an older version of the projection (other tables, other
            # logic: the evaluation view's visits) is rebuilt, not read.
            if (
                current is None
                or current.version != get_projection(name).version
                or current.position != position
                or position == 0
            ):
                rebuild(name, at_position=position, target=target, db=db)
        views = ReportViews(
            compliance=ComplianceView(db, target, calendar=calendar, config=config),
            supervision=SupervisionView(db, target),
            evaluation=EvaluationView(db, target),
            enquiries=EnquiryView(db, target),
            awards=AwardView(db, target),
            position=position,
        )
        return build_report(
            views,
            month,
            generated_at=now or utc_now(),
            checkpoint=log.checkpoint_covering(position),
        )
