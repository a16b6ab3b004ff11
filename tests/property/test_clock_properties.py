"""Hypothesis properties of the working-day clocks (known and unknown calendar years)."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import assume, example, given
from hypothesis import strategies as st

from casestore.timelimits import (
    Suspension,
    WorkingCalendar,
    compute_clock,
    decision_clock,
    remaining_working_days,
    working_days_used,
)

# One shared calendar: answers are cached per instance, which keeps the properties fast.
CAL = WorkingCalendar(lunar=None)

# 2024–2027 spans chinese_calendar's data and the first year it does not know.
dates = st.dates(min_value=date(2024, 1, 1), max_value=date(2027, 12, 31))
day_counts = st.integers(min_value=0, max_value=60)


@st.composite
def suspensions(draw: st.DrawFn, near: date) -> Suspension:
    start = near + timedelta(days=draw(st.integers(min_value=-10, max_value=60)))
    length = draw(st.one_of(st.none(), st.integers(min_value=0, max_value=40)))
    end = None if length is None else start + timedelta(days=length)
    return Suspension(start, end, draw(st.sampled_from(["hearing", "testing", "appraisal"])))


@st.composite
def clock_inputs(draw: st.DrawFn) -> tuple[date, int, list[Suspension], date | None]:
    start = draw(dates)
    days = draw(day_counts)
    spans = draw(st.lists(suspensions(start), max_size=3))
    offsets = st.integers(min_value=0, max_value=90)
    as_of = draw(st.none() | offsets.map(lambda n: start + timedelta(days=n)))
    return start, days, spans, as_of


@given(clock_inputs())
# A zero-day period whose start day is also the first day of a suspension: the last-day
# rule (行政许可法第四十五条) moves its end to the day the clock resumes (found by hypothesis).
@example((date(2024, 1, 2), 0, [Suspension(date(2024, 1, 2), date(2024, 1, 3), "hearing")], None))
# A zero-day period from a holiday, moved to a 调休 working day on which a suspension
# begins: the moved-to day is not the due (found by hypothesis).
@example((date(2024, 4, 5), 0, [Suspension(date(2024, 4, 7), None, "hearing")], date(2024, 4, 8)))
def test_due_never_before_start(inputs: tuple[date, int, list[Suspension], date | None]) -> None:
    start, days, spans, as_of = inputs
    result = compute_clock(start, days, CAL, suspensions=spans, as_of=as_of)
    assert result.due >= start
    # 民法典 Art. 203 ¶1: every period ends on a working day (a zero-day period from a
    # rest day, or one ending on a resumption day that is a rest day, moves on).
    # A paused clock's due is the day it is read on (it ends when the clock resumes).
    assert CAL.is_working_day(result.due) or result.paused
    last_day_rule = any(
        n.startswith("a suspension begun on the last counted day") for n in result.notes
    )
    if not result.paused and not last_day_rule:
        assert (result.due == start) == (days == 0 and CAL.is_working_day(start))
    if last_day_rule:
        assert result.due > start
    assert len(result.counted_days) == days
    assert all(CAL.is_working_day(d) for d in result.counted_days)
    # Every day in (start, due] is either counted or excluded with a reason, once.
    # (A zero-day period that moved to the next working day ends on that uncounted day.)
    seen = sorted([*result.counted_days, *(e.day for e in result.excluded)])
    after = [start + timedelta(days=i) for i in range(1, (result.due - start).days + 1)]
    rolled = [n for n in result.notes if n.startswith("民法典第二百零三条第一款")]
    if rolled:
        # The day the period moved to is neither counted nor excluded: the due itself, or,
        # when a suspension began on it (the last-day rule), a day before the due.
        uncounted = [d for d in after if d not in seen]
        assert len(uncounted) == 1 and f"the period ends {uncounted[0]}" in rolled[0]
        after.remove(uncounted[0])
    assert seen == after


@given(clock_inputs(), st.data())
def test_adding_a_suspension_never_makes_due_earlier(
    inputs: tuple[date, int, list[Suspension], date | None], data: st.DataObject
) -> None:
    start, days, spans, as_of = inputs
    extra = data.draw(suspensions(start))
    before = compute_clock(start, days, CAL, suspensions=spans, as_of=as_of).due
    after = compute_clock(start, days, CAL, suspensions=[*spans, extra], as_of=as_of).due
    assert after >= before


@given(dates, st.integers(min_value=0, max_value=45), st.integers(min_value=0, max_value=10))
def test_extension_moves_statutory_due_by_exactly_k_working_days(
    accepted: date, statutory: int, k: int
) -> None:
    # A zero-day period from a rest day ends on the next working day (民法典 Art. 203),
    # the same day as a one-day period: the exact-k property needs a counted start.
    assume(statutory > 0 or CAL.is_working_day(accepted))
    base = decision_clock(accepted, statutory, 0, [], 0, CAL)
    extended = decision_clock(accepted, statutory, 0, [], k, CAL)
    assert CAL.working_days_between(base.statutory.due, extended.statutory.due) == k
    assert extended.promised == base.promised  # the promised clock ignores extensions


@given(clock_inputs(), st.integers(min_value=0, max_value=15))
def test_extension_with_suspensions_adds_k_counted_days(
    inputs: tuple[date, int, list[Suspension], date | None], k: int
) -> None:
    start, days, spans, _ = inputs
    assume(days > 0 or CAL.is_working_day(start))  # see the exact-k property above
    closed = [s for s in spans if s.end is not None]
    base_clock = decision_clock(start, days, 0, closed, 0, CAL, joint=True).statutory
    extended_clock = decision_clock(start, days, 0, closed, k, CAL, joint=True).statutory
    # A suspension begun on a period's last counted day ends that period on resumption
    # (the last-day rule, stated by test_used_days_match_the_clock): the k days are then
    # counted from a different end, so this exact count holds only without the rule.
    assume(not any("last counted day" in n for n in (*base_clock.notes, *extended_clock.notes)))
    assert working_days_used(base_clock.due, extended_clock.due, CAL, closed) == k


@given(dates, day_counts)
def test_add_then_count_agree(start: date, n: int) -> None:
    due = CAL.add_working_days(start, n)
    assert CAL.working_days_between(start, due) == n
    assert remaining_working_days(due, start, CAL) == n


@given(dates, dates)
def test_count_then_add_agree(a: date, b: date) -> None:
    m = CAL.working_days_between(a, b)
    assert CAL.working_days_between(b, a) == -m
    if b >= a:
        reached = CAL.add_working_days(a, m)
        assert reached <= b
        # Adding the count lands exactly on b when b is itself a working day.
        assert (reached == b) == (b == a or CAL.is_working_day(b))
        assert working_days_used(a, b, CAL) == m


@given(clock_inputs())
def test_used_days_match_the_clock(inputs: tuple[date, int, list[Suspension], date | None]) -> None:
    start, days, spans, _ = inputs
    # A zero-day period from a rest day ends on the next working day, which it does not
    # count (民法典 Art. 203 ¶1).
    assume(days > 0 or CAL.is_working_day(start))
    closed = [s for s in spans if s.end is not None]
    result = compute_clock(start, days, CAL, suspensions=closed)
    last = result.counted_days[-1] if days else start
    assert working_days_used(start, last, CAL, closed) == days
    # Past the last counted day the rules only move the end: over rest days (民法典 Art.
    # 203 ¶1) and, when a suspension began on that last day, to the day the clock
    # resumes (Art. 45) - one more working day at most, and only then.
    extra = working_days_used(last, result.due, CAL, closed)
    began_on_last = any(s.start == last for s in closed)
    assert extra == 0 or (extra == 1 and began_on_last), (last, result.due, extra)
