"""Compliance: per-case clocks (SPEC §4) from :class:`CaseFacts`, and the compliance view.

"Today" is always a parameter. A clock is *done* when the event that stops it exists
(acceptance clock: the first of 补正 notice, acceptance, rejection, withdrawal; decision
clocks: the decision, or a withdrawal; delivery: delivery; bad review: its handling),
and its lateness is then settled by that event's business date. An open clock is late
when ``today`` is after its due date, unless it is paused by an open suspension.

Only valid suspensions and extensions move deadlines: a pause of a kind the item does
not allow (S11), and an extension that is not the first, exceeds its cap, comes from a
non-approver or after the statutory deadline (S10) are evidence of a breach, not a
reason to give the bureau more time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, ClassVar

import orjson

from casestore.domain import Case, InvalidCommand
from casestore.domain.values import ART45_PAUSE_KINDS, BUREAU_TZ, ItemLimits, local_date
from casestore.timelimits import (
    MAX_EXTENSION_DAYS,
    MAX_EXTENSION_DAYS_JOINT,
    ClockConfig,
    ClockResult,
    Suspension,
    WarningLevel,
    WorkingCalendar,
    compute_clock,
    default_calendar,
    remaining_working_days,
    warning_level,
    working_days_used,
)

from .base import Column, Index, LogEvent, Projection, Table, Tx
from .casefacts import CaseFacts, FactsFold, Grant, ItemFacts, Stamp
from .db import ViewDB


@dataclass(frozen=True)
class Clock:
    """One running or finished deadline of a case, with its evidence positions."""

    kind: str
    start: date
    days: int
    due: date
    today: date
    done: Stamp | None
    stopped_by: str
    paused: bool
    provisional: bool
    remaining: int | None
    used: int
    warning: WarningLevel | None
    evidence: tuple[int, ...]
    extension_days: int = 0

    @property
    def late(self) -> bool:
        """Past its due date: settled by the stopping event, else compared with today."""
        if self.done is not None:
            return self.done.on > self.due
        return not self.paused and self.today > self.due

    @property
    def on_time(self) -> bool | None:
        """For a finished clock: stopped on or before its due date; None while running."""
        return None if self.done is None else self.done.on <= self.due

    @property
    def late_since(self) -> datetime:
        """The instant the deadline passed: the start of the day after the due date."""
        return datetime.combine(self.due + timedelta(days=1), time(0), BUREAU_TZ)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "kind": self.kind,
            "start": self.start.isoformat(),
            "days": self.days,
            "extension_days": self.extension_days,
            "due": self.due.isoformat(),
            "done_on": self.done.on.isoformat() if self.done else None,
            "stopped_by": self.stopped_by or None,
            "late": self.late,
            "on_time": self.on_time,
            "paused": self.paused,
            "provisional": self.provisional,
            "remaining": self.remaining,
            "used": self.used,
            "warning": self.warning,
            "evidence": list(self.evidence),
        }


def _clock(
    result: ClockResult,
    done: tuple[Stamp, str] | None,
    today: date,
    cal: WorkingCalendar,
    config: ClockConfig,
    pauses: list[Suspension],
    evidence: tuple[int, ...],
) -> Clock:
    stop, stopped_by = done if done else (None, "")
    end = stop.on if stop else today
    running = stop is None
    remaining = remaining_working_days(result.due, today, cal) if running else None
    warning = None
    if running and remaining is not None and not result.paused:
        warning = warning_level(remaining, config.yellow_threshold)
    return Clock(
        kind=result.kind,
        start=result.start,
        days=result.days,
        due=result.due,
        today=today,
        done=stop,
        stopped_by=stopped_by,
        paused=result.paused and running,
        provisional=result.provisional,
        remaining=remaining,
        used=working_days_used(result.start, end, cal, pauses) if end > result.start else 0,
        warning=warning,
        evidence=tuple(sorted({*evidence, *((stop.position,) if stop else ())})),
        extension_days=result.extension_days,
    )


def _first(*candidates: tuple[Stamp | None, str]) -> tuple[Stamp, str] | None:
    present = [(s, name) for s, name in candidates if s is not None]
    return min(present, key=lambda c: c[0].position) if present else None


def acceptance_clock_of(
    f: CaseFacts, cal: WorkingCalendar, today: date, config: ClockConfig
) -> Clock | None:
    """Art. 32: accept, reject or issue one complete 补正 notice within 5 working days.

    After a timely notice the applicant has the turn (the clock is done, stopped by the
    notice) until the complete supplements arrive; acceptance is then due that same day.
    """
    if f.submitted is None:
        return None
    notice = f.supplement_requests[0] if f.supplement_requests else None
    first = _first(
        (notice, "SupplementRequested"),
        (f.accepted, "Accepted"),
        (f.rejected, "Rejected"),
        (f.withdrawn, "Withdrawn"),
    )
    art32 = compute_clock(f.submitted.on, config.acceptance_days, cal, kind="acceptance")
    evidence = (f.submitted.position,)
    timely_notice = (
        first is not None and first[1] == "SupplementRequested" and (first[0].on <= art32.due)
    )
    back = f.supplement_received
    if not timely_notice or back is None:
        return _clock(art32, first, today, cal, config, [], evidence)
    after = _first((f.accepted, "Accepted"), (f.rejected, "Rejected"), (f.withdrawn, "Withdrawn"))
    result = compute_clock(back.on, 0, cal, kind="acceptance")
    return _clock(result, after, today, cal, config, [], (*evidence, back.position))


def _limits_allow(kind: str, limits: ItemLimits) -> bool:
    return kind in ART45_PAUSE_KINDS or kind in limits.pause_kinds


def valid_pauses(f: CaseFacts, limits: ItemLimits) -> list[Suspension]:
    """The suspensions that stop the clock: allowed kinds (Art. 45 or the item's extras), and
    survey time when the item lists ``survey`` as a pause kind."""
    out = [
        Suspension(p.start.on, max(p.end.on, p.start.on) if p.end else None, p.kind)
        for p in f.suspensions
        if _limits_allow(p.kind, limits)
    ]
    if "survey" in limits.pause_kinds:
        for plan in f.surveys_scheduled:
            ends = [r.stamp for r in f.surveys_conducted if r.stamp.position > plan.stamp.position]
            end = max(ends[0].on, plan.stamp.on) if ends else None
            out.append(Suspension(plan.stamp.on, end, "survey"))
    return out


def extension_problems(
    f: CaseFacts,
    limits: ItemLimits,
    start: date,
    pauses: list[Suspension],
    cal: WorkingCalendar,
) -> list[tuple[Grant, str]]:
    """Each recorded extension that may not move the deadline, with why (S10)."""
    cap = MAX_EXTENSION_DAYS_JOINT if limits.joint else MAX_EXTENSION_DAYS
    problems: list[tuple[Grant, str]] = []
    for i, grant in enumerate(f.extensions):
        due = compute_clock(
            start, limits.statutory_days, cal, suspensions=pauses, as_of=grant.stamp.on
        ).due
        if grant.stamp.role != "approver":
            problems.append((grant, f"granted by role {grant.stamp.role!r}, not an approver"))
        elif grant.stamp.on > due:
            problems.append((grant, f"granted {grant.stamp.on} after the statutory due {due}"))
        elif i > 0:
            problems.append((grant, "a second extension (a case may be extended once)"))
        elif not 1 <= grant.days <= cap:
            problems.append((grant, f"{grant.days} working days exceeds the cap of {cap}"))
    return problems


@dataclass(frozen=True)
class DecisionStart:
    """Where the Art. 42 decision clocks start, and under which limits."""

    start: date
    deemed: bool
    limits: ItemLimits
    evidence: tuple[int, ...]


def decision_start(
    f: CaseFacts,
    cal: WorkingCalendar,
    today: date,
    config: ClockConfig,
    fallback: ItemLimits | None = None,
) -> DecisionStart | None:
    """Acceptance date, or the date deemed accepted (视为受理) when the Art. 32 clock ran out.

    A case deemed accepted but never accepted has no copied limits: ``fallback`` (the
    catalogue's limits in force) is used then. None when no decision clock runs.
    """
    acceptance = acceptance_clock_of(f, cal, today, config)
    limits = f.limits or fallback
    if acceptance is None or limits is None:
        return None
    deemed = acceptance.late
    if f.accepted is None and (not deemed or f.rejected is not None):
        return None
    if deemed:
        return DecisionStart(acceptance.start, True, limits, acceptance.evidence)
    assert f.accepted is not None
    return DecisionStart(f.accepted.on, False, limits, (f.accepted.position,))


@dataclass(frozen=True)
class CaseClocks:
    """Every clock of one case as of ``today``."""

    today: date
    acceptance: Clock | None
    deemed_accepted: bool
    promised: Clock | None
    statutory: Clock | None
    delivery: Clock | None
    surveys: tuple[Clock, ...]
    bad_review: Clock | None
    calendar_version: str

    @property
    def current(self) -> Clock | None:
        """The clock the case is running against now (acceptance, decision or delivery)."""
        for clock in (self.acceptance, self.promised, self.delivery):
            if clock is not None and clock.done is None:
                return clock
        return None

    @property
    def warning(self) -> WarningLevel | None:
        """green / yellow / red of the running clock; None when none runs or it is paused."""
        current = self.current
        if current is self.promised and self.statutory is not None and self.statutory.late:
            return "red"
        return current.warning if current else None

    @property
    def remaining(self) -> int | None:
        """Working days left on the running clock after today (negative: overdue)."""
        current = self.current
        return current.remaining if current else None

    @property
    def provisional(self) -> bool:
        """Some clock counted a year without a published holiday schedule."""
        return any(c.provisional for c in self.all())

    def all(self) -> list[Clock]:
        """Every clock present."""
        singles = (self.acceptance, self.promised, self.statutory, self.delivery, self.bad_review)
        return [c for c in (*singles, *self.surveys) if c is not None]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for ``GET /cases/{id}/clock``)."""

        def one(c: Clock | None) -> dict[str, Any] | None:
            return c.to_dict() if c else None

        return {
            "today": self.today.isoformat(),
            "deemed_accepted": self.deemed_accepted,
            "acceptance": one(self.acceptance),
            "promised": one(self.promised),
            "statutory": one(self.statutory),
            "delivery": one(self.delivery),
            "surveys": [c.to_dict() for c in self.surveys],
            "bad_review": one(self.bad_review),
            "warning": self.warning,
            "remaining": self.remaining,
            "provisional": self.provisional,
            "calendar_version": self.calendar_version,
        }


def case_clocks(
    f: CaseFacts,
    cal: WorkingCalendar,
    today: date,
    config: ClockConfig | None = None,
    fallback: ItemLimits | None = None,
) -> CaseClocks:
    """All clocks of a case as of ``today`` (a business date in the bureau's zone)."""
    cfg = config or ClockConfig()
    acceptance = acceptance_clock_of(f, cal, today, cfg)
    begin = decision_start(f, cal, today, cfg, fallback)
    promised = statutory = None
    if begin is not None:
        promised, statutory = _decision_clocks(f, begin, cal, today, cfg)
    delivery = None
    if f.decided is not None and f.outcome == "approve":
        result = compute_clock(f.decided.on, cfg.delivery_days, cal, kind="delivery")
        done = _first((f.delivered, "Delivered"))
        delivery = _clock(result, done, today, cal, cfg, [], (f.decided.position,))
    bad = None
    if f.bad_review and f.evaluated is not None:
        result = compute_clock(f.evaluated.on, cfg.bad_review_days, cal, kind="bad_review")
        done = _first((f.bad_review_handled, "BadReviewHandled"))
        bad = _clock(result, done, today, cal, cfg, [], (f.evaluated.position,))
    return CaseClocks(
        today=today,
        acceptance=acceptance,
        deemed_accepted=begin.deemed if begin else bool(acceptance and acceptance.late),
        promised=promised,
        statutory=statutory,
        delivery=delivery,
        surveys=_survey_clocks(f, cal, today, cfg),
        bad_review=bad,
        calendar_version=cal.version,
    )


def _decision_clocks(
    f: CaseFacts, begin: DecisionStart, cal: WorkingCalendar, today: date, cfg: ClockConfig
) -> tuple[Clock, Clock]:
    limits = begin.limits
    pauses = valid_pauses(f, limits)
    bad = {id(g) for g, _ in extension_problems(f, limits, begin.start, pauses, cal)}
    grant = next((g for g in f.extensions if id(g) not in bad), None)
    done = _first((f.decided, "Decided"), (f.withdrawn, "Withdrawn"))
    if done is None and f.accepted is not None and f.rejected is not None:
        done = (f.rejected, "Rejected")
    as_of = done[0].on if done else today
    evidence = (
        *begin.evidence,
        *(p.start.position for p in f.suspensions),
        *(p.end.position for p in f.suspensions if p.end),
    )
    ext = grant.days if grant else 0
    statutory = compute_clock(
        begin.start,
        limits.statutory_days + ext,
        cal,
        suspensions=pauses,
        as_of=as_of,
        kind="decision.statutory",
        extension_days=ext,
    )
    promised = compute_clock(
        begin.start,
        limits.promised_days,
        cal,
        suspensions=pauses,
        as_of=as_of,
        kind="decision.promised",
    )
    s_evidence = (*evidence, grant.stamp.position) if grant else evidence
    return (
        _clock(promised, done, today, cal, cfg, pauses, evidence),
        _clock(statutory, done, today, cal, cfg, pauses, s_evidence),
    )


def _survey_clocks(
    f: CaseFacts, cal: WorkingCalendar, today: date, cfg: ClockConfig
) -> tuple[Clock, ...]:
    clocks = []
    for plan in f.surveys_scheduled:
        pos = plan.stamp.position
        after = [r.stamp for r in f.surveys_conducted if r.stamp.position > pos]
        done = _first(
            (after[0] if after else None, "SurveyConducted"),
            (f.decided if f.decided and f.decided.position > pos else None, "Decided"),
            (f.withdrawn if f.withdrawn and f.withdrawn.position > pos else None, "Withdrawn"),
        )
        result = compute_clock(plan.stamp.on, plan.days, cal, kind="survey")
        clocks.append(_clock(result, done, today, cal, cfg, [], (pos,)))
    return tuple(clocks)


# -- the compliance projection --------------------------------------------------------------

COMPLIANCE_CASES = Table(
    "compliance_cases",
    (
        Column("case_id", not_null=True),
        Column("facts"),
        Column("case_no"),
        Column("item_code"),
        Column("service_window"),
        Column("staff"),
        Column("stage"),
        Column("received_on"),
        Column("decision_start"),
        Column("deemed", "int"),
        Column("promised_due"),
        Column("statutory_due"),
        Column("paused", "int"),
        Column("decision_open", "int"),
        Column("decided_on"),
        Column("month"),
        Column("outcome"),
        Column("promised_on_time", "int"),
        Column("statutory_on_time", "int"),
        Column("used_days", "int"),
        Column("acceptance_due"),
        Column("acceptance_open", "int"),
        Column("delivery_due"),
        Column("delivery_open", "int"),
        Column("current_kind"),
        Column("current_due"),
        Column("provisional", "int"),
        Column("as_of"),
        Column("last_position", "int"),
    ),
    ("case_id",),
    (
        Index("decided", ("decided_on",)),
        Index("open", ("decision_open", "promised_due")),
        Index("item", ("item_code",)),
    ),
)
COMPLIANCE_ITEMS = Table(
    "compliance_items",
    (Column("item_id", not_null=True), Column("facts"), Column("code")),
    ("item_id",),
)
GROUPS = {"item": "item_code", "window": "service_window", "staff": "staff", "month": "month"}


@dataclass
class _Batch:
    cases: FactsFold
    items: FactsFold


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


class ComplianceProjection(Projection[_Batch]):
    """Per-case clocks as of each case's latest event; aggregates are queries over them.

    A case's row is computed with ``today`` = the bureau date its latest event was
    recorded, so a rebuild gives the same rows; "overdue now" is a query comparing the
    stored due dates with the caller's today (:class:`ComplianceView`).
    """

    name = "compliance"
    version = 1
    tables = (COMPLIANCE_CASES, COMPLIANCE_ITEMS)
    handlers: ClassVar[dict[str, Callable[[Any, LogEvent], None]]] = {
        **{f"Case.{k}": lambda b, e: b.cases.apply(e) for k in Case.EVENT_NAMES},
        "Item.Published": lambda b, e: b.items.apply(e),
        "Item.Revised": lambda b, e: b.items.apply(e),
    }

    def __init__(
        self, calendar: WorkingCalendar | None = None, config: ClockConfig | None = None
    ) -> None:
        self._calendar = calendar
        self._config = config

    @property
    def calendar(self) -> WorkingCalendar:
        """The working-day calendar (loaded on first use)."""
        if self._calendar is None:
            self._calendar = default_calendar()
        return self._calendar

    @property
    def config(self) -> ClockConfig:
        """Clock settings from the environment (loaded on first use)."""
        if self._config is None:
            self._config = ClockConfig.load()
        return self._config

    def begin(self, tx: Tx, events: Sequence[LogEvent]) -> _Batch:
        batch = _Batch(
            FactsFold(tx, COMPLIANCE_CASES, CaseFacts, CaseFacts.from_dict),
            FactsFold(tx, COMPLIANCE_ITEMS, lambda _: ItemFacts(), ItemFacts.from_dict),
        )
        batch.cases.prefetch(e.aggregate_id for e in events if e.aggregate == "Case")
        return batch

    def finish(self, tx: Tx, state: _Batch) -> None:
        state.items.write(lambda item: {"code": item.code})
        fallback = catalogue_limits(tx, "{compliance_items}") if state.cases.changed else {}
        state.cases.write(lambda f: self.row(f, fallback.get(f.item_code)))

    def row(self, f: CaseFacts, fallback: ItemLimits | None = None) -> dict[str, Any]:
        """The derived columns of one case."""
        today = local_date(f.last.recorded_at) if f.last else date.min
        c = case_clocks(f, self.calendar, today, self.config, fallback)
        p, s, current = c.promised, c.statutory, c.current
        decided = f.decided.on if f.decided else None
        return {
            "case_no": f.case_no,
            "item_code": f.item_code,
            "service_window": f.window,
            "staff": f.staff,
            "stage": f.stage,
            "received_on": _iso(f.submitted.on if f.submitted else None),
            "decision_start": _iso(p.start if p else None),
            "deemed": int(c.deemed_accepted),
            "promised_due": _iso(p.due if p else None),
            "statutory_due": _iso(s.due if s else None),
            "paused": int(bool(p and p.paused)),
            "decision_open": int(bool(p and p.done is None)),
            "decided_on": _iso(decided),
            "month": decided.strftime("%Y-%m") if decided else None,
            "outcome": f.outcome,
            "promised_on_time": None if not (p and decided) else int(bool(p.on_time)),
            "statutory_on_time": None if not (s and decided) else int(bool(s.on_time)),
            "used_days": p.used if p and decided else None,
            "acceptance_due": _iso(c.acceptance.due if c.acceptance else None),
            "acceptance_open": int(bool(c.acceptance and c.acceptance.done is None)),
            "delivery_due": _iso(c.delivery.due if c.delivery else None),
            "delivery_open": int(bool(c.delivery and c.delivery.done is None)),
            "current_kind": current.kind if current else None,
            "current_due": _iso(current.due if current else None),
            "provisional": int(c.provisional),
            "as_of": today.isoformat(),
            "last_position": f.last.position if f.last else 0,
        }


def catalogue_limits(tx: Tx, table: str) -> dict[str, ItemLimits]:
    """Item code -> limits in force, from a projection's items table (a small catalogue)."""
    out: dict[str, ItemLimits] = {}
    for (raw,) in tx.execute(f"SELECT facts FROM {table}"):
        item = ItemFacts.from_dict(orjson.loads(raw))
        limits = item.limits()
        if limits is not None:
            out[item.code] = limits
    return out


PROJECTION = ComplianceProjection()


def bureau_today() -> date:
    """Today in the bureau's time zone (the default ``today`` of the views)."""
    return local_date(datetime.now(UTC))


_OVERDUE = {
    "acceptance": ("acceptance_due", "acceptance_open = 1"),
    "promised": ("promised_due", "decision_open = 1 AND paused = 0"),
    "statutory": ("statutory_due", "decision_open = 1 AND paused = 0"),
    "delivery": ("delivery_due", "delivery_open = 1"),
}


class ComplianceView:
    """Queries over the compliance projection: the live view, or a named target."""

    def __init__(
        self,
        db: ViewDB,
        target: str = "",
        *,
        calendar: WorkingCalendar | None = None,
        config: ClockConfig | None = None,
    ) -> None:
        self.db = db
        self.names = PROJECTION.table_names(target)
        self.calendar = calendar or PROJECTION.calendar
        self.config = config or PROJECTION.config

    def summary(
        self, group_by: str = "item", *, since: date | None = None, until: date | None = None
    ) -> dict[str, Any]:
        """On-time rates against promised and statutory limits, average working days used,
        by item, window, staff or month of decision, over cases decided in [since, until]."""
        column = GROUPS.get(group_by)
        if column is None:
            raise InvalidCommand(f"group_by must be one of {sorted(GROUPS)}, got {group_by!r}")
        bounds = ((since or date.min).isoformat(), (until or date.max).isoformat())
        decided = self.db.rows(
            f"SELECT {column} AS k, COUNT(*) AS n, SUM(promised_on_time) AS p, "
            "SUM(statutory_on_time) AS s, SUM(used_days) AS u, SUM(deemed) AS d "
            "FROM {compliance_cases} WHERE decided_on IS NOT NULL AND decided_on >= %s "
            f"AND decided_on <= %s GROUP BY {column}",
            bounds,
            self.names,
        )
        running = self.db.rows(
            f"SELECT {column} AS k, COUNT(*) AS n FROM {{compliance_cases}} "
            f"WHERE decision_open = 1 GROUP BY {column}",
            (),
            self.names,
        )
        open_by = {r["k"] or "": int(r["n"]) for r in running}
        groups = [_group(r["k"] or "", r, open_by.get(r["k"] or "", 0)) for r in decided]
        keys = {g["key"] for g in groups}
        groups += [_group(k, {}, n) for k, n in open_by.items() if k not in keys]
        groups.sort(key=lambda g: g["key"])
        total: dict[str, Any] = {
            f: sum(int(r[f] or 0) for r in decided) for f in ("n", "p", "s", "u", "d")
        }
        return {
            "group_by": group_by,
            "since": _iso(since),
            "until": _iso(until),
            "groups": groups,
            "total": _group("", total, sum(open_by.values())),
        }

    def overdue(
        self, today: date | None = None, *, kind: str | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]:
        """Cases whose running clock (acceptance, promised, statutory or delivery) is past
        its due date on ``today`` (default: the bureau's today), oldest first."""
        day = today or bureau_today()
        kinds = [kind] if kind else list(_OVERDUE)
        if any(k not in _OVERDUE for k in kinds):
            raise InvalidCommand(f"kind must be one of {sorted(_OVERDUE)}, got {kind!r}")
        out: list[dict[str, Any]] = []
        for k in kinds:
            due_col, running = _OVERDUE[k]
            rows = self.db.rows(
                f"SELECT case_id, case_no, item_code, service_window, staff, {due_col} AS due "
                f"FROM {{compliance_cases}} WHERE {running} AND {due_col} < %s "
                f"ORDER BY {due_col}, case_id LIMIT %s",
                (day.isoformat(), limit),
                self.names,
            )
            for r in rows:
                due = date.fromisoformat(r["due"])
                late = -remaining_working_days(due, day, self.calendar)
                r["window"] = r.pop("service_window")
                out.append({**r, "kind": k, "overdue_working_days": late})
        out.sort(key=lambda r: (r["due"], r["kind"], r["case_id"]))
        return out[:limit]

    def deadlines(self, case_ids: Sequence[str], today: date | None = None) -> dict[str, Any]:
        """Per case: due dates, the running clock, remaining working days and warning level
        on ``today`` (what ``case_status`` shows; kept here, keyed by case id)."""
        day = today or bureau_today()
        out: dict[str, Any] = {}
        for start in range(0, len(case_ids), 500):
            chunk = list(case_ids[start : start + 500])
            marks = ", ".join(["%s"] * len(chunk))
            rows = self.db.rows(
                "SELECT case_id, promised_due, statutory_due, acceptance_due, delivery_due, "
                "current_kind, current_due, paused, decision_open, deemed FROM "
                f"{{compliance_cases}} WHERE case_id IN ({marks})",
                chunk,
                self.names,
            )
            for r in rows:
                out[r["case_id"]] = self._deadline(r, day)
        return out

    def _deadline(self, r: dict[str, Any], day: date) -> dict[str, Any]:
        remaining = warning = None
        if r["current_due"]:
            remaining = remaining_working_days(
                date.fromisoformat(r["current_due"]), day, self.calendar
            )
            if not r["paused"]:
                warning = warning_level(remaining, self.config.yellow_threshold)
            if r["decision_open"] and r["statutory_due"] and r["statutory_due"] < day.isoformat():
                warning = "red"
        return {
            "promised_due": r["promised_due"],
            "statutory_due": r["statutory_due"],
            "acceptance_due": r["acceptance_due"],
            "delivery_due": r["delivery_due"],
            "running": r["current_kind"],
            "due": r["current_due"],
            "paused": bool(r["paused"]),
            "deemed_accepted": bool(r["deemed"]),
            "remaining_days": remaining,
            "warning": warning,
        }

    def clock(self, case_id: str, today: date | None = None) -> dict[str, Any] | None:
        """Every clock of one case on ``today``, explained (None for an unknown case)."""
        rows = self.db.rows(
            "SELECT facts FROM {compliance_cases} WHERE case_id = %s", (case_id,), self.names
        )
        if not rows:
            return None
        facts = CaseFacts.from_dict(orjson.loads(rows[0]["facts"]))
        fallback = None
        if facts.limits is None:
            items = self.db.rows("SELECT facts FROM {compliance_items}", (), self.names)
            for item in (ItemFacts.from_dict(orjson.loads(i["facts"])) for i in items):
                if item.code == facts.item_code:
                    fallback = item.limits()
        day = today or bureau_today()
        return case_clocks(facts, self.calendar, day, self.config, fallback).to_dict()


def _group(key: str, r: Mapping[str, Any], running: int) -> dict[str, Any]:
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
