"""Compliance, supervision, evaluation and bundle views over a real log, on both backends.

One history is made through the service on SQLite (with a simulated clock; breaches
live commands refuse come through the import path), then copied event by event into
PostgreSQL, so both databases hold the same log; the views built from them must agree.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from casestore.projections.engine.base import Projection
from casestore.projections.engine.db import ViewDB, create_target
from casestore.projections.readmodels.bundles import PROJECTION as BUNDLES
from casestore.projections.readmodels.bundles import BundleView
from casestore.projections.readmodels.compliance.projection import PROJECTION as COMPLIANCE
from casestore.projections.readmodels.compliance.projection import ComplianceView
from casestore.projections.readmodels.evaluation import PROJECTION as EVALUATION
from casestore.projections.readmodels.evaluation import EvaluationView
from casestore.projections.readmodels.supervision.projection import PROJECTION as SUPERVISION
from casestore.projections.readmodels.supervision.projection import SupervisionView
from casestore.projections.runtime.logsource import LogSource
from casestore.projections.runtime.worker import Worker, rebuild_as_of

from casestore.domain import Actor, SurveyParticipant
from casestore.service import CASE_COMMANDS, CaseService, SubmitBundle, SubmitCase
from casestore.store.application import CasestoreApp
from tests.conftest import (
    ADMIN,
    APPLICANT,
    APPROVER,
    CATALOGUE,
    CLERK,
    DISPATCHER,
    REVIEWER,
    SEALER,
    SURVEYOR,
    FakeClock,
)

MINE: tuple[Projection[Any], ...] = (COMPLIANCE, SUPERVISION, EVALUATION, BUNDLES)
CLERK2 = Actor("c-002", "clerk", "刘窗口", "W02")
TODAY = date(2025, 4, 30)
SEAL = {
    "seal_id": "XZSP-SEAL-001",
    "document_no": "D-1",
    "certificate_no": "C-1",
    "valid_until": None,
    "document_sha256": "ab" * 32,
}
THREE = [
    SurveyParticipant("甲", "approval_bureau", "s-001"),
    SurveyParticipant("乙", "regulator", "s-002"),
    SurveyParticipant("丙", "applicant"),
]


@dataclass
class History:
    url: str
    ids: dict[str, UUID]


def at(day: str, hour: int = 10) -> datetime:
    return datetime.fromisoformat(f"2025-{day}T{hour:02d}:00:00+08:00")


def make_history(url: str) -> History:
    """Ten cases and a bundle across March 2025 (no holidays) with known outcomes."""
    clock = FakeClock(at("03-03", 9))
    app = CasestoreApp(url)
    svc = CaseService(app, clock=clock)
    svc.load_catalogue(CATALOGUE, ADMIN)
    ids: dict[str, UUID] = {}

    def on(day: str, hour: int = 10) -> None:
        clock.now = max(clock.now, at(day, hour))

    def run(name: str, action: str, actor: Actor, day: str, **payload: Any) -> None:
        on(day)
        svc.handle(CASE_COMMANDS[action](case_id=ids[name], actor=actor, **payload))

    def submit(name: str, item: str, clerk: Actor = CLERK) -> None:
        ids[name] = svc.handle(SubmitCase(actor=clerk, item_code=item, applicant=APPLICANT)).case_id

    def finish(name: str, day: str, level: int | None = None) -> None:
        run(name, "decide", APPROVER, day, outcome="approve")
        run(name, "seal", SEALER, day, **SEAL)
        run(name, "deliver", DISPATCHER, day, method="window_pickup", recipient="张三")
        if level is not None:
            run(name, "evaluate", CLERK, day, level=level, channel="window")

    on("03-03", 9)
    for name, item, clerk in [
        ("on_time", "XK-011", CLERK),  # promised 5, statutory 20
        ("late", "XK-013", CLERK),  # promised 10, statutory 20
        ("open", "XK-007", CLERK2),  # promised 3, statutory 7
        ("twice", "XK-017", CLERK2),
        ("backdated", "XK-011", CLERK2),
        ("survey", "XK-003", CLERK),  # needs a survey
        ("bad", "XK-011", CLERK2),
        ("paused", "XK-011", CLERK),  # suspended 3-5, never resumed
        ("resumed", "XK-011", CLERK),  # suspended 3-5, resumed 3-10
        ("paused_late", "XK-011", CLERK),  # suspended 3-13, after its promised due 3-11
    ]:
        submit(name, item, clerk)
    bundle = svc.handle(SubmitBundle(actor=CLERK, bundle_code="YJS-002", applicant=APPLICANT))
    ids.update({f"child:{c}": v.case_id for c, v in bundle.children.items()})
    ids["bundle"] = bundle.bundle_id
    for name in ("on_time", "late", "open", "survey", "bad", "paused", "resumed", "paused_late"):
        run(name, "accept", CLERK, "03-04")
    run("twice", "supplement-request", CLERK2, "03-04", missing=["图纸"])
    run("twice", "supplement", CLERK2, "03-05", materials=["图纸"])
    run("twice", "supplement-request", CLERK2, "03-05", missing=["章程"])
    run("survey", "survey-schedule", SURVEYOR, "03-05", requirements=["现场"], survey_days=3)
    for name in ("paused", "resumed"):
        run(name, "suspend", REVIEWER, "03-05", kind="hearing", legal_basis="Art. 46")
    case = svc.case(ids["survey"])  # legacy import: a survey with one staff, two parties
    lone = [
        SurveyParticipant("甲", "approval_bureau", "s-001"),
        SurveyParticipant("丙", "applicant"),
    ]
    case.record_imported(
        "SurveyConducted",
        actor=SURVEYOR,
        at=at("03-06"),
        occurred_at=None,
        fields={"participants": lone, "conclusion": "pass", "findings": ""},
    )
    app.save(case)
    app.evict(ids["survey"])
    run("backdated", "accept", CLERK2, "03-07", occurred_at=at("03-04", 9))
    finish("on_time", "03-06", level=1)
    finish("bad", "03-07", level=5)
    finish("survey", "03-07", level=2)
    run("late", "review", REVIEWER, "03-10", stage_name="审查", opinion="pass")
    run("resumed", "resume", REVIEWER, "03-10", result="heard")
    run("paused_late", "suspend", REVIEWER, "03-13", kind="hearing", legal_basis="Art. 46")
    finish("late", "03-24", level=4)  # promised due 3-18 → late; statutory 4-1 → on time
    for code in ("XK-002", "XK-003", "XK-017"):
        run(f"child:{code}", "accept", CLERK, "03-10")
    finish("child:XK-002", "03-11")
    app.close()
    return History(url, ids)


def copy_log(source_url: str, dest_url: str) -> None:
    """The same events, in the same order and positions, in another database."""
    src, dest = CasestoreApp(source_url), CasestoreApp(dest_url)
    try:
        for _, event in src.iter_events(0):
            dest.save(event)
    finally:
        src.close()
        dest.close()


def project(url: str, batch: int = 1000) -> ViewDB:
    app = CasestoreApp(url)
    source, db = LogSource(app), ViewDB(url)
    try:
        for projection in MINE:
            create_target(db, projection)
            Worker(source, db, projection, batch=batch).catch_up()
    finally:
        source.close()
        app.close()
    return db


def views(db: ViewDB, h: History) -> dict[str, Any]:
    comp, sup = ComplianceView(db), SupervisionView(db)
    ev = EvaluationView(db)
    case_ids = sorted(str(v) for k, v in h.ids.items() if k != "bundle")
    return {
        **{f"summary:{g}": comp.summary(g) for g in ("item", "window", "staff", "month")},
        "overdue": comp.overdue(TODAY),
        "deadlines": comp.deadlines(case_ids, TODAY),
        "clock": comp.clock(str(h.ids["late"]), TODAY),
        "flags": sup.flags(today=TODAY),
        "flags_on_0307": sup.flags(today=date(2025, 3, 7)),
        "evaluation": ev.summary(today=TODAY),
        "evaluation_by_window": ev.summary("window", today=TODAY),
        "ranking": ev.window_ranking(today=TODAY),
        "bundle": BundleView(db).get(str(h.ids["bundle"]), TODAY),
    }


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    path = tmp_path_factory.mktemp("views") / "history.db"
    return make_history(f"sqlite:///{path}")


@pytest.fixture(scope="module")
def sqlite_views(history: History) -> Iterator[dict[str, Any]]:
    db = project(history.url)
    yield views(db, history)
    db.close()


def rules_of(flags: list[dict[str, Any]], case: UUID) -> set[str]:
    return {f["rule"] for f in flags if f["case_id"] == str(case)}


def test_supervision_flags_name_their_rules_and_evidence(
    history: History, sqlite_views: dict[str, Any]
) -> None:
    flags, ids = sqlite_views["flags"], history.ids
    assert rules_of(flags, ids["on_time"]) == set()
    # its 差评 is not handled (S13) nor called back (S18) either
    assert rules_of(flags, ids["late"]) == {"S01", "S13", "S18"}
    assert rules_of(flags, ids["open"]) == {"S01", "S02"}  # still open on 4-30
    assert "S04" in rules_of(flags, ids["twice"])
    assert rules_of(flags, ids["backdated"]) >= {"S06"}
    assert rules_of(flags, ids["survey"]) == {"S09"}
    assert rules_of(flags, ids["bad"]) == {"S13", "S18"}  # handled late, never called back
    s01 = next(f for f in flags if f["case_id"] == str(ids["late"]) and f["rule"] == "S01")
    assert s01["raised_at"].startswith("2025-03-19T00:00") and s01["cleared_at"]
    assert all(f["evidence"] for f in flags)
    # on 3-7 the open case was not yet overdue (promised due 3-7 itself)
    assert rules_of(sqlite_views["flags_on_0307"], ids["open"]) == set()


def test_compliance_rates_and_overdue_list(history: History, sqlite_views: dict[str, Any]) -> None:
    by_item = {g["key"]: g for g in sqlite_views["summary:item"]["groups"]}
    assert by_item["XK-011"]["decided"] == 2 and by_item["XK-011"]["promised_rate"] == 1.0
    assert by_item["XK-013"]["promised_rate"] == 0.0 and by_item["XK-013"]["statutory_rate"] == 1.0
    assert by_item["XK-007"]["open"] == 1
    months = sqlite_views["summary:month"]["groups"]
    assert [g["key"] for g in months if g["decided"]] == ["2025-03"]
    overdue = {(r["case_id"], r["kind"]) for r in sqlite_views["overdue"]}
    assert (str(history.ids["open"]), "promised") in overdue
    assert (str(history.ids["open"]), "statutory") in overdue
    late = sqlite_views["deadlines"][str(history.ids["open"])]
    assert late["warning"] == "red" and late["remaining_days"] < 0
    done = sqlite_views["deadlines"][str(history.ids["on_time"])]
    assert done["warning"] is None and done["promised_due"] == "2025-03-11"
    assert sqlite_views["clock"]["promised"]["on_time"] is False


def test_evaluation_and_bundle_views(history: History, sqlite_views: dict[str, Any]) -> None:
    ev = sqlite_views["evaluation"]
    assert ev["completed"] == 5 and ev["evaluated"] == 4
    assert ev["participation_rate"] == 0.8 and ev["good_rate"] == 0.5
    assert ev["bad_reviews"] == 2 and ev["unhandled_overdue"] == 2
    ranking = sqlite_views["ranking"]
    assert [r["window"] for r in ranking] == ["W01", "W02"] and ranking[0]["rank"] == 1
    bundle = sqlite_views["bundle"]
    assert bundle["status"] == "in_progress" and bundle["progress"]["closed"] == 1
    statutory, promised = bundle["clock"]["statutory"], bundle["clock"]["promised"]
    assert statutory["days"] == 45 and not statutory["late"] and statutory["remaining"] > 0
    assert promised["days"] == 7 and promised["due"] == "2025-03-12" and promised["late"]


def test_views_do_not_depend_on_batch_size(history: History, tmp_path: Path) -> None:
    urls = [f"sqlite:///{tmp_path / name}" for name in ("small.db", "large.db")]
    for url in urls:
        copy_log(history.url, url)
    small, large = project(urls[0], batch=3), project(urls[1], batch=1000)
    try:
        assert views(small, history) == views(large, history)
    finally:
        small.close()
        large.close()


@pytest.mark.pg
def test_views_identical_on_sqlite_and_postgres(
    history: History, sqlite_views: dict[str, Any], pg_db_url: str
) -> None:
    copy_log(history.url, pg_db_url)
    db = project(pg_db_url, batch=7)
    try:
        assert views(db, history) == sqlite_views
    finally:
        db.close()


def test_overdue_list_as_it_stood_at_a_past_moment(history: History, tmp_path: Path) -> None:
    # "What did the overdue list look like?": a rebuild up to 3-8 beside the live view.
    url = f"sqlite:///{tmp_path / 'asof.db'}"
    copy_log(history.url, url)
    db = project(url)
    app = CasestoreApp(url)
    try:
        rebuild_as_of(app, "compliance", until=at("03-08"), target="mar8", db=db)
        then = {r["case_id"] for r in ComplianceView(db, "mar8").overdue(date(2025, 3, 20))}
        now = {r["case_id"] for r in ComplianceView(db).overdue(date(2025, 3, 20))}
    finally:
        app.close()
        db.close()
    late, still_open = str(history.ids["late"]), str(history.ids["open"])
    assert late in then and late not in now  # decided only on 3-24, after the cut
    assert still_open in then and still_open in now


# -- paused clocks (an open Art. 45 suspension) -------------------------------------------------


def _running(clock: dict[str, Any]) -> tuple[str | None, int | None, str | None]:
    """(due, remaining, warning) of the clock a case runs against, as the board shows it."""
    for name in ("acceptance", "promised", "delivery"):
        c = clock[name]
        if c is not None and c["done_on"] is None:
            return c["due"], clock["remaining"], clock["warning"]
    return None, None, None


def test_a_paused_clock_is_not_overdue_and_its_remaining_days_stay_frozen(
    history: History, sqlite_views: dict[str, Any]
) -> None:
    paused = str(history.ids["paused"])
    # accepted 3-4, suspended 3-5 (that day counts): 4 of 5 promised, 19 of 20 statutory left
    assert paused not in {r["case_id"] for r in sqlite_views["overdue"]}
    db = project(history.url)
    try:
        view = ComplianceView(db)
        for day in (date(2025, 3, 20), TODAY, date(2025, 9, 1)):
            d = view.deadlines([paused], day)[paused]
            assert d["paused"] and d["warning"] is None and d["remaining_days"] == 4
            assert d["due"] == d["promised_due"] > day.isoformat() < d["statutory_due"]
            assert paused not in {r["case_id"] for r in view.overdue(day)}
    finally:
        db.close()
    # not overdue; only the missing Art. 45 written notice (S17, issue 19)
    assert rules_of(sqlite_views["flags"], history.ids["paused"]) == {"S17"}


def test_after_resumption_the_due_date_moves_by_the_suspended_working_days(
    history: History, sqlite_views: dict[str, Any]
) -> None:
    resumed = sqlite_views["deadlines"][str(history.ids["resumed"])]
    # 3-6, 3-7 and 3-10 suspended: promised due 3-11 + 3 working days = 3-14
    assert not resumed["paused"] and resumed["promised_due"] == "2025-03-14"
    assert resumed["warning"] == "red" and resumed["remaining_days"] < 0
    overdue = {(r["case_id"], r["kind"]) for r in sqlite_views["overdue"]}
    assert (str(history.ids["resumed"]), "promised") in overdue
    assert rules_of(sqlite_views["flags"], history.ids["resumed"]) == {"S01", "S02", "S17"}


def test_a_pause_after_the_deadline_passed_keeps_it_overdue_frozen(
    history: History, sqlite_views: dict[str, Any]
) -> None:
    # promised due 3-11, suspended 3-13: 2 working days late when the pause began, and
    # still 2 on 4-30; the statutory clock (due 4-1) was stopped in time.
    case = str(history.ids["paused_late"])
    late = [r for r in sqlite_views["overdue"] if r["case_id"] == case]
    assert [(r["kind"], r["due"], r["overdue_working_days"]) for r in late] == [
        ("promised", "2025-03-11", 2)
    ]
    d = sqlite_views["deadlines"][case]
    assert d["paused"] and d["warning"] == "red" and d["remaining_days"] == -2
    assert d["promised_due"] == "2025-03-11" and d["statutory_due"] > TODAY.isoformat()
    (s01,) = [f for f in sqlite_views["flags"] if f["case_id"] == case and f["rule"] != "S17"]
    assert s01["rule"] == "S01" and s01["cleared_at"] is None
    assert s01["raised_at"].startswith("2025-03-12T00:00")


def test_deadlines_agree_with_the_clocks_computed_from_the_facts(history: History) -> None:
    # What the case list shows (stored rows read on today) is what the board computes
    # from the facts on today, paused cases included (days after the last event, 3-24).
    db = project(history.url)
    try:
        view = ComplianceView(db)
        ids = sorted(str(v) for k, v in history.ids.items() if k != "bundle")
        for day in (date(2025, 3, 24), date(2025, 3, 31), date(2025, 4, 1), TODAY):
            listed = view.deadlines(ids, day)
            for case_id in ids:
                clock = view.clock(case_id, day)
                assert clock is not None
                d = listed[case_id]
                assert (d["due"], d["remaining_days"], d["warning"]) == _running(clock), (
                    case_id,
                    day,
                )
    finally:
        db.close()


def test_a_case_nobody_answers_is_deemed_accepted_and_then_overdue(tmp_path: Path) -> None:
    """Supervision flags and the overdue list. Submitted on 3-3 and never touched
    again: once the 5 working days to accept pass (due 3-10), S03, and — deemed accepted
    from receipt (视为受理) — S01 at once (its 3 promised days from receipt ended 3-6,
    before it was deemed accepted) and S02 after its 7 statutory days from receipt (due
    3-12), with no further event to trigger them."""
    url = f"sqlite:///{tmp_path}/quiet.db"
    app = CasestoreApp(url)
    svc = CaseService(app, clock=FakeClock(at("03-03", 9)))
    svc.load_catalogue(CATALOGUE, ADMIN)
    case = svc.handle(
        SubmitCase(actor=CLERK, item_code="XK-007", applicant=APPLICANT)
    ).case_id  # 3 / 7 days
    app.close()
    db = project(url)
    try:
        sup = SupervisionView(db)
        assert rules_of(sup.flags(today=date(2025, 3, 10)), case) == set()
        assert rules_of(sup.flags(today=date(2025, 3, 11)), case) == {"S03", "S01"}
        assert rules_of(sup.flags(today=date(2025, 3, 12)), case) == {"S03", "S01"}
        assert rules_of(sup.flags(today=date(2025, 3, 13)), case) == {"S03", "S01", "S02"}
        assert rules_of(sup.flags(today=TODAY), case) == {"S03", "S01", "S02"}
        comp = ComplianceView(db)

        def overdue(day: date) -> set[str]:
            return {r["kind"] for r in comp.overdue(day) if r["case_id"] == str(case)}

        assert overdue(date(2025, 3, 10)) == set()
        assert overdue(date(2025, 3, 11)) == {"acceptance", "promised"}
        assert overdue(date(2025, 3, 13)) == {"acceptance", "promised", "statutory"}
        assert overdue(date(2025, 3, 13)) == overdue(TODAY)
    finally:
        db.close()
