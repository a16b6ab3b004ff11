"""Working-day calendar: official 2025/2026 schedules, overrides, unknown years."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from casestore.settings import SettingsError
from casestore.timelimits import Overrides, OverridesError, WorkingCalendar, estimated_holidays
from casestore.timelimits.calendar import OVERRIDES_ENV, default_calendar

D = date.fromisoformat


@pytest.fixture(scope="module")
def cal() -> WorkingCalendar:
    return WorkingCalendar(lunar=None)


# Expected values below are read off the State Council (国务院办公厅) notices, not computed.
# 2025: 元旦 1-1;
#   春节 1-28..2-4 off, 1-26 (Sun) & 2-8 (Sat) work;
#   清明 4-4..4-6; 劳动节 5-1..5-5 off, 4-27 (Sun) work; 端午 5-31..6-2;
#   国庆+中秋 10-1..10-8 off (中秋 10-6), 9-28 (Sun) & 10-11 (Sat) work.
# 2026: 元旦 1-1..1-3 off, 1-4 (Sun) work;
#   春节 2-15..2-23 off, 2-14 (Sat) & 2-28 (Sat) work;
#   清明 4-4..4-6; 劳动节 5-1..5-5 off, 5-9 (Sat) work; 端午 6-19..6-21;
#   中秋 9-25..9-27; 国庆 10-1..10-7 off, 9-20 (Sun) & 10-10 (Sat) work.
# chinesecalendar 1.11.0 carries the same 2026 dates (checked against its constants).
OFFICIAL_DAYS = [
    # (date, working?, reason starts with)
    ("2025-01-01", False, "元旦"),
    ("2025-01-26", True, "调休上班"),  # Sunday
    ("2025-01-28", False, "春节"),
    ("2025-02-04", False, "春节"),
    ("2025-02-05", True, "工作日"),
    ("2025-02-08", True, "调休上班"),  # Saturday
    ("2025-04-27", True, "调休上班"),  # Sunday
    ("2025-05-05", False, "劳动节"),
    ("2025-09-28", True, "调休上班"),  # Sunday
    ("2025-10-06", False, "中秋节"),
    ("2025-10-08", False, "国庆节"),
    ("2025-10-11", True, "调休上班"),  # Saturday
    ("2025-10-12", False, "周末"),
    ("2026-01-02", False, "元旦"),
    ("2026-01-04", True, "调休上班"),  # Sunday
    ("2026-02-14", True, "调休上班"),  # Saturday
    ("2026-02-23", False, "春节"),  # Monday
    ("2026-02-28", True, "调休上班"),  # Saturday
    ("2026-04-06", False, "清明节"),  # Monday
    ("2026-05-05", False, "劳动节"),  # Tuesday
    ("2026-05-09", True, "调休上班"),  # Saturday
    ("2026-06-19", False, "端午节"),  # Friday
    ("2026-09-20", True, "调休上班"),  # Sunday
    ("2026-09-25", False, "中秋节"),  # Friday
    ("2026-10-07", False, "国庆节"),  # Wednesday
    ("2026-10-10", True, "调休上班"),  # Saturday
]


@pytest.mark.parametrize(("day", "working", "reason"), OFFICIAL_DAYS)
def test_official_days(cal: WorkingCalendar, day: str, working: bool, reason: str) -> None:
    info = cal.day_info(D(day))
    assert info.working is working
    assert info.reason.startswith(reason)
    assert info.source == "chinese_calendar"
    assert not info.provisional
    assert cal.is_working_day(D(day)) is working


def test_datetime_is_accepted(cal: WorkingCalendar) -> None:
    from datetime import datetime

    assert cal.is_working_day(datetime(2025, 10, 11, 9, 30)) is True


def test_add_working_days_counts_from_the_day_after(cal: WorkingCalendar) -> None:
    # SPEC §4: 2025-09-30 + 5 → 10-09, 10-10, 10-11 (Sat, 调休), 10-13, 10-14.
    assert cal.add_working_days(D("2025-09-30"), 5) == D("2025-10-14")
    assert cal.add_working_days(D("2025-09-30"), 0) == D("2025-09-30")
    # 2025-12-31 + 1: 2026-01-01..03 off, 01-04 (Sun) is a 调休 working day.
    assert cal.add_working_days(D("2025-12-31"), 1) == D("2026-01-04")
    with pytest.raises(ValueError):
        cal.add_working_days(D("2025-09-30"), -1)


def test_working_days_between(cal: WorkingCalendar) -> None:
    assert cal.working_days_between(D("2025-09-30"), D("2025-10-14")) == 5
    assert cal.working_days_between(D("2025-10-14"), D("2025-09-30")) == -5
    assert cal.working_days_between(D("2025-10-01"), D("2025-10-08")) == 0
    assert cal.working_days_between(D("2025-10-05"), D("2025-10-05")) == 0
    # 2026-02-13 (Fri) → 02-28: 02-14, 24, 25, 26, 27, 28 = 6.
    assert cal.working_days_between(D("2026-02-13"), D("2026-02-28")) == 6


def test_source_and_version(cal: WorkingCalendar) -> None:
    assert cal.source.startswith("chinesecalendar 1.11.0 + overrides v")
    assert cal.version.startswith("1.11.0+ov.")
    other = WorkingCalendar(Overrides.from_mapping({"version": "7"}), lunar=None)
    changed = WorkingCalendar(
        Overrides.from_mapping(
            {"version": "7", "closures": [{"date": "2025-10-09", "reason": "台风"}]}
        ),
        lunar=None,
    )
    assert "overrides v7" in other.source
    assert other.version != changed.version  # same label, different content


def test_unknown_year_is_estimated_and_provisional(cal: WorkingCalendar) -> None:
    # 2031 has no published schedule. Fixed-date holidays of the 2025 办法:
    # 元旦 1-1 (Wed), 劳动节 5-1 (Thu) & 5-2 (Fri), 国庆 10-1..10-3 (Wed-Fri);
    # 清明 falls on 4-5, a Saturday → 补假 on Monday 4-7.
    assert cal.is_provisional(D("2031-06-03"))
    assert cal.is_provisional_year(2031)
    assert not cal.is_provisional_year(2026)
    for day in ("2031-01-01", "2031-05-01", "2031-05-02", "2031-10-03", "2031-04-07"):
        info = cal.day_info(D(day))
        assert not info.working and info.provisional and info.source == "estimate"
    assert cal.day_info(D("2031-04-07")).reason == "清明节补假"
    assert cal.is_working_day(D("2031-05-06"))
    assert not cal.is_working_day(D("2031-05-03"))  # Saturday
    # Far outside every library's range: still no crash.
    assert cal.add_working_days(D("2199-12-30"), 3) > D("2199-12-30")
    assert cal.is_provisional(D("1999-05-03"))


def test_pre_2004_uses_1999_rules(cal: WorkingCalendar) -> None:
    # 1999 办法: 劳动节 5-1..5-3. 2003-05-02 is a Friday.
    assert not cal.is_working_day(D("2003-05-02"))
    assert D("2003-04-05") not in estimated_holidays(2003)  # no 清明 before 2008


def test_lunar_holidays_when_a_converter_is_available() -> None:
    # A stub converter (stands in for lunar_python / lunardate, neither a dependency).
    stub = {(1, 1): D("2031-01-23"), (5, 5): D("2031-06-24"), (8, 15): D("2031-10-01")}

    def lunar(year: int, month: int, day: int) -> date:
        return stub[(month, day)]

    days = estimated_holidays(2031, lunar)
    # 除夕 1-22 (Wed) + 初一..初三 1-23..1-25; 1-25 is a Saturday → 补假 Monday 1-27.
    assert [days[D(f"2031-01-{d}")] for d in (22, 23, 24, 25)] == ["春节"] * 4
    assert days[D("2031-01-27")] == "春节补假"
    assert days[D("2031-06-24")] == "端午节"
    # 中秋 on 10-01 coincides with 国庆: made up after 10-02/03 and the weekend → Mon 10-06.
    assert days[D("2031-10-06")] == "中秋节补假"
    cal = WorkingCalendar(lunar=lunar)
    assert not cal.is_working_day(D("2031-01-22"))
    assert "custom lunar" in cal.source


def test_failing_lunar_converter_never_crashes() -> None:
    def broken(year: int, month: int, day: int) -> date:
        raise ValueError("out of range")

    cal = WorkingCalendar(lunar=broken)
    assert cal.add_working_days(D("2031-01-20"), 5) == D("2031-01-27")


def test_override_for_unknown_year_makes_it_exact() -> None:
    overrides = Overrides.from_mapping(
        {
            "version": "2031.1",
            "complete_years": [2031],
            "holidays": [{"date": f"2031-05-0{d}", "reason": "劳动节"} for d in range(1, 6)],
            "working_days": [{"date": "2031-04-27", "reason": "调休上班 (劳动节)"}],
        }
    )
    cal = WorkingCalendar(overrides, lunar=None)
    assert not cal.is_provisional(D("2031-05-06"))
    assert cal.day_info(D("2031-04-27")).working  # Sunday, declared a working day
    assert not cal.is_working_day(D("2031-05-05"))
    # A complete year uses only what the file says: no estimated 清明补假 on 4-7.
    assert cal.is_working_day(D("2031-04-07"))
    assert cal.day_info(D("2031-04-07")).source == "complete_year"


def test_local_closure_wins_and_explains_itself() -> None:
    overrides = Overrides.from_mapping(
        {
            "version": "1",
            "closures": [{"date": "2025-10-11", "reason": "台风停工"}],
            "holidays": [{"date": "2025-10-09", "reason": "县级纪念日"}],
        }
    )
    cal = WorkingCalendar(overrides, lunar=None)
    info = cal.day_info(D("2025-10-11"))
    assert not info.working and info.reason == "local closure: 台风停工"
    assert cal.day_info(D("2025-10-09")).reason == "县级纪念日"
    # 2025-09-30 + 5 now skips 10-09 and 10-11: 10-10, 13, 14, 15, 16.
    assert cal.add_working_days(D("2025-09-30"), 5) == D("2025-10-16")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "version"),
        ({"version": "1", "holidayz": []}, "unknown"),
        ({"version": "1", "holidays": [{"date": "2025-13-01", "reason": "x"}]}, "bad date"),
        ({"version": "1", "holidays": [{"date": "2025-10-09"}]}, "reason"),
        ({"version": "1", "complete_years": ["2031"]}, "complete_years"),
        (
            {
                "version": "1",
                "holidays": [{"date": "2025-10-09", "reason": "a"}],
                "working_days": [{"date": "2025-10-09", "reason": "b"}],
            },
            "both",
        ),
        (
            {
                "version": "1",
                "closures": [
                    {"date": "2025-10-09", "reason": "a"},
                    {"date": "2025-10-09", "reason": "b"},
                ],
            },
            "twice",
        ),
    ],
)
def test_bad_overrides_are_refused(data: dict[str, object], message: str) -> None:
    with pytest.raises(OverridesError, match=message):
        Overrides.from_mapping(data)


def test_packaged_and_env_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(OVERRIDES_ENV, raising=False)
    packaged = Overrides.default()
    assert packaged.version  # the shipped file parses
    path = tmp_path / "overrides.json"
    path.write_text(
        json.dumps({"version": "local-3", "closures": [{"date": "2026-03-02", "reason": "停电"}]}),
        encoding="utf-8",
    )
    monkeypatch.setenv(OVERRIDES_ENV, str(path))
    cal = default_calendar()
    assert "overrides vlocal-3" in cal.source
    assert not cal.is_working_day(D("2026-03-02"))
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(SettingsError, match="cannot read calendar overrides"):
        Overrides.default()
