"""The legal-time module at its boundaries (issue 19).

Every expected date below was counted by hand from the law and the State Council holiday
notices for 2025 (国办发明电〔2024〕12号): 清明 4-4..4-6; 劳动节 5-1..5-5 with Sunday
4-27 worked; 国庆/中秋 10-1..10-8 with Sunday 9-28 and Saturday 10-11 worked.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

import pytest

from casestore.timelimits import ClockConfig, Suspension, WorkingCalendar, deadline_command
from casestore.timelimits.legaltime import (
    AcceptanceFacts,
    acceptance_clock_for,
    bundle_clock,
    deadline_passes_at,
    decision_start,
    extension_refusal,
    follow_up_clock,
    notice_clock,
    on_time,
    received_day,
    statutory_due_on,
    valid_pauses,
)
from casestore.timelimits.rules import compute_clock, roll_to_working_day

D = date.fromisoformat
CST = timezone(timedelta(hours=8))


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=CST)


@pytest.fixture(scope="module")
def cal() -> WorkingCalendar:
    return WorkingCalendar(lunar=None)


OFF = ClockConfig()
AFTER_HOURS = ClockConfig(after_hours_next_day=True, office_closes="17:30")
CLOSING = ClockConfig(close_of_business=True, office_closes="17:30")


# -- 民法典 Art. 203 ¶1: zero-day periods and periods ending on a rest day -----------------


def test_zero_days_from_a_holiday_ends_on_the_next_working_day(cal: WorkingCalendar) -> None:
    # 2025-10-04 is in the 国庆 holiday (10-1..10-8); 10-09 is the first working day.
    out = json.loads(deadline_command("2025-10-04", 0, [], 0, True, cal=cal))
    assert out["due"] == "2025-10-09"
    assert any("民法典第二百零三条第一款" in n for n in out["notes"])
    text = deadline_command("2025-10-04", 0, [], 0, False, cal=cal)
    assert "due        2025-10-09" in text and "民法典第二百零三条第一款" in text


def test_zero_days_from_a_working_day_is_that_day(cal: WorkingCalendar) -> None:
    assert compute_clock(D("2025-10-09"), 0, cal).due == D("2025-10-09")
    assert compute_clock(D("2025-09-28"), 0, cal).due == D("2025-09-28")  # 调休上班 Sunday


def test_roll_to_working_day_passes_a_whole_holiday(cal: WorkingCalendar) -> None:
    assert roll_to_working_day(D("2025-10-01"), cal) == D("2025-10-09")
    assert roll_to_working_day(D("2025-10-11"), cal) == D("2025-10-11")  # 调休 Saturday


def test_supplements_on_a_saturday_are_due_on_monday(cal: WorkingCalendar) -> None:
    # Received Mon 3-3, 补正 notice Tue 3-4 (timely), supplements complete Sat 3-15.
    facts = AcceptanceFacts(
        received_at=at("2025-03-03T10:00"),
        first_answer=("SupplementRequested", at("2025-03-04T10:00")),
        supplements_at=at("2025-03-15T10:00"),
    )
    clock = acceptance_clock_for(facts, cal, OFF)
    assert clock.result.due == D("2025-03-17")
    accepted_monday = AcceptanceFacts(
        **{**facts.__dict__, "answer": ("Accepted", at("2025-03-17T09:00"))}
    )
    assert not acceptance_clock_for(accepted_monday, cal, OFF).late(D("2025-03-17"), OFF)
    start = decision_start(
        accepted_monday, at("2025-03-17T09:00"), False, D("2025-03-17"), cal, OFF
    )
    assert start is not None and not start.deemed and start.day == D("2025-03-17")


# -- Art. 45 suspensions and the statutory deadline on a day -----------------------------


def test_extension_during_an_open_suspension_counts_the_pause(cal: WorkingCalendar) -> None:
    # Accepted Mon 3-3, 20 working days: due 3-31. Suspended Thu 3-27 (18 days used, 2
    # left), still open on Thu 4-10: the 2 days left fall on Fri 4-11 and Mon 4-14.
    pauses = [Suspension(D("2025-03-27"), None, "expert_review")]
    assert statutory_due_on(D("2025-03-03"), 20, [], D("2025-04-10"), cal).due == D("2025-03-31")
    due = statutory_due_on(D("2025-03-03"), 20, pauses, D("2025-04-10"), cal)
    assert due.due == D("2025-04-14")
    assert due.article == "行政许可法第四十二条第一款"
    assert (
        extension_refusal(
            start=D("2025-03-03"),
            statutory_days=20,
            joint=False,
            pauses=pauses,
            granted_at=at("2025-04-10T10:00"),
            role="approver",
            earlier=0,
            days=10,
            cal=cal,
            cfg=OFF,
        )
        is None
    )


def test_suspension_begun_on_the_last_counted_day_ends_on_resumption(cal: WorkingCalendar) -> None:
    # 7 working days from Mon 3-10: 3-11 12 13 14 17 18 19 -> due Wed 3-19. Suspended 3-19,
    # resumed Mon 3-24: the period ends 3-24, not 3-19.
    closed = [Suspension(D("2025-03-19"), D("2025-03-24"), "expert_review")]
    result = compute_clock(D("2025-03-10"), 7, cal, suspensions=closed, kind="decision.statutory")
    assert result.due == D("2025-03-24")
    assert any("last counted day" in n for n in result.notes)
    # Still open when read on Fri 3-21: the earliest end is that day.
    still_open = [Suspension(D("2025-03-19"), None, "expert_review")]
    assert compute_clock(
        D("2025-03-10"), 7, cal, suspensions=still_open, as_of=D("2025-03-21")
    ).due == D("2025-03-21")
    # Begun the day before the last day: one day left, counted after resumption (3-25).
    earlier = [Suspension(D("2025-03-18"), D("2025-03-24"), "expert_review")]
    assert compute_clock(D("2025-03-10"), 7, cal, suspensions=earlier).due == D("2025-03-25")


def test_suspension_after_the_deadline_moves_nothing(cal: WorkingCalendar) -> None:
    late = [Suspension(D("2025-03-20"), D("2025-03-24"), "expert_review")]
    assert compute_clock(D("2025-03-10"), 7, cal, suspensions=late).due == D("2025-03-19")


def test_valid_pauses_keep_allowed_kinds_and_survey_time_only_when_listed() -> None:
    raw = [(D("2025-03-05"), D("2025-03-07"), "hearing"), (D("2025-03-10"), None, "coffee")]
    surveys = [(D("2025-03-12"), D("2025-03-13"))]
    assert valid_pauses(raw, surveys, ()) == [
        Suspension(D("2025-03-05"), D("2025-03-07"), "hearing")
    ]
    with_survey = valid_pauses(raw, surveys, ("survey",))
    assert Suspension(D("2025-03-12"), D("2025-03-13"), "survey") in with_survey


# -- Art. 32 deemed acceptance ------------------------------------------------------------


def test_deemed_acceptance_starts_the_statutory_clock_at_receipt(cal: WorkingCalendar) -> None:
    # Received Fri 9-26; 5 working days: 9-28 (Sun, worked) 9-29 9-30 10-09 10-10 -> 10-10.
    # Accepted only on 10-31: deemed accepted from 9-26. 20 working days from 9-26:
    # ... 10-10 (5) 10-11 (Sat, worked, 6) 10-13..17 (11) 10-20..24 (16) 10-27..30 (20).
    facts = AcceptanceFacts(
        received_at=at("2025-09-26T10:00"),
        first_answer=("Accepted", at("2025-10-31T10:00")),
        answer=("Accepted", at("2025-10-31T10:00")),
    )
    assert acceptance_clock_for(facts, cal, OFF).result.due == D("2025-10-10")
    start = decision_start(facts, at("2025-10-31T10:00"), False, D("2025-11-03"), cal, OFF)
    assert start is not None and start.deemed and start.day == D("2025-09-26")
    assert statutory_due_on(start.day, 20, [], D("2025-11-03"), cal).due == D("2025-10-30")
    why = extension_refusal(
        start=start.day,
        statutory_days=20,
        joint=False,
        pauses=[],
        granted_at=at("2025-11-03T10:00"),
        role="approver",
        earlier=0,
        days=10,
        cal=cal,
        cfg=OFF,
    )
    assert why is not None and "2025-10-30" in why


def test_not_deemed_while_the_acceptance_window_runs(cal: WorkingCalendar) -> None:
    facts = AcceptanceFacts(received_at=at("2025-09-26T10:00"))
    assert decision_start(facts, None, False, D("2025-10-10"), cal, OFF) is None
    deemed = decision_start(facts, None, False, D("2025-10-11"), cal, OFF)
    assert deemed is not None and deemed.deemed


# -- office hours ------------------------------------------------------------------------


def test_after_hours_receipt_with_each_configuration(cal: WorkingCalendar) -> None:
    # Tue 3-4 18:00: off -> start 3-4, due 3-11 (3-5 6 7 10 11); on -> deemed received
    # Wed 3-5, due 3-12. Before closing (17:00) nothing moves.
    late = AcceptanceFacts(received_at=at("2025-03-04T18:00"))
    assert acceptance_clock_for(late, cal, OFF).result.due == D("2025-03-11")
    on = acceptance_clock_for(late, cal, AFTER_HOURS).result
    assert on.start == D("2025-03-05") and on.due == D("2025-03-12")
    assert any("非工作时间收件顺延" in n for n in on.notes)
    early = AcceptanceFacts(received_at=at("2025-03-04T17:00"))
    assert acceptance_clock_for(early, cal, AFTER_HOURS).result.due == D("2025-03-11")


def test_rest_day_receipt_with_each_configuration(cal: WorkingCalendar) -> None:
    # Sat 3-8: off -> start 3-8, due Fri 3-14; on -> deemed received Mon 3-10, due Mon 3-17.
    facts = AcceptanceFacts(received_at=at("2025-03-08T10:00"))
    assert acceptance_clock_for(facts, cal, OFF).result.due == D("2025-03-14")
    assert acceptance_clock_for(facts, cal, AFTER_HOURS).result.due == D("2025-03-17")
    assert received_day(at("2025-10-03T10:00"), cal, AFTER_HOURS)[0] == D("2025-10-09")


def test_close_of_business_with_each_configuration() -> None:
    due = D("2025-03-11")
    assert on_time(at("2025-03-11T17:45"), due, OFF)
    assert not on_time(at("2025-03-11T17:45"), due, CLOSING)
    assert on_time(at("2025-03-11T17:30"), due, CLOSING)
    assert not on_time(at("2025-03-12T08:00"), due, OFF)
    assert deadline_passes_at(due, OFF) == at("2025-03-12T00:00")
    assert deadline_passes_at(due, CLOSING) == at("2025-03-11T17:30")


def test_close_of_business_is_in_the_explanation(cal: WorkingCalendar) -> None:
    clock = acceptance_clock_for(AcceptanceFacts(received_at=at("2025-03-04T10:00")), cal, CLOSING)
    assert "民法典第二百零三条第二款: the last day ends at 17:30" in clock.result.explain()


# -- bundles, Art. 45 notices, 回访 -----------------------------------------------------


def test_bundle_clock_honours_a_childs_suspension(cal: WorkingCalendar) -> None:
    # Opened Mon 3-3, 45 working days: 3-31 is the 20th, 4-1..4-3 (23), 清明 4-4, 4-7..4-25
    # (38), 4-27 (Sun, worked, 39), 4-28..4-30 (42), 劳动节 5-1..5-5, 5-6 5-7 5-8 (45).
    assert bundle_clock(D("2025-03-03"), 45, [], cal, as_of=None).due == D("2025-05-08")
    # A child suspended 4-1, resumed 4-8: 4-2 4-3 4-7 4-8 not counted -> 5-9 5-12 5-13 5-14.
    child = [Suspension(D("2025-04-01"), D("2025-04-08"), "expert_review")]
    result = bundle_clock(D("2025-03-03"), 45, child, cal, as_of=None)
    assert result.due == D("2025-05-14")
    assert result.article == "行政许可法第四十二条第二款"


def test_notice_and_follow_up_clocks(cal: WorkingCalendar) -> None:
    # Notice within 3 working days of a suspension on Wed 3-19: 3-20 3-21 3-24.
    notice = notice_clock(D("2025-03-19"), 3, cal)
    assert notice.due == D("2025-03-24") and "第四十五条" in notice.article
    # 回访 within 1 working day of a 差评 on Fri 9-26: Sunday 9-28 is worked.
    assert follow_up_clock(D("2025-09-26"), 1, cal).due == D("2025-09-28")


@pytest.mark.parametrize(
    ("kind", "cited"),
    [
        ("acceptance", "行政许可法第三十二条第一款"),
        ("decision.statutory", "行政许可法第四十二条第一款"),
        ("delivery", "行政许可法第四十四条"),
        ("bundle", "行政许可法第四十二条第二款"),
    ],
)
def test_every_explanation_cites_its_article(cal: WorkingCalendar, kind: str, cited: str) -> None:
    text = compute_clock(D("2025-03-03"), 5, cal, kind=kind).explain()
    assert f"basis      {cited}" in text


def test_local_dates_and_times_turn_at_utc_four_pm() -> None:
    # The bureau's day (UTC+8) starts at 16:00 UTC the evening before; the log's UTC
    # instants take a fast path that must agree with astimezone, and other zones too.
    from datetime import UTC

    from casestore.domain.values import BUREAU_TZ, local_date, local_time

    last = datetime(2025, 3, 3, 15, 59, 59, 999999, tzinfo=UTC)
    first = datetime(2025, 3, 3, 16, 0, tzinfo=UTC)
    assert (local_date(last), local_date(first)) == (date(2025, 3, 3), date(2025, 3, 4))
    assert local_time(first) == datetime(2025, 3, 4, 0, 0, tzinfo=BUREAU_TZ)
    assert local_time(first).tzinfo is BUREAU_TZ
    assert local_time(first).isoformat() == "2025-03-04T00:00:00+08:00"
    elsewhere = datetime(2025, 3, 3, 20, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert local_date(elsewhere) == date(2025, 3, 4)  # 01:30 UTC, 09:30 in the bureau
    assert local_time(elsewhere).isoformat() == "2025-03-04T09:30:00+08:00"


def test_microsecond_counts_convert_both_ways() -> None:
    from datetime import UTC

    from casestore.timeutil import from_micros, to_micros

    moment = datetime(2025, 3, 3, 16, 0, 0, 123456, tzinfo=UTC)
    assert from_micros(1_741_017_600_123_456) == moment
    assert from_micros(1_741_017_600_123_456).tzinfo is UTC
    assert to_micros(moment) == 1_741_017_600_123_456
    assert from_micros(-1) == datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
