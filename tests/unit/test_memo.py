"""``casestore.timelimits.memo``: the rules' answers, memoised on the calendar, with the
rules' own signatures (issue 11, D4: the signature is written once, in ``rules.py``)."""

from __future__ import annotations

import inspect
from datetime import date

import pytest

from casestore.timelimits import WorkingCalendar, memo, rules
from casestore.timelimits.rules import Suspension

START = date(2025, 3, 3)  # a Monday


def test_each_memoised_rule_has_the_rule_s_signature() -> None:
    for name in ("compute_clock", "remaining_working_days", "working_days_used"):
        wrapped, rule = getattr(memo, name), getattr(rules, name)
        assert inspect.signature(wrapped) == inspect.signature(rule), name
        assert wrapped.__wrapped__ is rule and wrapped.__doc__ == rule.__doc__


def test_a_clock_is_computed_once_and_equals_the_rule_s() -> None:
    cal = WorkingCalendar()
    first = memo.compute_clock(START, 5, cal, kind="promised")
    assert first == rules.compute_clock(START, 5, cal, kind="promised")
    assert first.due == date(2025, 3, 10)  # 5 working days after Monday 3-3
    size = len(cal.memo)
    assert memo.compute_clock(START, 5, cal, kind="promised") is first
    # the same question asked by keyword and with a default spelled out is the same entry
    again = memo.compute_clock(start=START, days=5, cal=cal, kind="promised", extension_days=0)
    assert again is first and len(cal.memo) == size
    # without suspensions ``as_of`` changes nothing
    assert memo.compute_clock(START, 5, cal, kind="promised", as_of=date(2025, 3, 5)) is first
    assert memo.compute_clock(START, 6, cal, kind="promised") is not first


def test_suspensions_given_as_a_list_or_a_generator_are_frozen_before_the_call() -> None:
    cal = WorkingCalendar()
    pause = [Suspension(date(2025, 3, 5), date(2025, 3, 6), "expert")]
    expected = rules.compute_clock(START, 5, cal, suspensions=pause)
    # suspended 3-5, resumed 3-6: 3-6 is not counted (rules.py), so 3-4, 3-5, 3-7, 3-10, 3-11
    assert expected.due == date(2025, 3, 11)
    listed = memo.compute_clock(START, 5, cal, suspensions=pause)
    generated = memo.compute_clock(START, 5, cal, suspensions=(s for s in pause))
    assert listed == expected and generated is listed
    used = memo.working_days_used(START, date(2025, 3, 7), cal, iter(pause))
    assert used == rules.working_days_used(START, date(2025, 3, 7), cal, pause) == 3


def test_as_of_bounds_an_open_suspension_so_it_is_part_of_the_question() -> None:
    cal = WorkingCalendar()
    open_pause = [(date(2025, 3, 5), None)]
    for as_of in (date(2025, 3, 6), date(2025, 3, 12)):
        got = memo.compute_clock(START, 5, cal, suspensions=open_pause, as_of=as_of)
        assert got == rules.compute_clock(START, 5, cal, suspensions=open_pause, as_of=as_of)


def test_remaining_days_are_the_rule_s_and_a_wrong_call_is_the_rule_s_error() -> None:
    cal = WorkingCalendar()
    due, today = date(2025, 3, 14), date(2025, 3, 10)
    assert memo.remaining_working_days(due, today, cal) == 4
    assert memo.remaining_working_days(due, today, cal) == rules.remaining_working_days(
        due, today, cal
    )
    with pytest.raises(TypeError):
        memo.remaining_working_days(due, today)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        memo.compute_clock(START, 5, cal, kinds="promised")  # type: ignore[call-arg]


def test_an_unhashable_suspension_is_answered_without_the_memo() -> None:
    cal = WorkingCalendar()
    pause = [[date(2025, 3, 5), date(2025, 3, 6)]]  # a list, not a tuple: unhashable
    got = memo.compute_clock(START, 5, cal, suspensions=pause)  # type: ignore[arg-type]
    assert got.due == date(2025, 3, 11) and cal.memo == {}
