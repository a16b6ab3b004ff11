"""The simulator's parts without a database: working time, intakes, anomaly quotas, plans."""

from __future__ import annotations

import json
import random
from datetime import date, datetime, timedelta

import pytest

from casestore.domain.values import BUREAU_TZ, local_date
from casestore.simulate import CATALOGUE, draw_intakes
from casestore.simulation import anomalies
from casestore.simulation.plans import CasePlanner, Intake
from casestore.simulation.world import OFFICE_HOURS, Roster, WorkTime, resident_id
from casestore.timelimits.calendar import default_calendar

START = date(2025, 3, 1)
HORIZON = WorkTime.at(date(2025, 6, 1), 0)


@pytest.fixture(scope="module")
def planner() -> CasePlanner:
    data = json.loads(CATALOGUE.read_text(encoding="utf-8"))
    work = WorkTime(default_calendar())
    bundles = {b["code"]: b for b in data["bundles"]}
    return CasePlanner(data["items"], bundles, Roster(1), work, HORIZON)


def minute_of(moment: datetime) -> int:
    local = moment.astimezone(BUREAU_TZ)
    return local.hour * 60 + local.minute


def test_office_time_is_on_a_working_day_within_hours(planner: CasePlanner) -> None:
    work, rng = planner.work, random.Random(3)
    friday_evening = WorkTime.at(date(2025, 4, 30), 18 * 60)  # before the May Day break
    for days in (0, 1, 3):
        moment = work.office(rng, friday_evening, days)
        assert work.in_office(moment)
        assert moment > friday_evening
    # 2025-05-01..05 is the Labour Day holiday: the next office day is 05-06.
    assert local_date(work.office(rng, friday_evening, 0)) == date(2025, 5, 6)


def test_soon_stays_in_office_hours_unless_told_otherwise(planner: CasePlanner) -> None:
    work, rng = planner.work, random.Random(4)
    closing = WorkTime.at(date(2025, 3, 4), 17 * 60 + 29)
    assert work.in_office(work.soon(rng, closing, 600, 900))
    late = work.soon(rng, closing, 600, 900, anytime=True)
    assert not work.in_office(late) and late - closing <= timedelta(seconds=900)


def test_intakes_are_reproducible_and_use_every_channel(planner: CasePlanner) -> None:
    first = draw_intakes(planner, 400, 9, START, HORIZON)
    assert first == draw_intakes(planner, 400, 9, START, HORIZON)
    assert first != draw_intakes(planner, 400, 10, START, HORIZON)
    assert {i.channel for i in first} >= {
        "window",
        "online",
        "mobile",
        "mail",
        "appointment",
        "home_visit",
        "cross_province",
        "extended",
        "bundle",
    }
    assert [i.at for i in first] == sorted(i.at for i in first)
    cal = planner.cal
    for intake in first:
        assert local_date(intake.at) >= START and intake.at < HORIZON
        if intake.channel in ("window", "appointment", "home_visit", "mail", "bundle"):
            assert cal.is_working_day(local_date(intake.at))
            assert any(a <= minute_of(intake.at) < b for a, b in OFFICE_HOURS)


def test_popular_items_are_asked_for_more(planner: CasePlanner) -> None:
    codes = [i.code for i in draw_intakes(planner, 2000, 2, START, HORIZON)]
    assert codes.count("XK-001") > 5 * codes.count("XK-020")


def test_every_case_rule_gets_its_quota(planner: CasePlanner) -> None:
    cal = planner.cal
    intakes = draw_intakes(planner, 1000, 5, START, HORIZON)
    candidates = [
        anomalies.Candidate(
            i.n,
            planner.items[i.code],
            cal.working_days_between(local_date(i.at), local_date(HORIZON)),
        )
        for i in intakes
        if i.channel != "bundle"
    ]
    chosen = anomalies.assign(candidates, 1000, random.Random(5))
    by_rule: dict[str, list[int]] = {}
    for n, rule in chosen.items():
        by_rule.setdefault(rule, []).append(n)
    assert set(by_rule) == set(anomalies.RULES)
    items = {c.n: c.item for c in candidates}
    for rule, cases in by_rule.items():
        assert len(cases) >= 2
        spec = anomalies.RULES[rule]
        for n in cases:
            if spec.needs == "survey":
                assert items[n]["needs_survey"]
            if spec.needs in ("promised", "plain", "survey"):
                assert items[n]["case_type"] != "instant"


def test_a_plan_is_time_ordered_and_staff_work_in_office_hours(planner: CasePlanner) -> None:
    cal, staff_steps, in_hours = planner.cal, 0, 0
    for intake in draw_intakes(planner, 300, 8, START, HORIZON):
        steps = planner.plan(intake, None, 8)
        assert steps and steps[0].at == intake.at
        assert [s.at for s in steps] == sorted(s.at for s in steps)
        for key in {s.key for s in steps}:
            times = [s.at for s in steps if s.key == key]
            assert len(set(times)) == len(times)  # strictly increasing per case
        for step in steps[1:]:
            assert step.at < HORIZON
            if step.actor.role == "applicant" or step.actor.staff_id == "portal":
                continue
            if intake.channel != "extended":  # no ordinary staff work on rest days
                assert cal.is_working_day(local_date(step.at)), (step.action, step.at)
            staff_steps += 1
            in_hours += planner.work.in_office(step.at)
    assert in_hours > 0.95 * staff_steps  # a sitting may run a few minutes past closing


def test_seeded_anomalies_bend_the_plan(planner: CasePlanner) -> None:
    cal = planner.cal
    intake = Intake(0, WorkTime.at(date(2025, 3, 4), 10 * 60), "online", "XK-005", False)
    steps = {s.action: s for s in planner.plan(intake, "S15", 1)}
    assert (steps["decide"].at - steps["accept"].at).total_seconds() < 60
    steps = {s.action: s for s in planner.plan(intake, "S09", 1)}
    people = steps["import:SurveyConducted"].payload["participants"]
    staff = {p.staff_id for p in people if p.staff_id and p.party == "approval_bureau"}
    assert {p.party for p in people} != {"approval_bureau", "regulator", "applicant"} or (
        len(staff) < 2
    )
    steps = {s.action: s for s in planner.plan(intake, "S06", 1)}
    decided = steps["decide"]
    assert decided.occurred_at is not None
    assert decided.at - decided.occurred_at > timedelta(days=1)
    steps = {s.action: s for s in planner.plan(intake, "S03", 1)}
    assert cal.working_days_between(local_date(intake.at), local_date(steps["accept"].at)) > 5


def test_resident_ids_carry_a_valid_check_digit() -> None:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    rng = random.Random(1)
    for _ in range(50):
        rid = resident_id(rng)
        total = sum(int(c) * w for c, w in zip(rid[:17], weights, strict=True))
        assert rid[17] == "10X98765432"[total % 11]


def test_bundle_intakes_spread_over_the_catalogues_bundles(planner: CasePlanner) -> None:
    """Demo data shows the 22 一件事 bundles, not only the first three."""
    bundles = {
        i.code for i in draw_intakes(planner, 2000, 9, START, HORIZON) if i.channel == "bundle"
    }
    assert bundles <= {f"YJS-{n:03d}" for n in range(1, 23)}
    assert len(bundles - {"YJS-001", "YJS-002", "YJS-003"}) >= 10
