"""Clock rules of SPEC §4 (行政许可法 Arts. 32, 42, 44, 45, 82) as pure, self-explaining functions.

Counting (Art. 82 counts in working days): the start day is not counted; day 1 is the
first working day after it; a deadline ends at the end of its N-th working day. With
N = 0 the deadline is the start day itself (即办件 are due on their acceptance day), or
the next working day when the start day is a rest day (below).

Suspension (Art. 45, 特别程序): working days strictly after the suspension day up to and
including the resumption day are not counted; they are listed in ``excluded`` with the
reason ``suspended: <kind>`` and push the deadline later.

Periods ending on a rest day (民法典第二百零三条第一款): a period whose last day is not a
working day ends on the next working day. With N >= 1 working days the N-th counted day
is a working day already; the rule matters for zero-day periods (acceptance on the day
complete supplements arrive, 即办件) and for the last-day suspension rule below.

A suspension begun on the last counted day (the bureau's rule, see README "Legal time"):
Art. 45 excludes the time the procedure takes, and a decision is refused while the clock
is suspended, so a clock whose last counted day is the day a suspension began ends on
the day the clock resumes (the resumption day; while still open, the day it is read
on). The bureau keeps what was left of that last day; it gains nothing more.

Open suspension (no resumption yet): the clock is paused, so no final due date exists.
We treat the suspension as lasting through ``as_of`` (the caller's "today"; when not
given, through its own start day, i.e. nothing excluded yet) and set ``paused``. The
``due`` reported is then the earliest the deadline can be if the clock resumed at the
end of ``as_of``: it only moves later while the suspension lasts, the remaining working
days computed against it stay frozen, and adding a suspension never makes it earlier.
Consumers should show a paused clock as such rather than as yellow/red.

(About 500 lines, over the house's 400: the counting, its self-explanation and the
``deadline`` command's output stay in one module so one reading explains every date.)
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Literal, NamedTuple

from casestore.timelimits.articles import (
    COUNTING,
    LAST_DAY_RULE,
    REST_DAY_ARTICLE,
    SUSPENSION_ARTICLE,
    article_for,
)
from casestore.timelimits.calendar import WorkingCalendar, default_calendar

MAX_EXTENSION_DAYS = 10
"""Art. 42 ¶1: the head of the organ may extend the 20-day limit by 10 working days."""
MAX_EXTENSION_DAYS_JOINT = 15
"""Art. 42 ¶2: joint / centralised handling, 45 working days, extendable by 15."""

WarningLevel = Literal["green", "yellow", "red"]


class ClockError(ValueError):
    """Invalid input to a clock rule (negative days, resumption before suspension …)."""


class ExtensionLimitError(ClockError):
    """An extension exceeds the statutory maximum (10 working days; 15 for joint cases)."""


@dataclass(frozen=True)
class Suspension:
    """An Art. 45 special procedure: suspended on ``start``, resumed on ``end`` (None: open)."""

    start: date
    end: date | None = None
    kind: str = "suspension"


SuspensionLike = Suspension | tuple[date, date | None] | tuple[date, date | None, str]


def roll_to_working_day(day: date, cal: WorkingCalendar) -> date:
    """民法典第二百零三条第一款: a last day that is a rest day moves to the next working day.

    Bounded: a calendar with no working day in 400 days (impossible in practice) leaves
    the day as it is rather than searching for ever or past ``date.max``.
    """
    probe = day
    for _ in range(400):
        if cal.is_working_day(probe):
            return probe
        if probe >= date.max - timedelta(days=1):
            break
        probe += timedelta(days=1)
    return day


class Excluded(NamedTuple):
    """A day passed over by a clock, and why (周末, 国庆节, suspended: hearing …)."""

    day: date
    reason: str


@dataclass(frozen=True)
class ClockResult:
    """One computed deadline that explains itself."""

    kind: str
    start: date
    days: int
    due: date
    counted_days: list[date]
    excluded: list[Excluded]
    calendar_source: str
    calendar_version: str
    provisional: bool
    paused: bool = False
    extension_days: int = 0
    suspensions: list[Suspension] = field(default_factory=list)
    working_weekends: list[Excluded] = field(default_factory=list)
    """Counted days that fall on a Saturday or Sunday (调休上班), with their reason."""
    article: str = ""
    """The article the clock applies (e.g. 行政许可法第四十二条第一款)."""
    notes: tuple[str, ...] = ()
    """Each further rule that moved or shaped this deadline, with its source."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: ISO dates, excluded as ``{date, reason}``."""
        return {
            "kind": self.kind,
            "start": self.start.isoformat(),
            "days": self.days,
            "extension_days": self.extension_days,
            "due": self.due.isoformat(),
            "provisional": self.provisional,
            "paused": self.paused,
            "counted_days": [d.isoformat() for d in self.counted_days],
            "excluded": [{"date": e.day.isoformat(), "reason": e.reason} for e in self.excluded],
            "suspensions": [
                {
                    "start": s.start.isoformat(),
                    "end": s.end.isoformat() if s.end else None,
                    "kind": s.kind,
                }
                for s in self.suspensions
            ],
            "working_weekends": [
                {"date": e.day.isoformat(), "reason": e.reason} for e in self.working_weekends
            ],
            "calendar": {"source": self.calendar_source, "version": self.calendar_version},
            "article": self.article,
            "notes": list(self.notes),
        }

    def explain(self) -> str:
        """Plain-text explanation: due date, start, counted and excluded days, calendar."""
        lines = [
            f"due        {self.due.isoformat()} (end of working day {self.days} "
            f"after {self.start.isoformat()})"
        ]
        lines.append(f"basis      {self.article}")
        lines.append(f"counting   {COUNTING}")
        lines.append(f"start      {self.start.isoformat()} (start day, not counted)")
        if self.extension_days:
            lines.append(f"extension  +{self.extension_days} working days (included above)")
        counted = ", ".join(d.isoformat() for d in self.counted_days) or "none"
        lines.append(f"counted    {len(self.counted_days)} working days: {counted}")
        lines.extend(f"           incl. {d.isoformat()} {why}" for d, why in self.working_weekends)
        for i, (day, reason) in enumerate(self.excluded):
            lines.append(f"{'excluded' if i == 0 else '':<10} {day.isoformat()} {reason}")
        if not self.excluded:
            lines.append("excluded   none")
        lines.extend(f"rule       {note}" for note in self.notes)
        lines.append(f"calendar   {self.calendar_source} [{self.calendar_version}]")
        if self.paused:
            lines.append("PAUSED     an open suspension: due is the earliest possible date")
        if self.provisional:
            lines.append(
                "PROVISIONAL  a year without a published holiday schedule was used; "
                "recompute once it is added to the calendar overrides"
            )
        return "\n".join(lines)


