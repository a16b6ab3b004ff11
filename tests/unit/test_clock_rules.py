"""Clock rules of SPEC §4, with due dates worked out by hand from the official notices."""

from __future__ import annotations

import json
from datetime import date

import pytest

from casestore.settings import SettingsError, load_settings
from casestore.timelimits import (
    ClockConfig,
    ClockConfigError,
    ClockError,
    ExtensionLimitError,
    Suspension,
    WorkingCalendar,
    acceptance_clock,
    bad_review_clock,
    compute_clock,
    deadline_command,
    decision_clock,
    deemed_accepted,
    delivery_clock,
    remaining_working_days,
    survey_clock,
    warning_level,
    working_days_used,
)

D = date.fromisoformat


@pytest.fixture(scope="module")
def cal() -> WorkingCalendar:
    return WorkingCalendar(lunar=None)


def test_spec_worked_example(cal: WorkingCalendar) -> None:
    # SPEC §4: accepted 2025-09-30, 5 working days → due 2025-10-14.
    result = compute_clock(D("2025-09-30"), 5, cal)
    assert result.due == D("2025-10-14")
    assert result.counted_days == [D(d) for d in ("2025-10-09", "2025-10-10", "2025-10-11")] + [
        D("2025-10-13"),
        D("2025-10-14"),
    ]
    assert [e.day for e in result.excluded] == [
        *(D(f"2025-10-0{d}") for d in range(1, 9)),
        D("2025-10-12"),
    ]
    assert dict(result.excluded)[D("2025-10-06")] == "中秋节"
    assert dict(result.excluded)[D("2025-10-12")] == "周末"
    assert result.working_weekends[0].day == D("2025-10-11")
    assert not result.provisional


# (start, working days, due) — each due date derived by hand from the notices quoted in
# test_calendar.py; the day-by-day count is in the comment.
HOLIDAY_TABLE = [
    # 2025 春节: 1-28..2-4 off; 1-26 (Sun), 2-8 (Sat) work.
    ("2025-01-24", 5, "2025-02-07"),  # 1-26 Sun, 1-27, [1-28..2-4 off], 2-5, 2-6, 2-7
    ("2025-01-27", 1, "2025-02-05"),  # whole break skipped
    ("2025-01-27", 4, "2025-02-08"),  # 2-5, 2-6, 2-7, 2-8 Sat (调休)
    # 2025 劳动节: 5-1..5-5 off; 4-27 (Sun) works.
    ("2025-04-25", 1, "2025-04-27"),  # Sat 4-26 off, Sun 4-27 works
    ("2025-04-25", 5, "2025-05-06"),  # 4-27, 4-28, 4-29, 4-30, [5-1..5-5], 5-6
    ("2025-04-30", 1, "2025-05-06"),
    # 2025 国庆+中秋: 10-1..10-8 off; 9-28 (Sun), 10-11 (Sat) work.
    ("2025-09-26", 1, "2025-09-28"),  # Sat 9-27 off, Sun 9-28 works
    ("2025-09-26", 3, "2025-09-30"),  # 9-28, 9-29, 9-30
    ("2025-09-30", 5, "2025-10-14"),  # the SPEC example
    # 20: 10-9,10,11,13,14,15,16,17 (8), 20-24 (13), 27-31 (18), 11-3, 11-4 (20)
    ("2025-09-30", 20, "2025-11-04"),
    # 2026 元旦: 1-1..1-3 off; 1-4 (Sun) works.
    ("2025-12-31", 1, "2026-01-04"),
    # 2026 春节: 2-15..2-23 off; 2-14 (Sat), 2-28 (Sat) work.
    ("2026-02-12", 2, "2026-02-14"),  # 2-13 Fri, 2-14 Sat (调休)
    ("2026-02-13", 2, "2026-02-24"),  # 2-14, [2-15..2-23], 2-24
    ("2026-02-13", 5, "2026-02-27"),  # 2-14, 2-24, 2-25, 2-26, 2-27
    ("2026-02-13", 6, "2026-02-28"),  # ... 2-28 Sat (调休)
    # 20: 2-14, 24-28 (6), 3-2..3-6 (11), 3-9..3-13 (16), 3-16..3-19 (20)
    ("2026-02-13", 20, "2026-03-19"),
    # 2026 清明: 4-4..4-6 off.
    ("2026-04-03", 1, "2026-04-07"),
    # 2026 劳动节: 5-1..5-5 off; 5-9 (Sat) works.
    ("2026-04-30", 1, "2026-05-06"),
    ("2026-04-30", 5, "2026-05-11"),  # 5-6, 5-7, 5-8, 5-9 Sat (调休), 5-11
    # 2026 中秋 9-25..9-27, 国庆 10-1..10-7 off; 9-20 (Sun), 10-10 (Sat) work.
    ("2026-09-18", 1, "2026-09-20"),  # Sat 9-19 off, Sun 9-20 works
    ("2026-09-24", 1, "2026-09-28"),  # 中秋 9-25..9-27 skipped
    ("2026-09-24", 5, "2026-10-09"),  # 9-28, 9-29, 9-30, [10-1..10-7], 10-8, 10-9
    ("2026-09-24", 6, "2026-10-10"),  # ... 10-10 Sat (调休)
    ("2026-09-30", 5, "2026-10-13"),  # 10-8, 10-9, 10-10, 10-12, 10-13
]


