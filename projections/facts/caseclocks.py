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

(About 440 lines, over the house's 400: every clock of a case is derived from the same
facts in one pass, so the rules that decide which evidence moves a deadline stay side by
side.)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from casestore.domain.values import ItemLimits
from casestore.timelimits import (
    ClockConfig,
    Suspension,
    WarningLevel,
    WorkingCalendar,
    article_for,
)
from casestore.timelimits.legaltime import (
    AcceptanceFacts,
    Refusal,
    acceptance_clock_for,
    extension_refusal,
    follow_up_clock,
)
from casestore.timelimits.legaltime import decision_start as legal_start
from casestore.timelimits.legaltime import valid_pauses as legal_pauses
from casestore.timelimits.memo import compute_clock

from .casefacts import CaseFacts
from .clockstate import Clock, first_stop, make_clock
from .evidence import Grant


def acceptance_facts(f: CaseFacts) -> AcceptanceFacts | None:
    """The Art. 32 facts of a case, as the write side reads them from its aggregate."""
    if f.submitted is None:
        return None
    notice = f.supplement_requests[0] if f.supplement_requests else None
    first = first_stop(
        (notice, "SupplementRequested"),
        (f.accepted, "Accepted"),
        (f.rejected, "Rejected"),
        (f.withdrawn, "Withdrawn"),
    )
    answer = first_stop(
        (f.accepted, "Accepted"), (f.rejected, "Rejected"), (f.withdrawn, "Withdrawn")
    )
    back = f.supplement_received
    return AcceptanceFacts(
        f.submitted.at,
        (first[1], first[0].at) if first else None,
        back.at if back else None,
        (answer[1], answer[0].at) if answer else None,
    )


def acceptance_clock_of(
    f: CaseFacts, cal: WorkingCalendar, today: date, config: ClockConfig
) -> Clock | None:
    """Art. 32: accept, reject or issue one complete 补正 notice within 5 working days
    (:func:`casestore.timelimits.legaltime.acceptance_clock_for`).

    After a timely notice the applicant has the turn (the clock is done, stopped by the
    notice) until the complete supplements arrive; acceptance is then due that same day
    (the next working day when that is a rest day).
    """
    return _acceptance_clock(f, acceptance_facts(f), cal, today, config)


def _acceptance_clock(
    f: CaseFacts,
    facts: AcceptanceFacts | None,
    cal: WorkingCalendar,
    today: date,
    config: ClockConfig,
) -> Clock | None:
    """:func:`acceptance_clock_of` from the case's Art. 32 facts, taken once per case."""
    if facts is None or f.submitted is None:
        return None
    clock = acceptance_clock_for(facts, cal, config)
    evidence: tuple[int, ...] = (f.submitted.position,)
    names = {
        "SupplementRequested": f.supplement_requests[0] if f.supplement_requests else None,
        "Accepted": f.accepted,
        "Rejected": f.rejected,
        "Withdrawn": f.withdrawn,
    }
    stop = None
    if clock.stop is not None:
        stamp = names[clock.stop[0]]
        assert stamp is not None
        stop = (stamp, clock.stop[0])
    if clock.after_supplements and f.supplement_received is not None:
        evidence = (*evidence, f.supplement_received.position)
    return make_clock(clock.result, stop, today, cal, config, [], evidence)


def valid_pauses(f: CaseFacts, limits: ItemLimits) -> list[Suspension]:
    """The suspensions that stop the clock (:func:`casestore.timelimits.legaltime.valid_pauses`):
    allowed kinds (Art. 45 or the item's extras), and survey time when the item lists
    ``survey`` as a pause kind."""
    surveys = []
    for plan in f.surveys_scheduled:
        ends = [r.stamp for r in f.surveys_conducted if r.stamp.position > plan.stamp.position]
        surveys.append((plan.stamp.on, ends[0].on if ends else None))
    return legal_pauses(
        [(p.start.on, p.end.on if p.end else None, p.kind) for p in f.suspensions],
        surveys,
        limits.pause_kinds,
    )


def extension_problems(
    f: CaseFacts,
    limits: ItemLimits,
    start: date,
    pauses: list[Suspension],
    cal: WorkingCalendar,
    config: ClockConfig | None = None,
) -> list[tuple[Grant, Refusal]]:
    """Each recorded extension that may not move the deadline, with why (S10), judged by
    :func:`casestore.timelimits.legaltime.extension_refusal` like the write side's check."""
    cfg = config or ClockConfig()
    problems: list[tuple[Grant, Refusal]] = []
    for i, grant in enumerate(f.extensions):
        why = extension_refusal(
            start=start,
            statutory_days=limits.statutory_days,
            joint=limits.joint,
            pauses=pauses,
            granted_at=grant.stamp.at,
            role=grant.stamp.role,
            earlier=i,
            days=grant.days,
            cal=cal,
            cfg=cfg,
        )
        if why is not None:
            problems.append((grant, why))
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
    """Acceptance date, or the date deemed accepted (视为受理) when the Art. 32 clock ran out
    (:func:`casestore.timelimits.legaltime.decision_start`, as on the write side).

    A case deemed accepted but never accepted has no copied limits: ``fallback`` (the
    catalogue's limits in force) is used then. None when no decision clock runs.
    """
    facts = acceptance_facts(f)
    return _decision_start(f, facts, cal, today, config, fallback, None)


