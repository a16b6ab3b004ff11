"""一次一评: the applicant rates a visit once; a 一件事 bundle visit is one visit.

Live commands refuse a second rating of the same visit (409, nothing appended). A log
from before the rule may hold a rating per child: it replays, and the evaluation views
count the visit once, with its first rating (by log position). Both backends.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

import pytest
from casestore.projections.engine.db import ViewDB, create_target
from casestore.projections.readmodels.awards import PROJECTION as AWARDS
from casestore.projections.readmodels.awards import AwardView, Criteria
from casestore.projections.readmodels.evaluation import PROJECTION as EVALUATION
from casestore.projections.readmodels.evaluation import EvaluationView
from casestore.projections.runtime.logsource import LogSource
from casestore.projections.runtime.worker import Worker

from casestore.domain import AlreadyDone, Case
from casestore.service import CASE_COMMANDS, CaseService, SubmitBundle, SubmitCase
from casestore.store.application import CasestoreApp
from tests.conftest import APPLICANT, APPROVER, CLERK, FakeClock

TODAY = date(2025, 3, 31)


def run(svc: CaseService, case_id: UUID, action: str, **payload: Any) -> None:
    actor = APPROVER if action == "decide" else CLERK
    svc.handle(CASE_COMMANDS[action](case_id=case_id, actor=actor, **payload))


def rate(svc: CaseService, case_id: UUID, level: int) -> None:
    run(svc, case_id, "evaluate", level=level, channel="window")


def old_style_rating(app: CasestoreApp, case_id: UUID, level: int, clock: FakeClock) -> None:
    """A rating as a log from before 一次一评 holds it (no visit check: the aggregate's own
    method, saved directly, as an import records history)."""
    case = app.get(Case, case_id)
    case.evaluate(level=level, channel="window", actor=CLERK, at=clock())
    app.save(case)
    app.evict(case_id)


def project(url: str) -> ViewDB:
    app = CasestoreApp(url)
    source, db = LogSource(app), ViewDB(url)
    try:
        for projection in (EVALUATION, AWARDS):
            create_target(db, projection)
            Worker(source, db, projection).catch_up()
    finally:
        source.close()
        app.close()
    return db


def test_a_second_rating_of_a_bundle_visit_is_refused(
    app: CasestoreApp, service: CaseService
) -> None:
    opened = service.handle(SubmitBundle(actor=CLERK, bundle_code="YJS-001", applicant=APPLICANT))
    first, second = opened.children["XK-001"], opened.children["XK-003"]
    rate(service, first.case_id, 1)
    head = app.log.head()
    with pytest.raises(AlreadyDone) as refused:
        rate(service, second.case_id, 2)
    assert first.case_no in refused.value.message and "一次一评" in refused.value.message
    assert app.log.head() == head
    assert service.case(second.case_id).evaluation_level is None
    with pytest.raises(AlreadyDone):  # the rated child itself: already evaluated
        rate(service, first.case_id, 3)
    # two cases outside a bundle are two visits, each rated once
    lone = [
        service.handle(SubmitCase(actor=CLERK, item_code="XK-011", applicant=APPLICANT))
        for _ in range(2)
    ]
    rate(service, lone[0].case_id, 2)
    rate(service, lone[1].case_id, 4)
    assert app.log.head()[0] == head[0] + 2 * 2 + 2  # two cases with their numbers, two ratings


def test_an_old_log_with_a_rating_per_child_counts_the_visit_once(
    store_url: str, app: CasestoreApp, service: CaseService, clock: FakeClock
) -> None:
    opened = service.handle(SubmitBundle(actor=CLERK, bundle_code="YJS-001", applicant=APPLICANT))
    a, b, c = (opened.children[code].case_id for code in ("XK-001", "XK-003", "XK-019"))
    run(service, a, "accept")
    run(service, a, "decide", outcome="approve")  # the visit is completed (one child is)
    old_style_rating(app, b, 5, clock)  # the first rating of the visit: it stands
    old_style_rating(app, a, 1, clock)
    old_style_rating(app, c, 1, clock)
    rated, unrated = (
        service.handle(SubmitCase(actor=CLERK, item_code="XK-001", applicant=APPLICANT)).case_id
        for _ in range(2)
    )
    for case_id in (rated, unrated):
        run(service, case_id, "accept")
        run(service, case_id, "decide", outcome="approve")
    rate(service, rated, 2)
    # the three ratings replay: each child keeps its own as evidence
    assert [service.case(x).evaluation_level for x in (a, b, c)] == [1, 5, 1]

    db = project(store_url)
    try:
        summary = EvaluationView(db).summary(today=TODAY)
        # by hand: visits completed = the bundle, `rated`, `unrated` (3); rated = the
        # bundle (level 5, its first rating) and `rated` (level 2): 2 of 3, one good, one bad.
        # Per case it would have been 3 completed, 4 evaluated, 3 good.
        assert summary["completed"] == 3 and summary["evaluated"] == 2
        assert summary["participation_rate"] == 0.6667
        assert summary["good"] == 1 and summary["good_rate"] == 0.5
        assert summary["bad_reviews"] == 1
        by_item = {g["key"]: g["evaluated"] for g in EvaluationView(db).summary("item")["groups"]}
        assert by_item == {"XK-001": 1, "XK-003": 1}  # the bundle's rating sits on its child
        ranking = EvaluationView(db).window_ranking(today=TODAY)
        assert [(r["window"], r["evaluated"], r["good_rate"]) for r in ranking] == [("W01", 2, 0.5)]
        lenient = Criteria(min_evaluations=1, min_good_rate=0.0, max_bad_reviews=5)
        found = AwardView(db).candidates("red_flag_window", date(2025, 3, 1), TODAY, lenient)
        assert [(g["recipient"], g["evaluations"], g["bad_reviews"]) for g in found] == [
            ("W01", 2, 1)
        ]
    finally:
        db.close()