@dataclass(frozen=True)
class DecisionClocks:
    """Art. 42 decision deadlines: statutory (lateness is unlawful) and promised (a service
    failure), reported separately."""

    accepted: date
    statutory: ClockResult
    promised: ClockResult

    @property
    def provisional(self) -> bool:
        """Whether either deadline rests on an estimated calendar year."""
        return self.statutory.provisional or self.promised.provisional

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form of both clocks."""
        return {
            "accepted": self.accepted.isoformat(),
            "statutory": self.statutory.to_dict(),
            "promised": self.promised.to_dict(),
            "provisional": self.provisional,
        }


def _normalise(
    suspensions: Iterable[SuspensionLike], as_of: date | None
) -> tuple[list[Suspension], list[tuple[date, date, str]], bool]:
    """Suspensions as given, their closed spans (start, last excluded day, reason), paused."""
    given: list[Suspension] = []
    spans: list[tuple[date, date, str]] = []
    paused = False
    for s in suspensions:
        if not isinstance(s, Suspension):
            s = Suspension(s[0], s[1], s[2] if len(s) == 3 else "suspension")
        if s.end is not None and s.end < s.start:
            raise ClockError(
                f"suspension resumed {s.end.isoformat()} before it began {s.start.isoformat()}"
            )
        given.append(s)
        end = s.end
        if end is None:
            if as_of is None or as_of >= s.start:
                paused = True
            end = max(as_of, s.start) if as_of is not None else s.start
        spans.append((s.start, end, f"suspended: {s.kind}"))
    return given, spans, paused


def _suspended(day: date, spans: list[tuple[date, date, str]]) -> str | None:
    for start, end, reason in spans:
        if start < day <= end:
            return reason
    return None


def compute_clock(
    start: date,
    days: int,
    cal: WorkingCalendar,
    *,
    suspensions: Iterable[SuspensionLike] = (),
    as_of: date | None = None,
    kind: str = "deadline",
    extension_days: int = 0,
    article: str | None = None,
    notes: Sequence[str] = (),
) -> ClockResult:
    """The generic clock: end of the ``days``-th counted working day after ``start``.

    ``days`` already includes ``extension_days`` (recorded for the explanation only).
    A last day that is a rest day moves to the next working day (民法典 Art. 203 ¶1); a
    clock whose last counted day is the day a suspension began ends on the day it
    resumes (see the module docstring). ``article`` defaults to the kind's citation.
    """
    if days < 0:
        raise ClockError(f"{kind}: working days must be >= 0, got {days}")
    given, spans, paused = _normalise(suspensions, as_of)
    counted: list[date] = []
    excluded: list[Excluded] = []
    weekends: list[Excluded] = []
    provisional = False
    day = start
    while len(counted) < days:
        day += timedelta(days=1)
        info = cal.day_info(day)
        provisional = provisional or info.provisional
        if not info.working:
            excluded.append(Excluded(day, info.reason))
        elif (reason := _suspended(day, spans)) is not None:
            excluded.append(Excluded(day, reason))
        else:
            counted.append(day)
            if day.weekday() >= 5:
                weekends.append(Excluded(day, info.reason))
    rules = list(notes)
    if spans:
        rules.append(f"{SUSPENSION_ARTICLE}: suspended days are not counted")
    open_starts = {sus.start for sus in given if sus.end is None}
    due = day
    for _ in range(len(spans) + 1):
        rolled = roll_to_working_day(due, cal)
        if rolled != due:
            rules.append(
                f"{REST_DAY_ARTICLE}: the last day {due.isoformat()} is a rest day "
                f"({cal.day_info(due).reason}); the period ends {rolled.isoformat()}"
            )
            for offset in range(1, (rolled - day).days):
                info = cal.day_info(day + timedelta(days=offset))
                excluded.append(Excluded(info.day, info.reason))
            day = due = rolled
        moved = next((sp for sp in spans if sp[0] == due and sp[1] > due), None)
        if moved is None:
            break
        rules.append(f"{LAST_DAY_RULE}: {due.isoformat()} -> {moved[1].isoformat()}")
        while day < moved[1]:
            day += timedelta(days=1)
            info = cal.day_info(day)
            provisional = provisional or info.provisional
            excluded.append(Excluded(day, moved[2] if info.working else info.reason))
        due = moved[1]
        if moved[0] in open_starts:
            break  # paused: the earliest end is the day it is read on, rest day or not
    return ClockResult(
        kind=kind,
        start=start,
        days=days,
        due=due,
        counted_days=counted,
        excluded=excluded,
        calendar_source=cal.source,
        calendar_version=cal.version,
        provisional=provisional,
        paused=paused,
        extension_days=extension_days,
        suspensions=given,
        working_weekends=weekends,
        article=article if article is not None else article_for(kind),
        notes=tuple(rules),
    )


def acceptance_clock(received: date, cal: WorkingCalendar, days: int = 5) -> ClockResult:
    """Art. 32: accept, reject or issue one complete 补正 notice within ``days`` of receipt.

    After a 补正 notice, acceptance is due when the complete supplements arrive:
    ``acceptance_clock(supplements_received, cal, days=0)``.
    """
    return compute_clock(received, days, cal, kind="acceptance")


def deemed_accepted(
    received: date, decided: date | None, today: date, cal: WorkingCalendar, days: int = 5
) -> bool:
    """视为受理: True when no acceptance, rejection or 补正 notice came within the Art. 32
    window. ``decided`` is the date of the first of those (None: none yet). When deemed
    accepted, the decision clock runs from ``received`` (Art. 32: 自收到申请材料之日起即为受理).
    """
    due = acceptance_clock(received, cal, days).due
    return (decided if decided is not None else today) > due


def _check_extension(days: int, joint: bool) -> None:
    limit, basis = (
        (MAX_EXTENSION_DAYS_JOINT, "joint handling, Art. 42 ¶2")
        if joint
        else (MAX_EXTENSION_DAYS, "Art. 42 ¶1")
    )
    if not 0 <= days <= limit:
        raise ExtensionLimitError(
            f"an extension of {days} working days is not allowed: it must be between 0 and "
            f"{limit} (行政许可法 {basis})"
        )


def decision_clock(
    accepted: date,
    statutory_days: int,
    promised_days: int,
    suspensions: Sequence[SuspensionLike],
    extension_days: int,
    cal: WorkingCalendar,
    *,
    joint: bool = False,
    as_of: date | None = None,
) -> DecisionClocks:
    """Art. 42 statutory and promised deadlines from acceptance.

    Suspensions apply to both clocks; an extension to the statutory one only, and may
    not exceed 10 working days (15 when ``joint``), else ``ExtensionLimitError``.
    A 即办件 (``promised_days`` 0) is due on its acceptance day.
    """
    _check_extension(extension_days, joint)
    if statutory_days < 0 or promised_days < 0:
        raise ClockError("statutory and promised days must be >= 0")
    statutory = compute_clock(
        accepted,
        statutory_days + extension_days,
        cal,
        suspensions=suspensions,
        as_of=as_of,
        kind="decision.statutory",
        extension_days=extension_days,
        article=article_for("decision.statutory", joint),
    )
    promised = compute_clock(
        accepted,
        promised_days,
        cal,
        suspensions=suspensions,
        as_of=as_of,
        kind="decision.promised",
    )
    return DecisionClocks(accepted, statutory, promised)


def delivery_clock(decided: date, cal: WorkingCalendar, days: int = 10) -> ClockResult:
    """Art. 44: deliver the licence within ``days`` working days of an approving decision."""
    return compute_clock(decided, days, cal, kind="delivery")


def survey_clock(scheduled: date, survey_days: int, cal: WorkingCalendar) -> ClockResult:
    """Site survey (现场踏勘): concluded within the item's ``survey_days`` of scheduling."""
    return compute_clock(scheduled, survey_days, cal, kind="survey")


