"""CaseFacts: the per-case fold, its serialisation, and the per-case clocks computed from it."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from casestore.projections.engine.base import LogEvent
from casestore.projections.facts.casefacts import CaseFacts
from casestore.projections.readmodels.compliance.projection import case_clocks
from casestore.projections.readmodels.compliance.rows import (
    compliance_row,
    overdue_days,
    read_deadline,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from casestore.domain import CasestoreError, ItemLimits
from casestore.store.application import CasestoreApp
from casestore.timelimits import ClockConfig
from tests.unit.test_supervision_rules import (
    APPROVER,
    CAL,
    CLERK,
    REVIEWER,
    SURVEYED,
    SURVEYOR,
    Story,
    at,
)

D = date.fromisoformat


def full_story() -> Story:
    story = Story(SURVEYED).run("request_supplement", CLERK, at("03-03", 11), missing=["图纸"])
    story.run("receive_supplement", CLERK, at("03-04"), materials=["图纸"])
    story.accept("03-04", when=at("03-04", 15))
    story.run("record_review", REVIEWER, at("03-05"), stage_name="审查", opinion="pass")
    story.run("suspend", REVIEWER, at("03-06"), kind="expert_review", legal_basis="Art. 45")
    story.run("resume", REVIEWER, at("03-10"), result="ok")
    story.survey("03-11")
    story.decide("03-12")
    story.seal_and_deliver("03-12", "03-13")
    story.run("evaluate", CLERK, at("03-13", 12), level=5, channel="window")
    return story


def clocks(story: Story, today: str, **kw: Any) -> Any:
    return case_clocks(story.facts(), CAL, D(f"2025-{today}"), **kw)


def test_fold_collects_the_facts_with_their_evidence() -> None:
    story = full_story()
    f = story.facts()
    assert (f.item_code, f.window, f.staff, f.stage) == ("XK-T", "W1", "c1", "delivered")
    assert f.accepted is not None and f.accepted.on == D("2025-03-04")
    assert f.limits == SURVEYED and f.promised_completion == D("2025-03-31")
    assert [s.on for s in f.supplement_requests] == [D("2025-03-03")]
    assert len(f.surveys_scheduled) == 1 and f.surveys_conducted[0].staff_count == 2
    assert f.suspensions[0].kind == "expert_review" and f.suspensions[0].end is not None
    assert f.outcome == "approve" and f.evaluation_level == 5 and f.bad_review
    positions = [p for _, p in story.events]
    assert f.last is not None and f.last.position == positions[-1] and f.events == len(positions)
    assert f.decided is not None and f.decided.role == "approver"


def test_apply_is_idempotent_per_position() -> None:
    story = full_story()
    f = story.facts()
    event, position = story.events[-1]
    assert f.apply(event, position) is f
    assert f.apply(*story.events[0]) is f


def test_absorb_is_apply_in_place() -> None:
    # The bulk build's accumulator: the same fold as apply, into the same object.
    story = full_story()
    folded = story.facts()
    accumulator = CaseFacts.blank(str(story.case.id))
    original = accumulator
    for event, position in story.events:
        assert accumulator.absorb(event, position) is original
    assert accumulator == folded
    assert accumulator.to_json() == folded.to_json()
    assert accumulator.events == len(story.events)
    # a position already folded changes nothing
    assert accumulator.absorb(*story.events[0]).events == len(story.events)
    # apply never mutates the value it is called on
    before = folded.to_json()
    assert folded.apply(story.events[-1][0], 10_000) is not folded
    assert folded.to_json() == before


def test_serialisation_round_trips() -> None:
    f = full_story().facts()
    assert CaseFacts.from_dict(f.to_dict()) == f
    assert CaseFacts.from_dict(CaseFacts("x").to_dict()) == CaseFacts("x")


STEPS = ["supplement", "accept", "review", "suspend", "extend", "decide", "deliver", "evaluate"]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.sampled_from(STEPS), max_size=8), st.integers(min_value=0, max_value=3))
def test_reloading_between_events_changes_nothing(steps: list[str], backdate: int) -> None:
    # The projection stores facts and reloads them before the next event: same result.
    story = Story()
    day = 3
    for step in steps:
        day += 1
        when = at(f"03-{day:02d}")
        try:
            if step == "supplement":
                story.run("request_supplement", CLERK, when, missing=["x"])
            elif step == "accept":
                story.accept("", when=when, occurred_at=at(f"03-{day - backdate:02d}", 9))
            elif step == "review":
                story.run("record_review", REVIEWER, when, stage_name="s", opinion="pass")
            elif step == "suspend":
                story.run("suspend", REVIEWER, when, kind="hearing", legal_basis="b")
            elif step == "extend":
                story.run("extend", APPROVER, when, days=3, reason="r", statutory_due=date.max)
            elif step == "decide":
                story.decide("", when=when)
            elif step == "deliver":
                story.seal_and_deliver(f"03-{day:02d}", f"03-{day:02d}")
            else:
                story.run("evaluate", CLERK, when, level=4, channel="web")
        except CasestoreError:
            story.case.collect_events()  # refused command: nothing to fold
    reloaded = CaseFacts(str(story.case.id))
    for event, position in story.events:
        reloaded = CaseFacts.from_dict(reloaded.apply(event, position).to_dict())
    assert reloaded == story.facts()


def test_runtime_log_events_fold_like_domain_events(tmp_path: Path) -> None:
    app = CasestoreApp(f"sqlite:///{tmp_path / 'facts.db'}")
    story = full_story()
    app.save(*[event for event, _ in story.events])
    from_log = CaseFacts(str(story.case.id))
    rows = list(app.log.iter_log(0))
    for row in rows:
        event = LogEvent(
            row.position,
            str(row.originator_id),
            row.version,
            row.topic,
            row.state,
            row.recorded_at_us,
            row.event_hash,
            row.chain_hash,
        )
        from_log = from_log.apply(event)
    renumbered = CaseFacts.fold(
        str(story.case.id), [(e, r.position) for (e, _), r in zip(story.events, rows, strict=True)]
    )
    assert from_log == renumbered


# -- clocks --------------------------------------------------------------------------------


def test_clocks_of_a_full_case() -> None:
    c = clocks(full_story(), "03-31")
    # a timely 补正 notice, supplements back 3-4: acceptance due (and done) that day
    assert c.acceptance is not None and c.acceptance.stopped_by == "Accepted"
    assert c.acceptance.start == c.acceptance.due == D("2025-03-04") and c.acceptance.on_time
    assert not c.deemed_accepted
    # accepted 3-4, promised 5: 3-5 counted, 3-7..3-10 suspended (after 3-6) → due 3-13.
    assert c.promised is not None and c.promised.due == D("2025-03-13")
    assert c.promised.on_time
    assert c.statutory is not None and c.statutory.due == D("2025-03-20")
    assert c.delivery is not None and c.delivery.due == D("2025-03-26") and c.delivery.on_time
    assert [s.stopped_by for s in c.surveys] == ["SurveyConducted"]
    assert c.bad_review is not None and c.bad_review.due == D("2025-03-20")
    assert c.bad_review.late and c.current is None and c.warning is None


def test_working_days_used_leaves_out_suspended_days() -> None:
    c = clocks(full_story(), "03-31")
    # (3-4, 3-12]: 3-5, 3-6 counted (the suspension day itself counts); 3-7 and 3-10
    # suspended (3-8/3-9 weekend); 3-11, 3-12 counted → 4.
    assert c.promised is not None and c.promised.used == 4


def test_warning_levels_follow_the_promised_clock() -> None:
    story = Story(ItemLimits(10, 3)).accept("03-03")  # promised due 3-6
    assert clocks(story, "03-03").warning == "green"  # 3 left
    assert clocks(story, "03-05").warning == "yellow"  # 1 left
    assert clocks(story, "03-05", config=ClockConfig(yellow_threshold=0)).warning == "green"
    late = clocks(story, "03-07")
    assert late.warning == "red" and late.remaining == -1
    assert late.promised is not None and late.promised.late


def test_a_paused_clock_has_no_warning_and_no_lateness() -> None:
    story = Story().accept("03-03")
    story.run("suspend", REVIEWER, at("03-04"), kind="hearing", legal_basis="Art. 46")
    c = clocks(story, "03-20")
    assert c.promised is not None and c.promised.paused and not c.promised.late
    assert c.warning is None


def test_acceptance_clock_runs_before_acceptance_and_deems_acceptance() -> None:
    story = Story()
    early = clocks(story, "03-05")
    assert early.current is early.acceptance and early.remaining == 3
    c = clocks(story, "03-11", fallback=ItemLimits(10, 3))
    assert c.deemed_accepted and c.warning == "red"
    assert c.promised is not None and c.promised.start == D("2025-03-03")
    assert clocks(story, "03-11").promised is None  # no limits known: no decision clock


def test_survey_time_is_a_pause_when_the_item_lists_it() -> None:
    limits = ItemLimits(10, 3, needs_survey=True, survey_days=3, pause_kinds=("survey",))
    story = Story(limits).accept("03-03")
    story.run("schedule_survey", SURVEYOR, at("03-04"), requirements=["x"], survey_days=3)
    story.run("record_survey", SURVEYOR, at("03-07"), participants=_three(), conclusion="pass")
    c = clocks(story, "03-07")
    assert c.promised is not None and c.promised.due == D("2025-03-11")  # 3-5..3-7 paused
    plain = Story(SURVEYED).accept("03-03")
    assert clocks(plain, "03-07").promised is not None


def _three() -> list[Any]:
    from tests.unit.test_supervision_rules import THREE

    return THREE


def test_clock_dict_is_json_ready() -> None:
    data = clocks(full_story(), "03-31").to_dict()
    assert data["promised"]["due"] == "2025-03-13" and data["provisional"] is False
    assert data["statutory"]["evidence"]


# -- paused clocks -------------------------------------------------------------------------


def test_a_paused_clock_keeps_its_remaining_days_and_moves_its_due_date() -> None:
    # accepted Mon 3-3, suspended Tue 3-4 (that day counts): 2 of 3 promised and 9 of 10
    # statutory working days left, however long the pause lasts.
    story = Story().accept("03-03")
    story.run("suspend", REVIEWER, at("03-04"), kind="hearing", legal_basis="Art. 46")
    for today in ("03-04", "03-06", "03-20", "03-28"):
        c = clocks(story, today)
        p, s = c.promised, c.statutory
        assert p is not None and s is not None
        assert p.paused and p.paused_since == D("2025-03-04") and not p.late
        assert (p.remaining, s.remaining, c.remaining) == (2, 9, 2)
        assert p.due == CAL.add_working_days(D(f"2025-{today}"), 2)
        assert c.warning is None and not s.late
    assert clocks(story, "03-28").to_dict()["promised"]["paused_since"] == "2025-03-04"


def test_after_resumption_the_due_date_moves_by_the_suspended_working_days() -> None:
    story = Story().accept("03-03")
    story.run("suspend", REVIEWER, at("03-04"), kind="hearing", legal_basis="Art. 46")
    story.run("resume", REVIEWER, at("03-11"), result="heard")
    # 3-5..3-7 and 3-10..3-11 suspended (5 working days): promised 3-6 → 3-13,
    # statutory 3-17 → 3-24; the clock runs again.
    c = clocks(story, "03-12")
    assert c.promised is not None and c.statutory is not None
    assert (c.promised.due, c.statutory.due) == (D("2025-03-13"), D("2025-03-24"))
    assert not c.promised.paused and c.promised.paused_since is None
    assert c.remaining == 1 and c.warning == "yellow"
    late = clocks(story, "03-14")
    assert late.promised is not None and late.promised.late and late.warning == "red"


def test_a_pause_after_the_deadline_passed_keeps_the_clock_late_and_frozen() -> None:
    # promised due Thu 3-6; suspended Mon 3-10: 2 working days late when the pause
    # began, and no later for as long as it lasts. The statutory clock (due 3-17) was
    # stopped in time with 5 working days left.
    story = Story().accept("03-03")
    story.run("suspend", REVIEWER, at("03-10"), kind="hearing", legal_basis="Art. 46")
    for today in ("03-10", "03-20", "03-28"):
        c = clocks(story, today)
        p, s = c.promised, c.statutory
        assert p is not None and s is not None and p.paused and s.paused
        assert p.late and p.due == D("2025-03-06") and p.remaining == -2
        assert not s.late and s.remaining == 5
        assert c.warning == "red" and c.remaining == -2


def _day(offset: int) -> datetime:
    return at("03-03") + timedelta(days=offset)


@settings(max_examples=60, deadline=None)
@given(
    suspend=st.integers(min_value=0, max_value=15),
    resume=st.one_of(st.none(), st.integers(min_value=0, max_value=10)),
    review=st.one_of(st.none(), st.integers(min_value=0, max_value=10)),
    later=st.integers(min_value=0, max_value=40),
)
def test_a_row_read_on_a_later_day_shows_the_clocks_of_that_day(
    suspend: int, resume: int | None, review: int | None, later: int
) -> None:
    # The case list reads the row stored at the case's latest event on a later day; it
    # must show what the clocks computed from the facts on that day show.
    story = Story().accept("03-03")
    story.run("suspend", REVIEWER, _day(suspend), kind="hearing", legal_basis="Art. 46")
    last = suspend
    if resume is not None:
        last += resume
        story.run("resume", REVIEWER, _day(last) + timedelta(hours=1), result="heard")
    if review is not None:
        last += review
        when = _day(last) + timedelta(hours=2)
        story.run("record_review", REVIEWER, when, stage_name="审查", opinion="pass")
    facts, config = story.facts(), ClockConfig()
    row = {"case_id": facts.case_id, **compliance_row(facts, CAL, config)}
    today = _day(last + later).date()
    shown = read_deadline(row, today, CAL, config)
    c = case_clocks(facts, CAL, today, config)
    assert c.current is not None and c.promised is not None and c.statutory is not None
    assert (shown["due"], shown["remaining_days"], shown["warning"]) == (
        c.current.due.isoformat(),
        c.remaining,
        c.warning,
    )
    assert shown["promised_due"] == c.promised.due.isoformat()
    assert shown["statutory_due"] == c.statutory.due.isoformat()
    assert shown["paused"] == c.promised.paused
    if c.promised.late:  # listed as overdue by as many working days (frozen while paused)
        late = {**row, "kind": "promised", "due": row["promised_due"]}
        assert overdue_days(late, today, CAL) == -c.promised.remaining > 0
