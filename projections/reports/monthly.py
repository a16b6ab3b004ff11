"""The monthly 通报 and the year summary (年度工作总结): the figures a bureau head reports,
each with the evidence to recompute it.

A year summary is the same figures over a calendar year (``Year``): the log as it stood
when the year ended, "in M" read as "in the year", overdue cases on 31 December.

A report for month ``M`` is computed from views rebuilt *as the log stood when M ended*
(every event recorded before 00:00 bureau time on the 1st of the next month; for the
running month, the log as it is now) into a scratch target, so the figures never move
when later events arrive, and every figure carries the log position it was computed at
and the command that recomputes it: ``casestore report monthly --month M --at-position P
--figure KEY`` rebuilds the same views at that position and prints the figure again.

Definitions (bureau-local business dates, the same as the views'):

- *completed* (办结): decided (approve or deny) or refused (不予受理) in M; counted per
  visit (一次一评): a 一件事 bundle's children are one visit, completed on the first day
  one of them was, rated once (``readmodels/evaluation.py``), and so are the rates below;
- *participation rate* (参评率): of those, the share evaluated (by the report's position);
- *good rate* (好评率): evaluations made in M at levels 1–3 / all evaluations made in M;
- *bad reviews* (差评): evaluations made in M at levels 4–5;
- *follow-up satisfaction* (回访满意率): follow-ups recorded in M with the applicant
  satisfied / all follow-ups recorded in M;
- *since the seal* (一枚印章管审批以来): decisions from the first event of the log to the
  end of M, how many within the promised and within the statutory limit;
- *green channel* (绿色通道): decisions in M of cases marked priority at intake;
- *overdue by window*: cases with a running clock past its due date on the last day of M
  (on the report's day while M is still running);
- *flags by window*: supervision flags (S01–S19) raised in M, by the case's (or the
  enquiry's) window;
- *enquiries* (群众诉求/咨询): received in M, and S16 flags raised in M;
- *awards* (表彰与感谢): 服务标兵, 红旗窗口, 感谢信, 锦旗 granted in M and not revoked.
"""

from __future__ import annotations

import calendar as monthcal
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

import orjson

from casestore.domain import InvalidCommand
from casestore.domain.award import AWARD_KINDS
from casestore.domain.values import BUREAU_TZ

from ..facts.casefacts import CaseFacts
from ..readmodels.awards import AwardView
from ..readmodels.compliance.projection import ComplianceView
from ..readmodels.enquiries import EnquiryView
from ..readmodels.evaluation import EvaluationView
from ..readmodels.supervision.projection import SupervisionView

#: The projections a monthly report reads (rebuilt together as of one position).
PROJECTIONS = ("compliance", "supervision", "evaluation", "enquiries", "awards")
_MONTH = re.compile(r"^(19[9][0-9]|20[0-9]{2})-(0[1-9]|1[0-2])$")


