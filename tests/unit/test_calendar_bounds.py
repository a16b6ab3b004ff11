"""The calendar's range, memory and the lunar holidays of a year nobody has published yet.

Expected dates are written from the lunar calendar as published (农历 2027: 春节 初一 is
2027-02-06, so 除夕 is 02-05; 端午 五月初五 is 06-09; 中秋 八月十五 is 09-15; the 清明
solar term falls on 04-05), not read back from the converter.
"""

from __future__ import annotations

import subprocess
import sys
import tracemalloc
from datetime import date
from pathlib import Path

import pytest

from casestore.timelimits.calendar import (
    LAST_DAY,
    CalendarRangeError,
    Overrides,
    WorkingCalendar,
)

D = date.fromisoformat
CASESTORE = Path(sys.executable).parent / "casestore"


@pytest.fixture
def cal() -> WorkingCalendar:
    return WorkingCalendar(Overrides())  # lunar="auto": lunardate is a dependency


def test_2027_lunar_holidays_are_derived_and_provisional(cal: WorkingCalendar) -> None:
    assert "lunardate" in cal.source
    for day, name in [
        ("2027-02-05", "春节"),  # 除夕 (Friday)
        ("2027-02-08", "春节"),  # 初三 (Monday)
        ("2027-02-09", "春节补假"),  # 初一 and 初二 fell on the weekend
        ("2027-02-10", "春节补假"),
        ("2027-04-05", "清明节"),
        ("2027-06-09", "端午节"),
        ("2027-09-15", "中秋节"),
    ]:
        info = cal.day_info(D(day))
        assert (info.working, info.reason, info.provisional) == (False, name, True), day
    assert cal.is_working_day(D("2027-02-11"))


def test_provisional_deadline_is_not_counted_through_the_festival(cal: WorkingCalendar) -> None:
    # Wed 02-03 + 5 working days: Thu 02-04, then 02-05..02-10 closed, Thu 02-11,
    # Fri 02-12, Mon 02-15, Tue 02-16.
    assert cal.add_working_days(D("2027-02-03"), 5) == D("2027-02-16")
    assert cal.working_days_between(D("2027-02-03"), D("2027-02-16")) == 5


@pytest.mark.parametrize("day", [date(1, 1, 1), date(9999, 12, 31), date(1899, 12, 31)])
def test_dates_outside_the_range_are_refused(cal: WorkingCalendar, day: date) -> None:
    with pytest.raises(CalendarRangeError, match="outside the working-day calendar"):
        cal.day_info(day)
    with pytest.raises(CalendarRangeError):
        cal.is_working_day(day)
    with pytest.raises(CalendarRangeError):
        cal.working_days_between(D("2025-01-01"), day)


def test_counting_past_the_last_day_is_refused(cal: WorkingCalendar) -> None:
    with pytest.raises(CalendarRangeError):
        cal.add_working_days(LAST_DAY, 1)
    with pytest.raises(CalendarRangeError):
        cal.add_working_days(D("2025-01-01"), 10**9)


def test_long_spans_stay_small_in_memory(cal: WorkingCalendar) -> None:
    tracemalloc.start()
    try:
        span = cal.working_days_between(D("1900-01-01"), D("2299-12-31"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # About 250 working days a year for 400 years; never a per-day table of all of them.
    assert 95_000 < span < 105_000
    assert peak < 20 * 1024 * 1024
    assert len(cal._years) <= 32 and len(cal._cache) <= 4096


def test_deadline_command_far_in_the_future_answers_usage_error() -> None:
    done = subprocess.run(
        [CASESTORE, "deadline", "--from", "9999-12-20", "--days", "30"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "outside the working-day calendar" in done.stderr