@pytest.mark.parametrize(("start", "days", "due"), HOLIDAY_TABLE)
def test_holiday_season_table(cal: WorkingCalendar, start: str, days: int, due: str) -> None:
    result = compute_clock(D(start), days, cal)
    assert result.due == D(due)
    assert len(result.counted_days) == days
    assert cal.add_working_days(D(start), days) == D(due)


def test_acceptance_and_deemed_acceptance(cal: WorkingCalendar) -> None:
    received = D("2025-09-30")
    assert acceptance_clock(received, cal).due == D("2025-10-14")
    assert acceptance_clock(received, cal).kind == "acceptance"
    assert not deemed_accepted(received, None, D("2025-10-14"), cal)  # last day, still in time
    assert deemed_accepted(received, None, D("2025-10-15"), cal)
    assert not deemed_accepted(received, D("2025-10-14"), D("2025-12-01"), cal)
    assert deemed_accepted(received, D("2025-10-15"), D("2025-10-15"), cal)


def test_decision_clock_statutory_and_promised(cal: WorkingCalendar) -> None:
    clocks = decision_clock(D("2025-09-30"), 20, 10, [], 0, cal)
    assert clocks.statutory.due == D("2025-11-04")
    # promised 10: 10-9, 10, 11, 13, 14, 15, 16, 17, 20, 21
    assert clocks.promised.due == D("2025-10-21")
    assert clocks.to_dict()["statutory"]["due"] == "2025-11-04"


def test_instant_item_due_on_acceptance_day(cal: WorkingCalendar) -> None:
    clocks = decision_clock(D("2025-09-30"), 20, 0, [], 0, cal)
    assert clocks.promised.due == D("2025-09-30")
    assert clocks.promised.counted_days == [] and clocks.promised.excluded == []


def test_suspension_excludes_days_after_suspension_through_resumption(
    cal: WorkingCalendar,
) -> None:
    # Suspended Thu 10-09, resumed Mon 10-13: 10-10, 10-11 (调休 Sat) and 10-13 are not
    # counted; 10-09 itself is. Count: 10-09, 10-14, 10-15, 10-16, 10-17 → due 10-17.
    clocks = decision_clock(
        D("2025-09-30"), 5, 5, [Suspension(D("2025-10-09"), D("2025-10-13"), "hearing")], 0, cal
    )
    for result in (clocks.statutory, clocks.promised):
        assert result.due == D("2025-10-17")
        excluded = dict(result.excluded)
        for day in ("2025-10-10", "2025-10-11", "2025-10-13"):
            assert excluded[D(day)] == "suspended: hearing"
        assert excluded[D("2025-10-12")] == "周末"
        assert D("2025-10-09") in result.counted_days
    assert not clocks.statutory.paused


