"""The awards register and 服务标兵 / 红旗窗口 candidates by criteria, on both backends."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest
from casestore.projections.engine.db import ViewDB, create_target
from casestore.projections.readmodels.awards import PROJECTION as AWARDS
from casestore.projections.readmodels.awards import AwardView, Criteria
from casestore.projections.readmodels.evaluation import PROJECTION as EVALUATION
from casestore.projections.runtime.logsource import LogSource
from casestore.projections.runtime.worker import Worker

from casestore.domain import Actor, AlreadyDone, Forbidden, InvalidCommand
from casestore.service import CaseService, SubmitCase
from casestore.service.commands import Accept, Decide, Evaluate
from casestore.service.practice import GrantAward, RevokeAward
from casestore.store.application import CasestoreApp
from tests.conftest import ADMIN, APPLICANT, APPROVER, CATALOGUE, FakeClock

W1 = Actor("c-001", "clerk", "王窗口", "W01")
W2 = Actor("c-002", "clerk", "刘窗口", "W02")


def at(day: str, hour: int = 10) -> datetime:
    return datetime.fromisoformat(f"2025-{day}T{hour:02d}:00:00+08:00")


def make_log(url: str) -> dict[str, Any]:
    clock = FakeClock(at("10-09", 9))
    app = CasestoreApp(url)
    try:
        svc = CaseService(app, clock=clock)
        svc.load_catalogue(CATALOGUE, ADMIN)
        # W01 (c-001): three evaluations, all good; W02 (c-002): two good, one bad.
        for clerk, levels in ((W1, (1, 2, 1)), (W2, (1, 1, 5))):
            for level in levels:
                case = svc.handle(SubmitCase(actor=clerk, item_code="XK-001", applicant=APPLICANT))
                svc.handle(Accept(actor=clerk, case_id=case.case_id))
                svc.handle(Decide(actor=APPROVER, case_id=case.case_id, outcome="approve"))
                svc.handle(
                    Evaluate(actor=clerk, case_id=case.case_id, level=level, channel="window")
                )
        clock.now = at("11-05")
        star = svc.handle(
            GrantAward(
                actor=ADMIN,
                kind="service_star",
                recipient_kind="staff",
                recipient="c-001",
                recipient_name="王窗口",
                period="2025-10",
            )
        )
        flag = svc.handle(
            GrantAward(
                actor=ADMIN,
                kind="red_flag_window",
                recipient_kind="window",
                recipient="W01",
                period="2025-10",
            )
        )
        letter = svc.handle(
            GrantAward(
                actor=W2,
                kind="thanks_letter",
                recipient_kind="staff",
                recipient="c-002",
                giver="某餐饮公司",
            )
        )
        svc.handle(RevokeAward(actor=ADMIN, award_id=flag.case_id, reason="录入错误"))
        with pytest.raises(AlreadyDone):
            svc.handle(RevokeAward(actor=ADMIN, award_id=flag.case_id, reason="again"))
        with pytest.raises(InvalidCommand):  # a 红旗窗口 goes to a window
            svc.handle(
                GrantAward(
                    actor=ADMIN,
                    kind="red_flag_window",
                    recipient_kind="staff",
                    recipient="c-001",
                    period="2025-10",
                )
            )
        with pytest.raises(InvalidCommand):  # a selection names its period
            svc.handle(
                GrantAward(
                    actor=ADMIN, kind="service_star", recipient_kind="staff", recipient="c-001"
                )
            )
        with pytest.raises(Forbidden):
            svc.handle(RevokeAward(actor=W1, award_id=star.case_id, reason="x"))
        return {"star": star.case_id, "flag": flag.case_id, "letter": letter.case_id}
    finally:
        app.close()


@pytest.fixture
def view(store_url: str) -> Any:
    ids = make_log(store_url)
    app = CasestoreApp(store_url)
    source, db = LogSource(app), ViewDB(store_url)
    try:
        for projection in (AWARDS, EVALUATION):
            create_target(db, projection)
            Worker(source, db, projection, batch=4).catch_up()
    finally:
        source.close()
        app.close()
    yield AwardView(db), ids
    db.close()


def test_the_register_keeps_revoked_entries_apart(view: Any) -> None:
    awards, ids = view
    register = awards.register()
    assert [(a["kind_name"], a["recipient"]) for a in register] == [
        ("感谢信", "c-002"),
        ("服务标兵", "c-001"),
    ]
    everything = awards.register(include_revoked=True)
    revoked = [a for a in everything if a["award_id"] == str(ids["flag"])]
    assert revoked[0]["revoked_on"] == "2025-11-05"
    assert awards.register(since=date(2025, 12, 1)) == []


def test_candidates_follow_the_criteria(view: Any) -> None:
    awards, _ = view
    october = (date(2025, 10, 1), date(2025, 10, 31))
    strict = awards.candidates("service_star", *october, Criteria(3, 0.98, 0))
    assert [(c["recipient"], c["evaluations"], c["good_rate"]) for c in strict] == [
        ("c-001", 3, 1.0)
    ]
    lenient = awards.candidates("red_flag_window", *october, Criteria(3, 0.6, 1))
    assert [(c["rank"], c["recipient"], c["bad_reviews"]) for c in lenient] == [
        (1, "W01", 0),
        (2, "W02", 1),
    ]
    assert awards.candidates("service_star", *october, Criteria(4, 0.0, 9)) == []
    with pytest.raises(InvalidCommand):
        Criteria(0, 0.5, 0)