@dataclass(frozen=True)
class Month:
    """A calendar month in the bureau's time zone."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        """``YYYY-MM`` (1990-01 … 2099-12), else :class:`InvalidCommand`."""
        if not isinstance(text, str) or not _MONTH.match(text):
            raise InvalidCommand(f"month must be YYYY-MM (1990-01..2099-12), got {text!r}")
        return cls(int(text[:4]), int(text[5:]))

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def first(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last(self) -> date:
        return date(self.year, self.month, monthcal.monthrange(self.year, self.month)[1])

    @property
    def end(self) -> datetime:
        """The moment the month ends (00:00 bureau time on the next month's first day)."""
        return datetime.combine(self.last + timedelta(days=1), time(0), BUREAU_TZ)

    def contains(self, iso_day: str | None) -> bool:
        return (
            bool(iso_day) and self.first.isoformat() <= str(iso_day)[:10] <= self.last.isoformat()
        )

    @property
    def title(self) -> str:
        return f"{self.year}年{self.month}月政务服务工作通报"

    @property
    def cli(self) -> str:
        """The ``casestore report`` arguments that name this period."""
        return f"monthly --month {self}"

    @property
    def target(self) -> str:
        """The scratch target its report views are built into."""
        return f"report_{self.year:04d}{self.month:02d}"


_YEAR = re.compile(r"^(199[0-9]|20[0-9]{2})$")


@dataclass(frozen=True)
class Year:
    """A calendar year in the bureau's time zone (the year summary's period)."""

    year: int

    @classmethod
    def parse(cls, text: str) -> Year:
        """``YYYY`` (1990 … 2099), else :class:`InvalidCommand`."""
        if not isinstance(text, str) or not _YEAR.match(text):
            raise InvalidCommand(f"year must be YYYY (1990..2099), got {text!r}")
        return cls(int(text))

    def __str__(self) -> str:
        return f"{self.year:04d}"

    @property
    def first(self) -> date:
        return date(self.year, 1, 1)

    @property
    def last(self) -> date:
        return date(self.year, 12, 31)

    @property
    def end(self) -> datetime:
        """The moment the year ends (00:00 bureau time on 1 January of the next)."""
        return datetime.combine(self.last + timedelta(days=1), time(0), BUREAU_TZ)

    def contains(self, iso_day: str | None) -> bool:
        return bool(iso_day) and str(iso_day)[:4] == str(self)

    @property
    def title(self) -> str:
        return f"{self.year}年政务服务工作总结"

    @property
    def cli(self) -> str:
        return f"year --year {self}"

    @property
    def target(self) -> str:
        return f"report_{self.year:04d}"


#: The period a report covers.
Period = Month | Year


@dataclass(frozen=True)
class Figure:
    """One reported number, where it was computed and how to recompute it."""

    key: str
    label: str
    value: int | float | None
    position: int
    command: str
    unit: str = ""
    breakdown: Mapping[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "value": self.value,
            "unit": self.unit,
            "position": self.position,
            "command": self.command,
            "breakdown": dict(self.breakdown),
        }

    @property
    def text(self) -> str:
        """The value as printed (rates as percentages)."""
        if self.value is None:
            return "—"
        if self.unit == "%":
            return f"{self.value * 100:.1f}%"
        return f"{self.value}"


@dataclass(frozen=True)
class MonthlyReport:
    """The 通报 of one month, or the summary of one year (``month`` is then a ``Year``)."""

    month: Period
    position: int
    generated_at: datetime
    figures: tuple[Figure, ...]
    checkpoint: str = ""
    """The signed note of the first checkpoint whose tree holds the log up to ``position``
    (else the latest one, covering a prefix only; "" when none is signed yet)."""

    @property
    def checkpoint_tree_size(self) -> int | None:
        """The tree size the checkpoint signs (line 2 of its body)."""
        lines = self.checkpoint.splitlines()
        return int(lines[1]) if len(lines) > 1 and lines[1].isdigit() else None

    @property
    def checkpoint_covers(self) -> bool:
        """Every event the figures were drawn from is in the signed tree."""
        size = self.checkpoint_tree_size
        return size is not None and size >= self.position

    def figure(self, key: str) -> Figure:
        for f in self.figures:
            if f.key == key:
                return f
        known = ", ".join(f.key for f in self.figures)
        raise InvalidCommand(f"no figure {key!r} (figures: {known})")

    def to_dict(self) -> dict[str, Any]:
        return {
            ("year" if isinstance(self.month, Year) else "month"): str(self.month),
            "title": self.month.title,
            "position": self.position,
            "checkpoint": self.checkpoint or None,
            "checkpoint_tree_size": self.checkpoint_tree_size,
            "checkpoint_covers_position": self.checkpoint_covers,
            "checkpoint_check": CHECKPOINT_CHECK if self.checkpoint else None,
            "generated_at": self.generated_at.isoformat(),
            "figures": [f.to_dict() for f in self.figures],
        }


#: How a reader checks the report's log against the bureau's signature (README "The signed
#: checkpoint on reports"): the note saved as FILE, the bureau's verifier key as VKEY.
CHECKPOINT_CHECK = "casestore verify --checkpoint FILE --key VKEY"

LABELS: dict[str, tuple[str, str]] = {
    "completed": ("办结件数", "件"),
    "evaluated_completed": ("办结件中参评件数", "件"),
    "participation_rate": ("参评率", "%"),
    "evaluations": ("当月评价数", "次"),
    "good": ("好评数", "次"),
    "good_rate": ("好评率", "%"),
    "bad_reviews": ("差评数", "次"),
    "follow_ups": ("回访数", "次"),
    "follow_ups_satisfied": ("回访满意数", "次"),
    "follow_up_satisfaction_rate": ("回访满意率", "%"),
    "decided_since_seal": ("一枚印章管审批以来办结事项", "件"),
    "on_time_promised_since_seal": ("其中承诺时限内办结", "件"),
    "on_time_statutory_since_seal": ("其中法定时限内办结", "件"),
    "green_channel_decided": ("绿色通道当月办结", "件"),
    "green_channel_on_time": ("绿色通道承诺时限内办结", "件"),
    "overdue_by_window": ("月末超期在办件(按窗口)", "件"),
    "flags_by_window": ("当月监督预警(按窗口)", "条"),
    "enquiries_received": ("受理群众诉求/咨询", "件"),
    "enquiries_late": ("诉求/咨询超时(S16)", "件"),
    "awards": ("当月表彰与感谢(按类别)", "项"),
}


def figure_command(month: Period, position: int, key: str) -> str:
    """The command that recomputes one figure from the log at ``position``."""
    return f"casestore report {month.cli} --at-position {position} --figure {key}"


def period_label(label: str, period: Period) -> str:
    """A figure's label for the period: 当月 / 月末 read 本年 / 年末 in a year summary."""
    if isinstance(period, Year):
        return label.replace("当月", "本年").replace("月末", "年末")
    return label


@dataclass
class ReportViews:
    """The views a report reads: one target, all built as of the same log position."""

    compliance: ComplianceView
    supervision: SupervisionView
    evaluation: EvaluationView
    enquiries: EnquiryView
    awards: AwardView
    position: int


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def count_figures(views: ReportViews, month: Period, today: date | None = None) -> dict[str, Any]:
    """Every figure's value (and breakdown) for ``month`` (or a year) from the views.

    Overdue cases and running deadlines are judged on the period's last day, or on
    ``today`` while the period is still running (a day not yet come is never judged)."""
    last = min(month.last, today) if today is not None else month.last
    out: dict[str, Any] = {}
    ev = views.evaluation.visits()  # 一次一评: a bundle visit is one, rated once
    completed = [r for r in ev if r["completed"] and month.contains(r["completed_on"])]
    out["completed"] = len(completed)
    out["evaluated_completed"] = sum(1 for r in completed if r["level"] is not None)
    out["participation_rate"] = _rate(out["evaluated_completed"], out["completed"])
    evaluated = [r for r in ev if r["level"] is not None and month.contains(r["evaluated_on"])]
    out["evaluations"] = len(evaluated)
    out["good"] = sum(1 for r in evaluated if int(r["level"]) <= 3)
    out["good_rate"] = _rate(out["good"], out["evaluations"])
    out["bad_reviews"] = sum(1 for r in evaluated if int(r["level"]) >= 4)
    follow_ups = [
        ok
        for r in views.evaluation.rows("SELECT facts FROM {evaluation_cases}")
        for stamp, ok in CaseFacts.from_dict(orjson.loads(r["facts"])).follow_ups
        if month.contains(stamp.on.isoformat())
    ]
    out["follow_ups"] = len(follow_ups)
    out["follow_ups_satisfied"] = sum(1 for ok in follow_ups if ok)
    out["follow_up_satisfaction_rate"] = _rate(out["follow_ups_satisfied"], out["follow_ups"])

    co = views.compliance.rows(
        "SELECT case_id, service_window, decided_on, promised_on_time, statutory_on_time, "
        "priority FROM {compliance_cases} WHERE decided_on IS NOT NULL AND decided_on <= %s",
        (month.last.isoformat(),),
    )
    out["decided_since_seal"] = len(co)
    out["on_time_promised_since_seal"] = sum(int(r["promised_on_time"] or 0) for r in co)
    out["on_time_statutory_since_seal"] = sum(int(r["statutory_on_time"] or 0) for r in co)
    green = [r for r in co if r["priority"] and month.contains(r["decided_on"])]
    out["green_channel_decided"] = len(green)
    out["green_channel_on_time"] = sum(int(r["promised_on_time"] or 0) for r in green)

    overdue = views.compliance.overdue(last, limit=1_000_000)
    by_case = {r["case_id"]: r["window"] or "" for r in overdue}
    out["overdue_by_window"] = Counter(by_case.values())

    windows = {
        r["case_id"]: r["service_window"] or ""
        for r in views.compliance.rows("SELECT case_id, service_window FROM {compliance_cases}")
    }
    flags = [
        f
        for f in views.supervision.flags(today=last, limit=10_000_000)
        if month.contains(_local_day(f["raised_at"]))
    ]
    s16 = [f for f in views.enquiries.flags(today=last) if month.contains(f["raised_at"])]
    flag_windows = [windows.get(f["case_id"] or "", "") for f in flags]
    out["flags_by_window"] = Counter(flag_windows + [f["window"] for f in s16])

    received = views.enquiries.rows(
        "SELECT enquiry_id FROM {enquiries} WHERE received_on >= %s AND received_on <= %s",
        (month.first.isoformat(), month.last.isoformat()),
    )
    out["enquiries_received"] = len(received)
    out["enquiries_late"] = len(s16)
    granted = views.awards.register(since=month.first, until=month.last)
    out["awards"] = Counter(AWARD_KINDS[a["kind"]][0] for a in granted)
    return out


def _local_day(moment: str) -> str:
    return datetime.fromisoformat(moment).astimezone(BUREAU_TZ).date().isoformat()


def build_report(
    views: ReportViews, month: Period, *, generated_at: datetime, checkpoint: str = ""
) -> MonthlyReport:
    """The report: each figure with the views' position and its reproducing command."""
    values = count_figures(views, month, generated_at.astimezone(BUREAU_TZ).date())
    figures = []
    for key, (label, unit) in LABELS.items():
        value = values[key]
        breakdown: dict[str, int] = {}
        if isinstance(value, Counter):
            breakdown = {k or "(无窗口)": int(v) for k, v in sorted(value.items())}
            value = sum(value.values())
        figures.append(
            Figure(
                key,
                period_label(label, month),
                value,
                views.position,
                figure_command(month, views.position, key),
                unit,
                breakdown,
            )
        )
    return MonthlyReport(month, views.position, generated_at, tuple(figures), checkpoint)
