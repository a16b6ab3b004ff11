"""Windows as first-class (type, 党员示范岗, duty rota) and green-channel cases measured apart,
through the service into their read models, on both backends."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest
from casestore.projections.engine.db import ViewDB, create_target
from casestore.projections.readmodels.compliance.projection import PROJECTION as COMPLIANCE
from casestore.projections.readmodels.compliance.projection import ComplianceView
from casestore.projections.readmodels.windows import PROJECTION as WINDOWS
from casestore.projections.readmodels.windows import WindowView
from casestore.projections.runtime.logsource import LogSource
from casestore.projections.runtime.worker import Worker

from casestore.domain import Actor, AlreadyDone, Forbidden, InvalidCommand
from casestore.service import CaseService, SubmitCase
from casestore.service.commands import Accept, Decide
from casestore.service.practice import AssignDuty, MarkPartyPost, RegisterWindow, ReviseWindow
from casestore.store.application import CasestoreApp
from tests.conftest import ADMIN, APPLICANT, APPROVER, CATALOGUE, CLERK, FakeClock

GREEN_CLERK = Actor("c-077", "clerk", "绿色通道专员", "G01")


def at(day: str, hour: int = 10) -> datetime:
    return datetime.fromisoformat(f"2025-{day}T{hour:02d}:00:00+08:00")


def make_log(url: str) -> None:
    clock = FakeClock(at("03-03", 9))
    app = CasestoreApp(url)
    try:
        svc = CaseService(app, clock=clock)
        svc.load_catalogue(CATALOGUE, ADMIN)
        svc.handle(
            RegisterWindow(actor=ADMIN, code="G01", name="招商引资", window_type="green_channel")
        )
        svc.handle(RegisterWindow(actor=ADMIN, code="L01", name="领导带班", window_type="leader"))
        svc.handle(RegisterWindow(actor=ADMIN, code="W01", name="综合一号", window_type="general"))
        with pytest.raises(AlreadyDone):
            svc.handle(RegisterWindow(actor=ADMIN, code="W01", name="x", window_type="general"))
        with pytest.raises(Forbidden):
            svc.handle(RegisterWindow(actor=CLERK, code="W09", name="x", window_type="general"))
        with pytest.raises(InvalidCommand):
            svc.handle(RegisterWindow(actor=ADMIN, code="W09", name="x", window_type="vip"))
        svc.handle(
            ReviseWindow(
                actor=ADMIN, window_code="G01", name="招商引资绿色通道", window_type="green_channel"
            )
        )
        for staff, name in (("c-001", "王窗口"), ("c-002", "刘窗口")):
            svc.handle(
                MarkPartyPost(actor=ADMIN, window_code="W01", staff_id=staff, staff_name=name)
            )
        svc.handle(
            MarkPartyPost(
                actor=ADMIN, window_code="W01", staff_id="c-002", staff_name="刘窗口", marked=False
            )
        )
        svc.handle(
            AssignDuty(
                actor=ADMIN,
                window_code="L01",
                day=date(2025, 3, 4),
                staff_id="p-001",
                staff_name="赵局长",
            )
        )
        svc.handle(
            AssignDuty(
                actor=ADMIN,
                window_code="L01",
                day=date(2025, 3, 5),
                staff_id="p-002",
                staff_name="钱副局长",
            )
        )
        svc.handle(
            AssignDuty(
                actor=ADMIN,
                window_code="L01",
                day=date(2025, 3, 5),
                staff_id="p-003",
                staff_name="孙副局长",
            )
        )  # replaces p-002
        # Two instant (即办件) cases decided on their acceptance day, one marked priority.
        for actor, priority in ((GREEN_CLERK, True), (CLERK, False)):
            case = svc.handle(
                SubmitCase(actor=actor, item_code="XK-001", applicant=APPLICANT, priority=priority)
            )
            svc.handle(Accept(actor=actor, case_id=case.case_id))
            svc.handle(Decide(actor=APPROVER, case_id=case.case_id, outcome="approve"))
    finally:
        app.close()


def project(url: str) -> ViewDB:
    app = CasestoreApp(url)
    source, db = LogSource(app), ViewDB(url)
    try:
        for projection in (WINDOWS, COMPLIANCE):
            create_target(db, projection)
            Worker(source, db, projection, batch=3).catch_up()
    finally:
        source.close()
        app.close()
    return db


@pytest.fixture
def db(store_url: str) -> Any:
    make_log(store_url)
    views = project(store_url)
    yield views
    views.close()


def test_windows_types_and_party_posts(db: ViewDB) -> None:
    windows = {w["code"]: w for w in WindowView(db).windows()}
    assert {c: (w["window_type"], w["name"]) for c, w in windows.items()} == {
        "G01": ("green_channel", "招商引资绿色通道"),
        "L01": ("leader", "领导带班"),
        "W01": ("general", "综合一号"),
    }
    assert windows["W01"]["party_members"] == [{"staff_id": "c-001", "name": "王窗口"}]
    assert windows["W01"]["party_post"] and not windows["G01"]["party_post"]
    assert WindowView(db).green_channel_codes() == ["G01"]


def test_the_duty_rota_keeps_the_latest_assignment_per_day(db: ViewDB) -> None:
    rota = WindowView(db).rota(date(2025, 3, 1), date(2025, 3, 31))
    assert [(r["day"], r["staff_name"]) for r in rota] == [
        ("2025-03-04", "赵局长"),
        ("2025-03-05", "孙副局长"),
    ]


def test_green_channel_cases_are_measured_apart(db: ViewDB) -> None:
    summary = ComplianceView(db).summary("priority")
    groups = {g["key"]: g for g in summary["groups"]}
    assert sorted(groups) == ["green_channel", "regular"]
    assert [groups[k]["decided"] for k in sorted(groups)] == [1, 1]