def _decision_start(
    f: CaseFacts,
    facts: AcceptanceFacts | None,
    cal: WorkingCalendar,
    today: date,
    config: ClockConfig,
    fallback: ItemLimits | None,
    acceptance: Clock | None,
) -> DecisionStart | None:
    """:func:`decision_start` from the Art. 32 facts and, when the caller has it, the
    acceptance clock of the same day (else computed here if needed)."""
    limits = f.limits or fallback
    if facts is None or limits is None:
        return None
    accepted_at = f.accepted.at if f.accepted else None
    begin = legal_start(facts, accepted_at, f.rejected is not None, today, cal, config)
    if begin is None:
        return None
    if begin.deemed:
        if acceptance is None:
            acceptance = _acceptance_clock(f, facts, cal, today, config)
        assert acceptance is not None
        return DecisionStart(begin.day, True, limits, acceptance.evidence)
    assert f.accepted is not None
    return DecisionStart(begin.day, False, limits, (f.accepted.position,))


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
    follow_up: Clock | None = None
    """The 回访 (call back) after a 差评, within ``ClockConfig.follow_up_days``."""

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
        singles = (
            self.acceptance,
            self.promised,
            self.statutory,
            self.delivery,
            self.bad_review,
            self.follow_up,
        )
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
            "follow_up": one(self.follow_up),
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
    facts = acceptance_facts(f)  # once: both clocks below start from them
    acceptance = _acceptance_clock(f, facts, cal, today, cfg)
    begin = _decision_start(f, facts, cal, today, cfg, fallback, acceptance)
    promised = statutory = None
    if begin is not None:
        promised, statutory = _decision_clocks(f, begin, cal, today, cfg)
    delivery = None
    if f.decided is not None and f.outcome == "approve":
        result = compute_clock(f.decided.on, cfg.delivery_days, cal, kind="delivery")
        done = first_stop((f.delivered, "Delivered"))
        delivery = make_clock(result, done, today, cal, cfg, [], (f.decided.position,))
    return CaseClocks(
        follow_up=_follow_up_clock(f, cal, today, cfg),
        today=today,
        acceptance=acceptance,
        deemed_accepted=begin.deemed if begin else bool(acceptance and acceptance.late),
        promised=promised,
        statutory=statutory,
        delivery=delivery,
        surveys=_survey_clocks(f, cal, today, cfg),
        bad_review=bad_review_clock(f, cal, today, cfg),
        calendar_version=cal.version,
    )


def bad_review_clock(
    f: CaseFacts, cal: WorkingCalendar, today: date, cfg: ClockConfig
) -> Clock | None:
    """差评整改: verified and rectified within ``bad_review_days`` of the evaluation
    (``case_clocks(...).bad_review``, alone: all the evaluation view reads)."""
    if not f.bad_review or f.evaluated is None:
        return None
    result = compute_clock(f.evaluated.on, cfg.bad_review_days, cal, kind="bad_review")
    done = first_stop((f.bad_review_handled, "BadReviewHandled"))
    return make_clock(result, done, today, cal, cfg, [], (f.evaluated.position,))


def _decision_clocks(
    f: CaseFacts, begin: DecisionStart, cal: WorkingCalendar, today: date, cfg: ClockConfig
) -> tuple[Clock, Clock]:
    limits = begin.limits
    pauses = valid_pauses(f, limits)
    bad = {id(g) for g, _ in extension_problems(f, limits, begin.start, pauses, cal, cfg)}
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
        article=article_for("decision.statutory", limits.joint),
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


def _follow_up_clock(
    f: CaseFacts, cal: WorkingCalendar, today: date, cfg: ClockConfig
) -> Clock | None:
    """差评回访: the first follow-up recorded after a bad review stops the clock."""
    if not f.bad_review or f.evaluated is None:
        return None
    evaluated = f.evaluated
    after = [s for s, _ in f.follow_ups if s.position > evaluated.position]
    result = follow_up_clock(evaluated.on, cfg.follow_up_days, cal)
    done = first_stop((after[0] if after else None, "FollowUpRecorded"))
    return make_clock(result, done, today, cal, cfg, [], (evaluated.position,))


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