def bad_review_clock(evaluated: date, cal: WorkingCalendar, days: int = 5) -> ClockResult:
    """差评: verify and rectify within ``days`` (``ClockConfig.bad_review_days``)."""
    return compute_clock(evaluated, days, cal, kind="bad_review")


def remaining_working_days(due: date, today: date, cal: WorkingCalendar) -> int:
    """Working days left after today ends: 0 on the due day, negative when overdue.

    Overdue (``today`` after ``due``) is at most -1 even on a weekend right after the due
    day, because the deadline has passed; otherwise minus the working days in (due, today].
    """
    count = cal.working_days_between(today, due)
    if today > due:
        return min(count, -1)
    return count


def warning_level(remaining: int, threshold: int = 1) -> WarningLevel:
    """``red`` when overdue, ``yellow`` at or below ``threshold`` (ClockConfig), else green."""
    if remaining < 0:
        return "red"
    if remaining <= threshold:
        return "yellow"
    return "green"


def working_days_used(
    start: date,
    end: date,
    cal: WorkingCalendar,
    suspensions: Iterable[SuspensionLike] = (),
) -> int:
    """Working days in (start, end] that the clock counted (suspended days left out).

    An open suspension counts as lasting through ``end``.
    """
    _, spans, _ = _normalise(suspensions, end)
    used, day = 0, start
    while day < end:
        day += timedelta(days=1)
        if cal.is_working_day(day) and _suspended(day, spans) is None:
            used += 1
    return used


