"""Every clock of a case (SPEC §4) as of a business date ``today``, from its :class:`CaseFacts`.

"Today" is always a parameter. The acceptance clock stops at the first of 补正 notice,
acceptance, rejection or withdrawal; the decision clocks (promised and statutory) at
the decision or a withdrawal; delivery at delivery; the bad-review clock at its
handling; a survey clock at the survey's conclusion. How one clock reads on a day —
late, remaining working days, warning, paused — is :mod:`~casestore.projections.facts.clockstate`.

Only valid suspensions and extensions move deadlines: a pause of a kind the item does
not allow (S11), and an extension that is not the first, exceeds its cap, comes from a
non-approver or after the statutory deadline (S10) are evidence of a breach, not a
reason to give the bureau more time.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from casestore.domain.values import ART45_PAUSE_KINDS, ItemLimits
from casestore.timelimits import (
    MAX_EXTENSION_DAYS,
    MAX_EXTENSION_DAYS_JOINT,
    ClockConfig,
    Suspension,
    WarningLevel,
    WorkingCalendar,
)

from .casefacts import CaseFacts
from .clockcache import compute_clock
from .clockstate import Clock, first_stop, make_clock
from .evidence import Grant


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
    first = first_stop(
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
        return make_clock(art32, first, today, cal, config, [], evidence)
    after = first_stop(
        (f.accepted, "Accepted"), (f.rejected, "Rejected"), (f.withdrawn, "Withdrawn")
    )
    result = compute_clock(back.on, 0, cal, kind="acceptance")
    return make_clock(result, after, today, cal, config, [], (*evidence, back.position))


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
        """green / yellow / red of the running clock; None when none runs, or while it is
        paused (red if it was already late when the pause began)."""
        current = self.current
        if current is self.promised and self.statutory is not None and self.statutory.late:
            return "red"
        return current.warning if current else None

    @property
    def remaining(self) -> int | None:
        """Working days left on the running clock after today (negative: overdue); frozen
        while the clock is paused."""
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
        done = first_stop((f.delivered, "Delivered"))
        delivery = make_clock(result, done, today, cal, cfg, [], (f.decided.position,))
    bad = None
    if f.bad_review and f.evaluated is not None:
        result = compute_clock(f.evaluated.on, cfg.bad_review_days, cal, kind="bad_review")
        done = first_stop((f.bad_review_handled, "BadReviewHandled"))
        bad = make_clock(result, done, today, cal, cfg, [], (f.evaluated.position,))
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
    done = first_stop((f.decided, "Decided"), (f.withdrawn, "Withdrawn"))
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
        make_clock(promised, done, today, cal, cfg, pauses, evidence),
        make_clock(statutory, done, today, cal, cfg, pauses, s_evidence),
    )


def _survey_clocks(
    f: CaseFacts, cal: WorkingCalendar, today: date, cfg: ClockConfig
) -> tuple[Clock, ...]:
    clocks = []
    for plan in f.surveys_scheduled:
        pos = plan.stamp.position
        after = [r.stamp for r in f.surveys_conducted if r.stamp.position > pos]
        done = first_stop(
            (after[0] if after else None, "SurveyConducted"),
            (f.decided if f.decided and f.decided.position > pos else None, "Decided"),
            (f.withdrawn if f.withdrawn and f.withdrawn.position > pos else None, "Withdrawn"),
        )
        result = compute_clock(plan.stamp.on, plan.days, cal, kind="survey")
        clocks.append(make_clock(result, done, today, cal, cfg, [], (pos,)))
    return tuple(clocks)


def deemed_decision_clocks(
    f: CaseFacts,
    cal: WorkingCalendar,
    clocks: CaseClocks,
    config: ClockConfig | None = None,
    fallback: ItemLimits | None = None,
) -> tuple[Clock | None, Clock | None]:
    """The promised and statutory clocks a deemed acceptance (视为受理) would start.

    For a case still undecided on acceptance whose Art. 32 clock still runs: should that
    clock run out with no further event, the case is deemed accepted from receipt and its
    decision clocks count from then. Each is due no earlier than the acceptance clock
    (before then the case is not deemed accepted), so a reader comparing due dates with
    its day sees them overdue exactly when they are. (None, None) for any other case;
    any event on the case recomputes them.
    """
    acceptance = clocks.acceptance
    if (
        clocks.promised is not None
        or acceptance is None
        or acceptance.done is not None
        or acceptance.late
    ):
        return None, None
    later = case_clocks(f, cal, acceptance.due + timedelta(days=1), config, fallback)
    promised, statutory = (
        None if c is None else replace(c, due=max(c.due, acceptance.due))
        for c in (later.promised, later.statutory)
    )
    return promised, statutory
