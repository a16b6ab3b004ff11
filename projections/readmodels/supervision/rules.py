"""Supervision rules S01–S15 (SPEC §5) as pure functions of a case's (or an item's) facts.

Each :class:`Flag` has a stable rule id, a severity, its subject (a case, or for S14 a
catalogue item), the log positions of its evidence events, when it was raised and when
it was cleared (None while open), and a detail line.

Time and "today": the rules are pure functions of the facts and a business date
``today``. A flag whose condition became true in the past carries the instant it did:
an overdue-type flag (S01 S02 S03 S12 S13) is raised at the start of the day after the
due date (the deadline ends with its last working day) and cleared when the stopping
event finally happened (decision, acceptance, delivery, handling), so a late decision
leaves a cleared flag behind as history. A decision clock paused by an open suspension
is not late for the time it stays paused (S01/S02 are raised only if its deadline had
already passed when the pause began). Event flags (S04–S11, S14, S15) are raised at the
offending event's business time (S06/S07 at its ``recorded_at``, when the claim was
made); S06 and S07 are cleared by a ``Corrected`` event naming the offending version,
S14 by a catalogue revision that brings the promised limit back within the statutory
one; the others stay open as a record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from casestore.domain.values import ART45_PAUSE_KINDS, BUREAU_TZ, SURVEY_PARTIES, ItemLimits
from casestore.timelimits import ClockConfig, WorkingCalendar, compute_clock
from casestore.timelimits.legaltime import deadline_passes_at, notice_clock, on_time, received_day
from casestore.timelimits.supervision_config import SupervisionConfig

from ...facts.caseclocks import (
    CaseClocks,
    case_clocks,
    decision_start,
    extension_problems,
    valid_pauses,
)
from ...facts.casefacts import CaseFacts, ItemFacts
from ...facts.clockstate import Clock
from ...facts.evidence import Stamp
from .wording import RULE_TITLES_ZH, Detail, clock_detail, detail_fields

#: rule id -> (severity, what it means)
RULES: dict[str, tuple[str, str]] = {
    "S01": ("medium", "overdue against the promised limit (服务承诺超期)"),
    "S02": ("high", "overdue against the statutory limit (超法定时限, unlawful)"),
    "S03": ("high", "not accepted, rejected or told to supplement within 5 working days"),
    "S04": ("medium", "more than one supplement notice (一次性告知 broken)"),
    "S05": ("medium", "supplement notice later than 5 working days after receipt"),
    "S06": ("medium", "back-dated entry (recorded long after the time it claims)"),
    "S07": ("high", "timestamp inversion (a later step claims an earlier time)"),
    "S08": ("high", "decision without the required site survey"),
    "S09": ("high", "survey conclusion without three parties or two staff"),
    "S10": ("high", "extension after expiry, without an approver, repeated or over the cap"),
    "S11": ("high", "clock paused for a kind the law and the item do not allow"),
    "S12": ("medium", "delivery later than 10 working days after approval"),
    "S13": ("medium", "bad review (差评) not verified and rectified in time"),
    "S14": ("medium", "catalogue promises more days than the statutory limit"),
    "S15": ("high", "acceptance and completion seconds apart on a non-instant item"),
    "S17": ("medium", "Art. 45 suspension without the written notice to the applicant in time"),
    "S18": ("medium", "bad review (差评) without a follow-up call (回访) in time"),
    "S19": ("high", "a charge above the declared price of a free or price-capped service"),
}
#: Rules whose truth for a running deadline changes with the passing of days.
CLOCK_RULES: dict[str, str] = {
    "S01": "promised",
    "S02": "statutory",
    "S03": "acceptance",
    "S12": "delivery",
    "S13": "bad_review",
    "S18": "follow_up",
}


@dataclass(frozen=True)
class Flag:
    """One supervision finding with its evidence."""

    rule: str
    case_id: str | None
    item_code: str
    evidence: tuple[int, ...]
    raised_at: datetime
    cleared_at: datetime | None
    detail: Detail
    """The English text; ``detail.zh`` the Chinese, ``detail.facts`` its fields."""
    anchor: str = ""
    """Tells apart several flags of one rule on one subject (the offending position)."""

    @property
    def severity(self) -> str:
        """``high`` (unlawful or integrity) or ``medium`` (service failure)."""
        return RULES[self.rule][0]

    @property
    def flag_id(self) -> str:
        """Stable identity: rule, subject and anchor (the same on every rebuild)."""
        subject = self.case_id or f"item:{self.item_code}"
        return f"{self.rule}:{subject}:{self.anchor}" if self.anchor else f"{self.rule}:{subject}"

    @property
    def open(self) -> bool:
        """Not cleared yet."""
        return self.cleared_at is None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "id": self.flag_id,
            "rule": self.rule,
            "severity": self.severity,
            "title": RULES[self.rule][1],
            "title_zh": RULE_TITLES_ZH[self.rule],
            "case_id": self.case_id,
            "item_code": self.item_code,
            "evidence": list(self.evidence),
            "raised_at": self.raised_at.isoformat(),
            "cleared_at": self.cleared_at.isoformat() if self.cleared_at else None,
            **detail_fields(self.detail),
        }


def clock_flag(rule: str, f: CaseFacts, clock: Clock) -> Flag:
    """The overdue flag of a late clock (S01 S02 S03 S12 S13)."""
    detail = clock_detail(
        clock.kind,
        clock.due,
        clock.days,
        clock.start,
        today=None if clock.done else clock.today,
        stopped_by=clock.stopped_by,
        done_on=clock.done.on if clock.done else None,
    )
    return Flag(
        rule,
        f.case_id,
        f.item_code,
        clock.evidence,
        clock.late_since,
        clock.done.at if clock.done else None,
        detail,
    )


def case_flags(
    f: CaseFacts,
    cal: WorkingCalendar,
    today: date,
    clock_config: ClockConfig | None = None,
    config: SupervisionConfig | None = None,
    fallback: ItemLimits | None = None,
    clocks: CaseClocks | None = None,
) -> list[Flag]:
    """Every supervision flag of one case as of ``today`` (S01–S13, S15)."""
    ccfg = clock_config or ClockConfig()
    cfg = config or SupervisionConfig()
    clocks = clocks or case_clocks(f, cal, today, ccfg, fallback)
    flags: list[Flag] = []
    for rule, name in CLOCK_RULES.items():
        clock = getattr(clocks, name)
        if clock is not None and clock.late:
            flags.append(clock_flag(rule, f, clock))
    limits = f.limits or fallback
    flags += _supplement_flags(f, cal, ccfg, cfg)
    flags += _entry_flags(f, cfg)
    flags += _survey_flags(f, limits)
    flags += _extension_flags(f, cal, today, ccfg, fallback)
    flags += _pause_flags(f, limits)
    flags += notice_flags(f, cal, today, cfg)
    flags += _completion_flags(f, cfg)
    flags += _service_flags(f, cfg)
    return sorted(flags, key=lambda fl: (fl.rule, fl.raised_at, fl.anchor))


def _flag(rule: str, f: CaseFacts, stamp: Stamp, evidence: tuple[int, ...], detail: Detail) -> Flag:
    positions = tuple(sorted({*evidence, stamp.position}))
    return Flag(
        rule, f.case_id, f.item_code, positions, stamp.at, None, detail, str(stamp.position)
    )


def _supplement_flags(
    f: CaseFacts, cal: WorkingCalendar, ccfg: ClockConfig, cfg: SupervisionConfig
) -> list[Flag]:
    flags: list[Flag] = []
    notices = f.supplement_requests
    allowed = cfg.supplement_notices_allowed
    if len(notices) > allowed:
        detail = Detail("S04", notices=len(notices), allowed=allowed)
        flags.append(_flag("S04", f, notices[allowed], tuple(n.position for n in notices), detail))
    if notices and f.submitted is not None:
        start, _ = received_day(f.submitted.at, cal, ccfg)
        due = compute_clock(start, ccfg.acceptance_days, cal).due
        if not on_time(notices[0].at, due, ccfg):
            detail = Detail(
                "S05",
                received=f.submitted.on.isoformat(),
                due=due.isoformat(),
                issued=notices[0].on.isoformat(),
            )
            flags.append(_flag("S05", f, notices[0], (f.submitted.position,), detail))
    return flags


def _corrected_at(f: CaseFacts, version: int) -> datetime | None:
    fixes = [c.stamp.recorded_at for c in f.corrections if c.corrects_version == version]
    return min(fixes) if fixes else None


def _entry_flags(f: CaseFacts, cfg: SupervisionConfig) -> list[Flag]:
    flags: list[Flag] = []
    for claim in f.claims:
        s = claim.stamp
        gap = s.backdated_seconds
        if gap > cfg.backdate_seconds:
            legacy = s.claimed_recorded_at if s.imported else None
            detail = Detail(
                "S06",
                event=claim.name,
                legacy_at=legacy.isoformat() if legacy is not None else None,
                recorded_at=s.recorded_at.isoformat(),
                claims=s.at.isoformat(),
                hours=f"{gap / 3600:.1f}",
                threshold=f"{cfg.backdate_seconds / 3600:.1f}",
            )
            cleared = _corrected_at(f, s.version)
            flags.append(
                Flag(
                    "S06",
                    f.case_id,
                    f.item_code,
                    (s.position,),
                    s.recorded_at,
                    cleared,
                    detail,
                    str(s.position),
                )
            )
    for inv in f.inversions:
        s = inv.stamp
        detail = Detail(
            "S07",
            event=inv.name,
            claims=s.at.isoformat(),
            previous=inv.previous_name,
            previous_at=inv.previous.at.isoformat(),
        )
        evidence = (inv.previous.position, s.position)
        cleared = _corrected_at(f, s.version)
        flags.append(
            Flag(
                "S07",
                f.case_id,
                f.item_code,
                evidence,
                s.recorded_at,
                cleared,
                detail,
                str(s.position),
            )
        )
    return flags


def _survey_flags(f: CaseFacts, limits: ItemLimits | None) -> list[Flag]:
    flags: list[Flag] = []
    if f.decided is not None and limits is not None and limits.needs_survey:
        decided = f.decided
        before = [r for r in f.surveys_conducted if r.stamp.position < decided.position]
        if not before:
            detail = Detail("S08", item=f.item_code)
            plans = tuple(p.stamp.position for p in f.surveys_scheduled)
            flags.append(_flag("S08", f, decided, plans, detail))
    for record in f.surveys_conducted:
        missing = sorted(SURVEY_PARTIES - record.parties)
        if record.staff_count < 2 or missing:
            detail = Detail("S09", staff=record.staff_count, missing=missing)
            flags.append(_flag("S09", f, record.stamp, (), detail))
    return flags


def _extension_flags(
    f: CaseFacts,
    cal: WorkingCalendar,
    today: date,
    ccfg: ClockConfig,
    fallback: ItemLimits | None,
) -> list[Flag]:
    if not f.extensions:
        return []
    begin = decision_start(f, cal, today, ccfg, fallback)
    if begin is None:
        return [_flag("S10", f, g.stamp, (), Detail("S10.no_clock")) for g in f.extensions]
    pauses = valid_pauses(f, begin.limits)
    problems = extension_problems(f, begin.limits, begin.start, pauses, cal, ccfg)
    return [
        _flag("S10", f, g.stamp, begin.evidence, Detail(f"S10.{why.key}", **why.facts))
        for g, why in problems
    ]


def _pause_flags(f: CaseFacts, limits: ItemLimits | None) -> list[Flag]:
    allowed = ART45_PAUSE_KINDS | set(limits.pause_kinds if limits else ())
    return [
        _flag("S11", f, p.start, (), Detail("S11", kind=p.kind, item=f.item_code))
        for p in f.suspensions
        if p.kind not in allowed
    ]


def notice_flags(
    f: CaseFacts, cal: WorkingCalendar, today: date, cfg: SupervisionConfig
) -> list[Flag]:
    """S17: each Art. 45 suspension whose written notice (所需时间书面告知申请人) was not given
    within ``suspension_notice_days`` working days: given late, or missing after them
    (raised when they ran out; it stays open, there is no later notice to record)."""
    flags = []
    for p in f.suspensions:
        if p.kind not in ART45_PAUSE_KINDS:
            continue
        due = notice_clock(p.start.on, cfg.suspension_notice_days, cal).due
        given = p.notified_at
        if given is not None and given.astimezone(BUREAU_TZ).date() <= due:
            continue
        if given is None and today <= due:
            continue
        how = {"given": given.isoformat()} if given else {"none_by": today.isoformat()}
        detail = Detail(
            "S17",
            kind=p.kind,
            start=p.start.on.isoformat(),
            due=due.isoformat(),
            days=cfg.suspension_notice_days,
            **how,
        )
        raised = deadline_passes_at(due, None)
        flags.append(
            Flag(
                "S17",
                f.case_id,
                f.item_code,
                (p.start.position,),
                raised,
                None,
                detail,
                str(p.start.position),
            )
        )
    return flags


def _completion_flags(f: CaseFacts, cfg: SupervisionConfig) -> list[Flag]:
    if f.accepted is None or f.decided is None or f.limits is None or f.instant:
        return []
    gap = abs((f.decided.at - f.accepted.at).total_seconds())
    if gap >= cfg.completion_gap_seconds:
        return []
    detail = Detail(
        "S15",
        accepted=f.accepted.at.isoformat(),
        decided=f.decided.at.isoformat(),
        gap=f"{gap:.0f}",
        promised=f.limits.promised_days,
    )
    return [_flag("S15", f, f.decided, (f.accepted.position,), detail)]


def _service_flags(f: CaseFacts, cfg: SupervisionConfig) -> list[Flag]:
    """S19: a 惠民服务 charged above what the bureau declared (免费刻章/邮寄 free, 限价复印
    capped per page), at the record's business time; it stays open as a record."""
    flags: list[Flag] = []
    for stamp, service, units, charged, _cost in f.services:
        price = cfg.service_price_fen(service)
        if charged <= units * price:
            continue
        detail = Detail("S19", service=service, charged=charged, units=units, price=price)
        flags.append(_flag("S19", f, stamp, (), detail))
    return flags


def item_flags(item: ItemFacts) -> list[Flag]:
    """S14: each period an item promised more working days than its statutory limit."""
    return [
        Flag(
            "S14",
            None,
            item.code,
            tuple(sorted({b.raised.position, *((b.cleared.position,) if b.cleared else ())})),
            b.raised.at,
            b.cleared.at if b.cleared else None,
            Detail("S14", promised=b.promised_days, statutory=b.statutory_days),
            str(b.raised.position),
        )
        for b in item.breaches
    ]