def test_plain_tuple_suspensions(cal: WorkingCalendar) -> None:
    result = compute_clock(
        D("2025-09-30"), 5, cal, suspensions=[(D("2025-10-09"), D("2025-10-13"))]
    )
    assert result.due == D("2025-10-17")
    assert dict(result.excluded)[D("2025-10-10")] == "suspended: suspension"


def test_open_suspension_is_paused_and_grows_with_as_of(cal: WorkingCalendar) -> None:
    open_ = [(D("2025-10-09"), None, "testing")]
    # Without as_of nothing is excluded yet: the earliest possible due date.
    early = decision_clock(D("2025-09-30"), 5, 5, open_, 0, cal)
    assert early.promised.due == D("2025-10-14") and early.promised.paused
    # As of 10-14: 10-10, 10-11, 10-13, 10-14 suspended; count 10-09, 15, 16, 17, 20.
    later = decision_clock(D("2025-09-30"), 5, 5, open_, 0, cal, as_of=D("2025-10-14"))
    assert later.promised.due == D("2025-10-20")
    assert remaining_working_days(later.promised.due, D("2025-10-14"), cal) == 4
    # As of a date before it began, the suspension is not in effect.
    before = decision_clock(D("2025-09-30"), 5, 5, open_, 0, cal, as_of=D("2025-10-08"))
    assert not before.promised.paused


def test_resumption_before_suspension_is_refused(cal: WorkingCalendar) -> None:
    with pytest.raises(ClockError, match="before it began"):
        compute_clock(D("2025-09-30"), 5, cal, suspensions=[(D("2025-10-13"), D("2025-10-09"))])


def test_extension_statutory_only_and_limits(cal: WorkingCalendar) -> None:
    clocks = decision_clock(D("2025-09-30"), 20, 10, [], 10, cal)
    # 20th day 11-04; +10: 11-5, 6, 7, 10, 11, 12, 13, 14, 17, 18
    assert clocks.statutory.due == D("2025-11-18")
    assert clocks.statutory.extension_days == 10
    assert clocks.promised.due == D("2025-10-21")
    with pytest.raises(ExtensionLimitError, match="between 0 and 10"):
        decision_clock(D("2025-09-30"), 20, 10, [], 11, cal)
    joint = decision_clock(D("2025-09-30"), 45, 30, [], 15, cal, joint=True)
    assert joint.statutory.days == 60
    with pytest.raises(ExtensionLimitError, match="15"):
        decision_clock(D("2025-09-30"), 45, 30, [], 16, cal, joint=True)
    with pytest.raises(ValueError):
        decision_clock(D("2025-09-30"), 20, 10, [], -1, cal)
    with pytest.raises(ClockError):
        decision_clock(D("2025-09-30"), -1, 0, [], 0, cal)


def test_delivery_survey_and_bad_review_clocks(cal: WorkingCalendar) -> None:
    # Delivery 10 from 2025-09-30: 10-9, 10, 11, 13, 14, 15, 16, 17, 20, 21.
    assert delivery_clock(D("2025-09-30"), cal).due == D("2025-10-21")
    # Delivery 10 from 2025-04-30: 5-6..5-9 (4), 5-12..5-16 (9), 5-19 (10).
    assert delivery_clock(D("2025-04-30"), cal).due == D("2025-05-19")
    # Survey 3 from 2026-09-30: 10-8, 10-9, 10-10 (调休 Sat).
    assert survey_clock(D("2026-09-30"), 3, cal).due == D("2026-10-10")
    # Bad review 5 from 2026-02-13: 2-14, 2-24, 2-25, 2-26, 2-27.
    assert bad_review_clock(D("2026-02-13"), cal).due == D("2026-02-27")
    assert bad_review_clock(D("2026-02-13"), cal, days=6).due == D("2026-02-28")


