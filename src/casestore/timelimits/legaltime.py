"""Legal time: the one place where the write side and the read side learn when a period
starts, when it ends and whether an act was on time (SPEC §4, README "Legal time").

Both sides build the same plain inputs (an :class:`AcceptanceFacts`, a list of
:class:`~casestore.timelimits.rules.Suspension`) from what they hold — the ``Case``
aggregate on the write side, ``CaseFacts`` on the read side — and ask these functions,
so the extension check, the compliance view and flag S10 cannot disagree:

- :func:`received_day`: the start day of a period begun by the applicant (receipt,
  complete supplements), with the office-hours rule when configured.
- :func:`acceptance_clock_for` and :func:`decision_start`: Art. 32, deemed acceptance.
- :func:`statutory_due_on`: the Art. 42 statutory deadline as it stands on a day,
  open and closed Art. 45 suspensions included.
- :func:`extension_refusal`: why an extension may not move the deadline (or None).
- :func:`on_time` / :func:`deadline_passes_at`: whether an act was in time, with the
  close-of-business rule (民法典第二百零三条第二款) when configured.
- :func:`valid_pauses`: which suspensions stop a clock.
- :func:`bundle_clock`, :func:`notice_clock`, :func:`follow_up_clock`: the joint
  clock of a 一件事 bundle, the Art. 45 written notice, the 差评 回访.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from casestore.domain.values import ART45_PAUSE_KINDS, BUREAU_TZ, local_time
from casestore.timelimits.articles import CLOSE_OF_BUSINESS_ARTICLE, article_for
from casestore.timelimits.calendar import WorkingCalendar
from casestore.timelimits.config import ClockConfig
from casestore.timelimits.memo import compute_clock
from casestore.timelimits.rules import (
    MAX_EXTENSION_DAYS,
    MAX_EXTENSION_DAYS_JOINT,
    ClockResult,
    Suspension,
)

AFTER_HOURS_RULE = "非工作时间收件顺延 (local rule): deemed received on the next working day"


_local = local_time


def received_day(moment: datetime, cal: WorkingCalendar, cfg: ClockConfig) -> tuple[date, str]:
    """The start day (not counted) of a period begun by something the applicant handed in
    at ``moment``, and a note when the office-hours rule moved it ("" otherwise).

    With ``after_hours_next_day`` on, a receipt on a rest day, or on a working day at or
    after ``office_closes``, is deemed received on the next working day.
    """
    local = _local(moment)
    day = local.date()
    if not cfg.after_hours_next_day:
        return day, ""
    if cal.is_working_day(day) and local.time() < cfg.closes:
        return day, ""
    if day >= date.max - timedelta(days=1):
        return day, ""
    deemed = cal.add_working_days(day, 1)
    why = "a rest day" if not cal.is_working_day(day) else f"after {cfg.office_closes}"
    note = f"{AFTER_HOURS_RULE}: received {local.isoformat(timespec='minutes')} ({why})"
    return deemed, f"{note} -> start {deemed.isoformat()}"


def close_note(cfg: ClockConfig) -> tuple[str, ...]:
    """The close-of-business note every clock's explanation carries when the rule is on."""
    if not cfg.close_of_business:
        return ()
    return (f"{CLOSE_OF_BUSINESS_ARTICLE}: the last day ends at {cfg.office_closes}",)


def closing_time(cfg: ClockConfig) -> time | None:
    """The time a period's last day ends, or None for 24:00 (the default)."""
    return cfg.closes if cfg.close_of_business else None


def on_time(done_at: datetime, due: date, cfg: ClockConfig) -> bool:
    """Whether an act at ``done_at`` is within a period whose last day is ``due``: by the
    end of that day, or by ``office_closes`` when ``close_of_business`` is on."""
    return in_period(done_at, due, closing_time(cfg))


def in_period(done_at: datetime, due: date, closes: time | None) -> bool:
    """:func:`on_time` with the closing time given (None: the day ends at 24:00)."""
    local = _local(done_at)
    if local.date() != due:
        return local.date() < due
    return closes is None or local.time() <= closes


