"""Memoised clock arithmetic: :mod:`.rules`' answers, each computed once per calendar.

Every case's clocks are recomputed whenever a projection writes its row, and most of
them ask the same questions: the deadline N working days after one of a few hundred
start days, the working days between two dates. These wrappers answer each question once
per :class:`WorkingCalendar` (the memo lives on the calendar, beside its per-day answers,
so it goes when the calendar goes) and reuse the immutable answer; :mod:`.rules` stays
the source of truth. The memo is bounded: past ``LIMIT`` entries it is emptied and
starts again. Used by the read side's clock facts (``projections/facts``) and by
:mod:`.legaltime` (the Art. 32 clock every case asks for, on both sides).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from casestore.timelimits.calendar import WorkingCalendar
from casestore.timelimits.rules import ClockResult, SuspensionLike
from casestore.timelimits.rules import compute_clock as _compute_clock
from casestore.timelimits.rules import remaining_working_days as _remaining_working_days
from casestore.timelimits.rules import working_days_used as _working_days_used

LIMIT = 200_000


def _cache(cal: WorkingCalendar) -> dict[Any, Any]:
    cache = cal.memo
    if len(cache) > LIMIT:
        cache.clear()
    return cache


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
    """:func:`.rules.compute_clock`, answered once per distinct question."""
    spans = tuple(suspensions)
    said = tuple(notes)
    # Without suspensions ``as_of`` changes nothing (it only bounds open suspensions).
    bounded = as_of if spans else None
    key = ("clock", start, days, kind, extension_days, spans, bounded, article, said)
    cache = _cache(cal)
    try:
        result: ClockResult | None = cache.get(key)
    except TypeError:  # an unhashable suspension: compute without the cache
        return _compute_clock(
            start,
            days,
            cal,
            suspensions=spans,
            as_of=as_of,
            kind=kind,
            extension_days=extension_days,
            article=article,
            notes=said,
        )
    if result is None:
        result = cache[key] = _compute_clock(
            start,
            days,
            cal,
            suspensions=spans,
            as_of=as_of,
            kind=kind,
            extension_days=extension_days,
            article=article,
            notes=said,
        )
    return result


def remaining_working_days(due: date, today: date, cal: WorkingCalendar) -> int:
    """:func:`.rules.remaining_working_days`, cached."""
    cache = _cache(cal)
    key = ("remaining", due, today)
    value: int | None = cache.get(key)
    if value is None:
        value = cache[key] = _remaining_working_days(due, today, cal)
    return value


def working_days_used(
    start: date, end: date, cal: WorkingCalendar, suspensions: Iterable[SuspensionLike] = ()
) -> int:
    """:func:`.rules.working_days_used`, cached."""
    spans = tuple(suspensions)
    key = ("used", start, end, spans)
    cache = _cache(cal)
    try:
        value: int | None = cache.get(key)
    except TypeError:
        return _working_days_used(start, end, cal, spans)
    if value is None:
        value = cache[key] = _working_days_used(start, end, cal, spans)
    return value