def test_remaining_working_days_and_warning(cal: WorkingCalendar) -> None:
    due = D("2025-10-14")
    assert remaining_working_days(due, D("2025-10-01"), cal) == 5
    assert remaining_working_days(due, D("2025-10-10"), cal) == 3  # 10-11, 10-13, 10-14
    assert remaining_working_days(due, D("2025-10-13"), cal) == 1
    assert remaining_working_days(due, due, cal) == 0
    assert remaining_working_days(due, D("2025-10-15"), cal) == -1
    # Due Fri 10-17: the weekend after is already overdue; Mon 10-20 is day 1, Tue day 2.
    assert remaining_working_days(D("2025-10-17"), D("2025-10-18"), cal) == -1
    assert remaining_working_days(D("2025-10-17"), D("2025-10-20"), cal) == -1
    assert remaining_working_days(D("2025-10-17"), D("2025-10-21"), cal) == -2
    assert [warning_level(r) for r in (-1, 0, 1, 2)] == ["red", "yellow", "yellow", "green"]
    assert warning_level(2, threshold=2) == "yellow"
    assert warning_level(3, threshold=ClockConfig(yellow_threshold=3).yellow_threshold) == "yellow"


def test_working_days_used(cal: WorkingCalendar) -> None:
    assert working_days_used(D("2025-09-30"), D("2025-10-14"), cal) == 5
    closed = [(D("2025-10-09"), D("2025-10-13"))]
    assert working_days_used(D("2025-09-30"), D("2025-10-14"), cal, closed) == 2
    open_ = [(D("2025-10-09"), None)]
    assert working_days_used(D("2025-09-30"), D("2025-10-14"), cal, open_) == 1
    assert working_days_used(D("2025-10-14"), D("2025-09-30"), cal) == 0


def test_unknown_year_clock_is_provisional_then_exact(cal: WorkingCalendar) -> None:
    from casestore.timelimits import Overrides

    # 2031-04-30 (Wed) + 3: estimated 劳动节 5-1, 5-2; weekend; 5-5, 5-6, 5-7.
    result = compute_clock(D("2031-04-30"), 3, cal)
    assert result.due == D("2031-05-07") and result.provisional
    assert result.to_dict()["provisional"] is True
    exact = WorkingCalendar(
        Overrides.from_mapping(
            {
                "version": "2031",
                "complete_years": [2031],
                "holidays": [{"date": f"2031-05-0{d}", "reason": "劳动节"} for d in range(1, 6)],
            }
        ),
        lunar=None,
    )
    result = compute_clock(D("2031-04-30"), 3, exact)
    assert result.due == D("2031-05-08") and not result.provisional
    # A clock entirely inside a known year is not provisional.
    assert not compute_clock(D("2026-12-01"), 5, cal).provisional


def test_to_dict_is_json_serialisable(cal: WorkingCalendar) -> None:
    result = compute_clock(D("2025-09-30"), 5, cal, suspensions=[(D("2025-10-09"), None, "x")])
    data = json.loads(json.dumps(result.to_dict(), ensure_ascii=False))
    assert data["due"] == "2025-10-14" and data["start"] == "2025-09-30"
    assert {"counted_days", "excluded", "calendar", "provisional"} <= set(data)
    assert data["excluded"][0] == {"date": "2025-10-01", "reason": "国庆节"}
    assert data["calendar"]["source"] == cal.source
    assert data["suspensions"] == [{"start": "2025-10-09", "end": None, "kind": "x"}]


