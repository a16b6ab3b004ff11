"""Enquiries (群众诉求/咨询) through the service into their read model, on both backends.

Expected dates are worked out by hand from the official calendar: 2025's National Day
holiday runs 1–8 October and Saturday 11 October is an adjusted working day, so five
working days from Tuesday 30 September end on 14 October (the SPEC's own example).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

import pytest
from casestore.projections.engine.db import ViewDB, create_target
from casestore.projections.readmodels.enquiries import PROJECTION, EnquiryView
from casestore.projections.runtime.logsource import LogSource
from casestore.projections.runtime.worker import Worker

from casestore.domain import Actor
from casestore.service import CaseService
from casestore.service.practice import AnswerEnquiry, CloseEnquiry, ReceiveEnquiry, ReferEnquiry
from casestore.store.application import CasestoreApp
from casestore.timelimits import ClockConfig
from tests.conftest import FakeClock

LEADER = Actor("p-009", "approver", "带班局长", "领导带班窗口")
VOLUNTEER_DESK = Actor("c-009", "clerk", "志愿者", "志愿者服务站")


def at(day: str, hour: int = 10) -> datetime:
    return datetime.fromisoformat(f"2025-{day}T{hour:02d}:00:00+08:00")


def receive(svc: CaseService, actor: Actor, kind: str = "request") -> UUID:
    result = svc.handle(ReceiveEnquiry(actor=actor, kind=kind, topic="项目审批进度咨询"))
    return result.case_id


def make_log(url: str) -> dict[str, UUID]:
    clock = FakeClock(at("09-30"))
    app = CasestoreApp(url)
    try:
        svc = CaseService(app, clock=clock, clock_config=ClockConfig(enquiry_days=5))
        ids = {name: receive(svc, LEADER) for name in ("e1", "e2", "e3")}
        clock.now = at("10-09")
        svc.handle(ReferEnquiry(actor=LEADER, enquiry_id=ids["e3"], to_unit="县住建局"))
        clock.now = at("10-14", 17)
        svc.handle(AnswerEnquiry(actor=LEADER, enquiry_id=ids["e2"], answer="已答复"))
        clock.now = at("10-15")
        three = CaseService(app, clock=clock, clock_config=ClockConfig(enquiry_days=3))
        ids["e4"] = receive(three, VOLUNTEER_DESK, "consultation")
        clock.now = at("10-16", 9)
        svc.handle(CloseEnquiry(actor=LEADER, enquiry_id=ids["e3"], outcome="resolved"))
    finally:
        app.close()
    return ids


def project(url: str) -> ViewDB:
    app = CasestoreApp(url)
    source, db = LogSource(app), ViewDB(url)
    try:
        create_target(db, PROJECTION)
        Worker(source, db, PROJECTION, batch=2).catch_up()
    finally:
        source.close()
        app.close()
    return db


@pytest.fixture
def built(store_url: str) -> Any:
    ids = make_log(store_url)
    db = project(store_url)
    yield EnquiryView(db), ids
    db.close()


def test_due_dates_cross_the_holiday_and_follow_the_configured_days(built: Any) -> None:
    view, ids = built
    dues = {name: view.get(str(i))["due"] for name, i in ids.items()}
    assert dues == {
        "e1": "2025-10-14",
        "e2": "2025-10-14",
        "e3": "2025-10-14",
        "e4": "2025-10-20",  # 3 days (the second configuration) from Wednesday 15 October
    }
    assert view.get(str(ids["e4"]))["service_window"] == "志愿者服务站"


def test_s16_does_not_raise_on_the_due_day(built: Any) -> None:
    view, _ = built
    assert view.flags(today=date(2025, 10, 14)) == []


def test_s16_raises_the_day_after_and_clears_when_the_clock_stops(built: Any) -> None:
    view, ids = built
    flags = {f["enquiry_id"]: f for f in view.flags(today=date(2025, 10, 20))}
    assert set(flags) == {str(ids["e1"]), str(ids["e3"])}  # e2 answered on its due day
    open_one, closed_late = flags[str(ids["e1"])], flags[str(ids["e3"])]
    assert open_one["rule"] == "S16"
    assert open_one["raised_at"] == "2025-10-15T00:00:00+08:00"
    assert open_one["cleared_at"] is None
    assert closed_late["cleared_at"].startswith("2025-10-16T09:00:00")
    assert [f["enquiry_id"] for f in view.flags(today=date(2025, 10, 20), open_only=True)] == [
        str(ids["e1"])
    ]


def test_summary_counts_by_hand(built: Any) -> None:
    view, _ = built
    summary = view.summary(today=date(2025, 10, 20))
    assert {k: v for k, v in summary.items() if k != "key"} == {
        "received": 4,
        "requests": 3,
        "consultations": 1,
        "answered": 1,
        "referred": 1,
        "closed": 1,
        "open": 2,
        "late": 2,
        "handled_on_time": 1,
    }
    by_window = view.summary(group_by_window=True, today=date(2025, 10, 20))
    assert [(g["key"], g["received"]) for g in by_window["groups"]] == [
        ("志愿者服务站", 1),
        ("领导带班窗口", 3),
    ]
    newest_first = view.find(today=date(2025, 10, 20))
    assert [r["status"] for r in newest_first] == ["open", "closed", "answered", "open"]
    assert [r["overdue"] for r in newest_first] == [False, True, False, True]