def deadline_passes_at(due: date, cfg: ClockConfig | time | None) -> datetime:
    """The instant a period ending on ``due`` has passed (start of the next day, or the
    closing time of the last day under ``close_of_business``)."""
    closes = closing_time(cfg) if isinstance(cfg, ClockConfig) else cfg
    if closes is not None:
        return datetime.combine(due, closes, BUREAU_TZ)
    if due >= date.max:
        return datetime.combine(due, time.max, BUREAU_TZ)
    return datetime.combine(due + timedelta(days=1), time(0), BUREAU_TZ)


def valid_pauses(
    suspensions: Iterable[tuple[date, date | None, str]],
    surveys: Iterable[tuple[date, date | None]],
    pause_kinds: Sequence[str],
) -> list[Suspension]:
    """The suspensions that stop a decision clock: Art. 45 kinds or the item's own pause
    kinds, plus survey time when the item lists ``survey`` (a resumption dated before its
    suspension counts as resuming the same day). Others are evidence (S11), not time."""
    allowed = ART45_PAUSE_KINDS | set(pause_kinds)
    out = [
        Suspension(start, None if end is None else max(end, start), kind)
        for start, end, kind in suspensions
        if kind in allowed
    ]
    if "survey" in pause_kinds:
        out += [
            Suspension(start, None if end is None else max(end, start), "survey")
            for start, end in surveys
        ]
    return out


@dataclass(frozen=True)
class AcceptanceFacts:
    """What Art. 32 needs of a case, in the order the log holds it.

    ``first_answer`` is the first of 补正 notice, acceptance, rejection or withdrawal (name,
    business time); ``answer`` the first of acceptance, rejection or withdrawal;
    ``supplements_at`` when the complete supplements arrived.
    """

    received_at: datetime
    first_answer: tuple[str, datetime] | None = None
    supplements_at: datetime | None = None
    answer: tuple[str, datetime] | None = None


@dataclass(frozen=True)
class AcceptanceClock:
    """The Art. 32 clock that applies, and the act that stopped it (None: still running)."""

    result: ClockResult
    stop: tuple[str, datetime] | None
    after_supplements: bool = False
    """Whether this is the zero-day clock after complete supplements (not the 5 days)."""

    def late(self, today: date, cfg: ClockConfig) -> bool:
        """Stopped after its end, or still running after it on ``today``."""
        if self.stop is not None:
            return not on_time(self.stop[1], self.result.due, cfg)
        return today > self.result.due


def acceptance_clock_for(
    a: AcceptanceFacts, cal: WorkingCalendar, cfg: ClockConfig
) -> AcceptanceClock:
    """Art. 32 ¶1: accept, reject or issue one complete 补正 notice within
    ``acceptance_days`` of receipt; after a timely notice, acceptance is due the day the
    complete supplements arrive (a zero-day period: 民法典 Art. 203 moves a rest day on)."""
    start, note = received_day(a.received_at, cal, cfg)
    notes = (*((note,) if note else ()), *close_note(cfg))
    art32 = compute_clock(start, cfg.acceptance_days, cal, kind="acceptance", notes=notes)
    first = a.first_answer
    timely_notice = (
        first is not None
        and first[0] == "SupplementRequested"
        and on_time(first[1], art32.due, cfg)
    )
    if not timely_notice or a.supplements_at is None:
        return AcceptanceClock(art32, first)
    back, note = received_day(a.supplements_at, cal, cfg)
    notes = (*((note,) if note else ()), *close_note(cfg))
    result = compute_clock(back, 0, cal, kind="acceptance", notes=notes)
    return AcceptanceClock(result, a.answer, after_supplements=True)


@dataclass(frozen=True)
class Start:
    """Where the Art. 42 decision clocks start: the acceptance day, or the day the case
    is deemed accepted (视为受理, Art. 32 ¶1 (4): 自收到申请材料之日起即为受理)."""

    day: date
    deemed: bool