def test_deadline_command_text_and_json(cal: WorkingCalendar) -> None:
    text = deadline_command("2025-09-30", 5, [], 0, False, cal=cal)
    assert text.startswith("due        2025-10-14")
    assert "国庆节" in text and "调休上班" in text and "chinesecalendar" in text
    data = json.loads(
        deadline_command(D("2025-09-30"), 5, ["2025-10-09:2025-10-13"], 2, True, cal=cal)
    )
    # 5 + 2 = 7 counted: 10-09, 10-14, 15, 16, 17, 20, 21.
    assert data["due"] == "2025-10-21"
    assert data["extension_days"] == 2 and data["provisional"] is False
    assert {"date": "2025-10-13", "reason": "suspended: suspension"} in data["excluded"]
    assert "PROVISIONAL" in deadline_command("2031-04-30", 3, [], 0, False, cal=cal)


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        (("2025-9-30", 5, [], 0), ClockError, "--from"),
        (("2025-09-30", 5, ["2025-10-09"], 0), ClockError, "FROM:TO"),
        (("2025-09-30", 5, ["2025-10-09:soon"], 0), ClockError, "FROM:TO"),
        (("2025-09-30", 5, [], 11), ExtensionLimitError, "between 0 and 10"),
        (("2025-09-30", -1, [], 0), ClockError, "--days"),
    ],
)
def test_deadline_command_bad_input(
    cal: WorkingCalendar,
    args: tuple[str, int, list[str], int],
    error: type[Exception],
    message: str,
) -> None:
    from_date, days, suspends, extend = args
    with pytest.raises(error, match=message):
        deadline_command(from_date, days, suspends, extend, False, cal=cal)


def test_deadline_command_joint_extension(cal: WorkingCalendar) -> None:
    data = json.loads(deadline_command("2025-09-30", 45, [], 15, True, cal=cal, joint=True))
    assert data["days"] == 60


def test_clock_config(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    from pathlib import Path

    assert ClockConfig().yellow_threshold == 1 and ClockConfig().bad_review_days == 5
    path = Path(str(tmp_path)) / "clock.json"
    path.write_text('{"yellow_threshold": 2, "bad_review_days": 3}', encoding="utf-8")
    env = {"CASESTORE_CLOCK_CONFIG": str(path), "CASESTORE_CLOCK_BAD_REVIEW_DAYS": "7"}
    config = load_settings(env).clock()
    assert config.yellow_threshold == 2 and config.bad_review_days == 7
    assert load_settings({}).clock().to_dict() == ClockConfig().to_dict()
    with pytest.raises(ClockConfigError, match="unknown"):
        ClockConfig.from_mapping({"yelow_threshold": 1})
    with pytest.raises(ClockConfigError, match="integer"):
        ClockConfig(yellow_threshold=-1)
    with pytest.raises(SettingsError, match=r"CASESTORE_CLOCK_YELLOW_THRESHOLD: .*integer"):
        load_settings({"CASESTORE_CLOCK_YELLOW_THRESHOLD": "one"})
    monkeypatch.setenv("CASESTORE_CLOCK_DELIVERY_DAYS", "12")
    assert load_settings().clock().delivery_days == 12


def test_legal_time_settings_come_from_the_environment_and_are_bounded() -> None:
    config = load_settings(
        {
            "CASESTORE_CLOCK_AFTER_HOURS_NEXT_DAY": "true",
            "CASESTORE_CLOCK_CLOSE_OF_BUSINESS": "1",
            "CASESTORE_CLOCK_OFFICE_CLOSES": "17:00",
            "CASESTORE_CLOCK_FOLLOW_UP_DAYS": "2",
        }
    ).clock()
    assert config.after_hours_next_day is True and config.close_of_business is True
    assert config.office_closes == "17:00" and config.follow_up_days == 2
    with pytest.raises(SettingsError, match="HH:MM"):
        load_settings({"CASESTORE_CLOCK_OFFICE_CLOSES": "25:00"})
    with pytest.raises(SettingsError, match="CASESTORE_CLOCK_CLOSE_OF_BUSINESS"):
        load_settings({"CASESTORE_CLOCK_CLOSE_OF_BUSINESS": "perhaps"})
    with pytest.raises(SettingsError, match=r"0\.\.366"):
        load_settings({"CASESTORE_CLOCK_FOLLOW_UP_DAYS": "400"})
