"""One clock of a case on a given day: due date, lateness, remaining working days, warning.

A clock is *done* when the event that stops it exists, and its lateness is then
settled by that event's business date. An open clock is late when ``today`` is after
its due date — unless it is *paused* by an open suspension (Art. 45), which stops it
(see :mod:`casestore.timelimits.rules`: the suspension counts as lasting through
``today``, and the due date is the earliest the deadline can be if the clock resumed
at the end of ``today``). A paused clock is frozen as it stood the day the pause began
(its ``paused_since``): its remaining working days do not change while it stays
paused, and it is late only if its deadline had already passed on that day — time
spent paused never makes a clock late. :func:`read_paused` reads a paused clock on a
later day from a due date computed earlier, without the case's events (the
compliance view does this at query time).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any, NamedTuple

from casestore.domain.values import local_date
from casestore.timelimits import (
    ClockConfig,
    ClockResult,
    Suspension,
    WarningLevel,
    WorkingCalendar,
    warning_level,
)
from casestore.timelimits.legaltime import (
    close_note,
    closing_time,
    deadline_passes_at,
    in_period,
)
from casestore.timelimits.memo import remaining_working_days, working_days_used

from .evidence import Stamp


def bureau_today() -> date:
    """Today in the bureau's time zone (the default ``today`` of the views)."""
    return local_date(datetime.now(UTC))


class PausedReading(NamedTuple):
    """A paused clock as read on some day."""

    due: date
    """The earliest the deadline can be if the clock resumed at the end of that day."""
    remaining: int
    """Working days left, frozen at the value of the day the pause began."""
    late: bool
    """Whether the deadline had already passed when the pause began."""


def read_paused(
    due: date, as_of: date, since: date, today: date, cal: WorkingCalendar
) -> PausedReading:
    """A clock paused since ``since`` (and still paused), read on ``today`` from the due
    date it had on ``as_of`` (a day on or after ``since``).

    Every working day after ``since`` up to ``today`` is suspended, so the working days
    the clock had left after ``as_of`` now fall after ``today``. A clock whose counted
    days were all used up by ``since`` keeps its due date (the pause came too late to
    move it): late if that date was before ``since``.
    """
    if due < since:
        return PausedReading(due, remaining_working_days(due, since, cal), True)
    # due == since: the last counted day was the day the pause began; such a clock ends
    # on the day it resumes (README "Legal time"), so read on ``today`` it ends today.
    left = cal.working_days_between(as_of, due)
    return PausedReading(cal.add_working_days(max(today, as_of), left), left, False)


def paused_since(pauses: Sequence[Suspension], today: date) -> date | None:
    """The day the current pause began: the earliest open suspension started by ``today``."""
    starts = [p.start for p in pauses if p.end is None and p.start <= today]
    return min(starts) if starts else None


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
    paused_since: date | None = None
    """While paused: the day the pause began (the clock is frozen as it stood then)."""
    closes: time | None = None
    """The last day ends at this time (民法典第二百零三条第二款, when configured), else 24:00."""
    article: str = ""
    """The article the clock applies."""
    notes: tuple[str, ...] = ()
    """The further rules that shaped the due date (rest day, last-day suspension …)."""

    @property
    def late(self) -> bool:
        """Past its due date: settled by the stopping event, else compared with today
        (with the day the pause began, while paused)."""
        if self.done is not None:
            return not in_period(self.done.at, self.due, self.closes)
        if self.paused:
            return self.paused_since is not None and self.due < self.paused_since
        return self.today > self.due

    @property
    def on_time(self) -> bool | None:
        """For a finished clock: stopped on or before its due date; None while running."""
        return None if self.done is None else in_period(self.done.at, self.due, self.closes)

    @property
    def late_since(self) -> datetime:
        """The instant the deadline passed: the start of the day after the due date (the
        closing time of the due date under the close-of-business rule)."""
        return deadline_passes_at(self.due, self.closes)

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
            "paused_since": self.paused_since.isoformat() if self.paused_since else None,
            "provisional": self.provisional,
            "remaining": self.remaining,
            "used": self.used,
            "warning": self.warning,
            "evidence": list(self.evidence),
            "article": self.article,
            "notes": list(self.notes),
            "ends_at": self.closes.strftime("%H:%M") if self.closes else "24:00",
        }


def make_clock(
    result: ClockResult,
    done: tuple[Stamp, str] | None,
    today: date,
    cal: WorkingCalendar,
    config: ClockConfig,
    pauses: list[Suspension],
    evidence: tuple[int, ...],
) -> Clock:
    """The clock of a computed deadline on ``today``, stopped by ``done`` when given.

    ``result`` was computed with the suspensions ``pauses`` through the stopping day
    (``today`` while it runs); a paused clock has no warning unless it was already late
    when the pause began (then ``red``).
    """
    stop, stopped_by = done if done else (None, "")
    end = stop.on if stop else today
    running = stop is None
    since = paused_since(pauses, today) if running and result.paused else None
    remaining: int | None = None
    warning: WarningLevel | None = None
    if since is not None:
        reading = read_paused(result.due, today, since, today, cal)
        remaining, warning = reading.remaining, ("red" if reading.late else None)
    elif running:
        remaining = remaining_working_days(result.due, today, cal)
        warning = warning_level(remaining, config.yellow_threshold)
    # Every field given, so the instance is made from its field dict (the frozen
    # dataclass's keyword __init__ sets its 19 fields one guarded call at a time: a few
    # per cent of a compliance or supervision rebuild, which derives clocks per case).
    clock: Clock = object.__new__(Clock)
    _setattr(
        clock,
        "__dict__",
        {
            "kind": result.kind,
            "start": result.start,
            "days": result.days,
            "due": result.due,
            "today": today,
            "done": stop,
            "stopped_by": stopped_by,
            "paused": since is not None,
            "provisional": result.provisional,
            "remaining": remaining,
            "used": working_days_used(result.start, end, cal, pauses) if end > result.start else 0,
            "warning": warning,
            "evidence": tuple(sorted({*evidence, *((stop.position,) if stop else ())})),
            "extension_days": result.extension_days,
            "paused_since": since,
            "closes": closing_time(config),
            "article": result.article,
            "notes": (*result.notes, *(n for n in close_note(config) if n not in result.notes)),
        },
    )
    return clock


_setattr = object.__setattr__


def first_stop(*candidates: tuple[Stamp | None, str]) -> tuple[Stamp, str] | None:
    """The earliest (by log position) of the events present, with its name."""
    present = [(s, name) for s, name in candidates if s is not None]
    return min(present, key=lambda c: c[0].position) if present else None