def _parse_suspend(raw: str | SuspensionLike) -> SuspensionLike:
    if not isinstance(raw, str):
        return raw
    head, sep, tail = raw.partition(":")
    try:
        if not sep:
            raise ValueError("missing ':'")
        return Suspension(date.fromisoformat(head.strip()), date.fromisoformat(tail.strip()))
    except ValueError as exc:
        raise ClockError(
            f"--suspend expects FROM:TO dates, e.g. 2025-10-09:2025-10-15; got {raw!r}"
        ) from exc


def deadline_command(
    from_date: date | str,
    days: int,
    suspends: Sequence[str | SuspensionLike],
    extend: int,
    as_json: bool,
    *,
    cal: WorkingCalendar | None = None,
    joint: bool = False,
) -> str:
    """Output of ``casestore deadline --from DATE --days N [--suspend FROM:TO]... [--extend N]
    [--json]``.

    ``from_date`` is the start day (not counted), ``days`` the working-day limit,
    ``suspends`` strings ``FROM:TO`` (suspension day, resumption day), ``extend`` extra
    working days (≤ 10, ≤ 15 with ``joint``). Returns the text explanation, or with
    ``as_json`` a JSON object with at least ``due``, ``provisional`` and ``excluded``.
    Bad input raises ``ClockError`` (a ``ValueError``) with a message fit for the user.
    ``cal`` defaults to ``default_calendar()`` (chinese_calendar + configured overrides).
    """
    try:
        start = from_date if isinstance(from_date, date) else date.fromisoformat(from_date)
    except ValueError as exc:
        raise ClockError(f"--from expects a date YYYY-MM-DD, got {from_date!r}") from exc
    _check_extension(extend, joint)
    if days < 0:
        raise ClockError(f"--days must be >= 0, got {days}")
    result = compute_clock(
        start,
        days + extend,
        cal if cal is not None else default_calendar(),
        suspensions=[_parse_suspend(s) for s in suspends],
        extension_days=extend,
    )
    if as_json:
        return json.dumps(result.to_dict(), ensure_ascii=False, indent=2)
    return result.explain()