def decision_start(
    a: AcceptanceFacts,
    accepted_at: datetime | None,
    rejected: bool,
    today: date,
    cal: WorkingCalendar,
    cfg: ClockConfig,
) -> Start | None:
    """The decision clocks' start, or None while none runs (not accepted and not yet
    deemed accepted, or rejected before being deemed accepted)."""
    clock = acceptance_clock_for(a, cal, cfg)
    deemed = clock.late(today, cfg)
    if accepted_at is None and (not deemed or rejected):
        return None
    if deemed:
        return Start(clock.result.start, True)
    assert accepted_at is not None
    return Start(_local(accepted_at).date(), False)


def statutory_due_on(
    start: date,
    statutory_days: int,
    pauses: Sequence[Suspension],
    on: date,
    cal: WorkingCalendar,
    *,
    joint: bool = False,
    extension_days: int = 0,
) -> ClockResult:
    """The statutory deadline as it stands on ``on``: closed suspensions excluded, an open
    one counted as lasting through ``on`` (the earliest the deadline can then be)."""
    return compute_clock(
        start,
        statutory_days + extension_days,
        cal,
        suspensions=pauses,
        as_of=on,
        kind="decision.statutory",
        extension_days=extension_days,
        article=article_for("decision.statutory", joint),
    )


def extension_refusal(
    *,
    start: date,
    statutory_days: int,
    joint: bool,
    pauses: Sequence[Suspension],
    granted_at: datetime,
    role: str,
    earlier: int,
    days: int,
    cal: WorkingCalendar,
    cfg: ClockConfig,
) -> Refusal | None:
    """Why an extension granted at ``granted_at`` may not move the statutory deadline
    (行政许可法第四十二条), or None when it may. ``earlier`` counts extensions before it."""
    cap = MAX_EXTENSION_DAYS_JOINT if joint else MAX_EXTENSION_DAYS
    due = statutory_due_on(start, statutory_days, pauses, _local(granted_at).date(), cal).due
    if role != "approver":
        return Refusal(f"granted by role {role!r}, not an approver", "role", role=role)
    if not on_time(granted_at, due, cfg):
        granted = _local(granted_at).date().isoformat()
        return Refusal(
            f"granted {granted} after the statutory due {due}",
            "late",
            granted=granted,
            due=due.isoformat(),
        )
    if earlier > 0:
        return Refusal("a second extension (a case may be extended once)", "second")
    if not 1 <= days <= cap:
        return Refusal(f"{days} working days exceeds the cap of {cap}", "cap", days=days, cap=cap)
    return None


class Refusal(str):
    """Why an extension may not move the deadline: the English sentence, with a ``key``
    (``role``, ``late``, ``second``, ``cap``) and its ``facts`` for other languages
    (flag S10's Chinese detail)."""

    key: str
    facts: dict[str, str | int]

    def __new__(cls, text: str, key: str, **facts: str | int) -> Refusal:
        refusal = super().__new__(cls, text)
        refusal.key, refusal.facts = key, facts
        return refusal


def bundle_clock(
    opened: date,
    days: int,
    child_pauses: Iterable[Suspension],
    cal: WorkingCalendar,
    *,
    as_of: date | None,
    extension_days: int = 0,
) -> ClockResult:
    """行政许可法第四十二条第二款: the joint clock of a bundle from its intake. A working day
    on which any child is in an Art. 45 procedure is not counted (the bundle cannot be
    decided without it); the clock stops at the last child's decision (delivery runs
    on each child's own Art. 44 clock)."""
    notes = ("a day any child case is suspended under 行政许可法第四十五条 is not counted",)
    return compute_clock(
        opened,
        days,
        cal,
        suspensions=list(child_pauses),
        as_of=as_of,
        kind="bundle",
        extension_days=extension_days,
        notes=notes,
    )


def notice_clock(suspended_on: date, days: int, cal: WorkingCalendar) -> ClockResult:
    """行政许可法第四十五条: the written notice of the time a special procedure needs, due
    within ``days`` working days of the suspension (SupervisionConfig)."""
    return compute_clock(suspended_on, days, cal, kind="notice")


def follow_up_clock(evaluated_on: date, days: int, cal: WorkingCalendar) -> ClockResult:
    """差评回访: the call back to the applicant within ``days`` (ClockConfig.follow_up_days)."""
    return compute_clock(evaluated_on, days, cal, kind="follow_up")
