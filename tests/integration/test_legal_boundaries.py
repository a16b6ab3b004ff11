"""The law at its edges (issue 19), through ``CaseService`` on both backends, with the read
side's clocks and flags folded from the same stored events.

Every expected date is counted by hand from 行政许可法, 民法典 Arts. 201/203 and the State
Council holiday notice for 2025: 清明 4-4..4-6; 劳动节 5-1..5-5 (Sunday 4-27 worked);
国庆/中秋 10-1..10-8 (Sunday 9-28 and Saturday 10-11 worked). Items: XK-011 (20 statutory
/ 5 promised working days), XK-007 (7 / 3), XK-001 (即办件, 3 / 0); bundle YJS-002
(XK-002, XK-003, XK-017) under Art. 42 ¶2 (45 working days).
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any
from uuid import UUID

import pytest
from casestore.projections.engine.db import ViewDB, create_target
from casestore.projections.facts.caseclocks import case_clocks
from casestore.projections.facts.casefacts import CaseFacts
from casestore.projections.readmodels.bundles import PROJECTION as BUNDLES
from casestore.projections.readmodels.bundles import BundleView
from casestore.projections.readmodels.supervision.rules import case_flags
from casestore.projections.runtime.logsource import LogSource
from casestore.projections.runtime.worker import Worker
from typer.testing import CliRunner

from casestore.cli import app as cli_app
from casestore.domain import Case, DeadlinePassed, InvalidCommand
from casestore.domain.values import BUREAU_TZ
from casestore.service import CASE_COMMANDS, CaseService, ExtendBundle, SubmitBundle, SubmitCase
from casestore.timelimits import ClockConfig
from casestore.timelimits.supervision_config import SupervisionConfig
from tests.conftest import APPLICANT, APPROVER, CLERK, DISPATCHER, REVIEWER, SEALER, FakeClock

D = date.fromisoformat
AFTER_HOURS = ClockConfig(after_hours_next_day=True, office_closes="17:30")
CLOSING = ClockConfig(close_of_business=True, office_closes="17:30")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=BUREAU_TZ)


class Desk:
    """Runs commands at given business times (the server clock set to each one)."""

    def __init__(self, service: CaseService, clock: FakeClock) -> None:
        self.service, self.clock = service, clock

    def submit(self, when: str, item: str = "XK-011") -> UUID:
        self.clock.now = at(when)
        return self.service.handle(
            SubmitCase(actor=CLERK, item_code=item, applicant=APPLICANT)
        ).case_id

    def run(self, case_id: UUID, when: str, action: str, role: Any, **payload: Any) -> None:
        self.clock.now = at(when)
        self.service.handle(CASE_COMMANDS[action](actor=role, case_id=case_id, **payload))

    def facts(self, case_id: UUID) -> CaseFacts:
        events = self.service.app.domain_events(case_id)
        return CaseFacts.fold(str(case_id), [(e, e.originator_version) for e in events])

    def rules(self, case_id: UUID, today: str, cfg: ClockConfig | None = None) -> set[str]:
        flags = case_flags(
            self.facts(case_id), self.service.calendar, D(today), cfg or ClockConfig()
        )
        return {f.rule for f in flags if f.open or f.rule in ("S02", "S03", "S10")}


@pytest.fixture
def desk(service: CaseService, clock: FakeClock) -> Desk:
    return Desk(service, clock)


# -- extensions: suspensions and deemed acceptance ------------------------------------


def test_extension_during_a_suspension(desk: Desk) -> None:
    # Accepted Mon 3-3: 20 working days end 3-31. Suspended Thu 3-27 (18 used, 2 left),
    # still suspended on 4-10: the 2 days fall on 4-11 and 4-14, so 4-10 is in time.
    cid = desk.submit("2025-03-03T09:00")
    desk.run(cid, "2025-03-03T10:00", "accept", CLERK)
    desk.run(
        cid,
        "2025-03-27T10:00",
        "suspend",
        REVIEWER,
        kind="expert_review",
        legal_basis="行政许可法第四十五条",
        notified_at=at("2025-03-27T10:00"),
        notice_method="mail",
        expected_days=10,
    )
    case = desk.service.case(cid)
    assert desk.service.statutory_due(case, D("2025-04-10")) == D("2025-04-14")
    desk.run(
        cid,
        "2025-04-10T10:00",
        "extend",
        APPROVER,
        days=10,
        reason="专家评审意见分歧，需补充论证",
        applicant_told_at=at("2025-04-10T10:00"),
        told_how="electronic",
    )
    assert "S10" not in desk.rules(cid, "2025-04-10")
    granted = desk.service.app.domain_events(cid)[-1]
    assert (granted.applicant_told_at, granted.told_how) == (at("2025-04-10T10:00"), "electronic")


def test_extension_after_the_deadline_without_a_suspension_is_refused(desk: Desk) -> None:
    cid = desk.submit("2025-03-03T09:00")
    desk.run(cid, "2025-03-03T10:00", "accept", CLERK)
    with pytest.raises(DeadlinePassed, match="2025-03-31"):
        desk.run(cid, "2025-04-01T10:00", "extend", APPROVER, days=10, reason="复杂")


def test_extension_after_a_deemed_deadline(desk: Desk) -> None:
    # Received Fri 9-26; nobody answers within 5 working days (9-28 9-29 9-30 10-09 10-10),
    # so it is deemed accepted from 9-26 and 20 working days end 10-30 (10-11 is worked).
    cid = desk.submit("2025-09-26T10:00")
    desk.run(cid, "2025-10-31T10:00", "accept", CLERK)
    with pytest.raises(DeadlinePassed, match="2025-10-30"):
        desk.run(cid, "2025-11-03T10:00", "extend", APPROVER, days=10, reason="复杂")
    assert desk.service.app.domain_events(cid)[-1].__class__.__name__ == "Accepted"
    clocks = case_clocks(desk.facts(cid), desk.service.calendar, D("2025-11-03"))
    assert clocks.deemed_accepted and clocks.statutory is not None
    assert clocks.statutory.due == D("2025-10-30")
    # The same extension entered as history (the import path) is what S10 flags.
    case = desk.service.case(cid)
    case.record_imported(
        "ExtensionGranted",
        actor=APPROVER,
        at=at("2025-11-03T10:00"),
        occurred_at=None,
        fields={"days": 10, "reason": "复杂"},
    )
    desk.service.app.save(case)
    flags = case_flags(desk.facts(cid), desk.service.calendar, D("2025-11-03"))
    (s10,) = [f for f in flags if f.rule == "S10"]
    assert "after the statutory due 2025-10-30" in s10.detail


def test_extension_on_the_deemed_last_day_is_in_time(desk: Desk) -> None:
    cid = desk.submit("2025-09-26T10:00")
    desk.run(cid, "2025-10-29T10:00", "accept", CLERK)
    desk.run(cid, "2025-10-30T16:00", "extend", APPROVER, days=10, reason="复杂")
    assert "S10" not in desk.rules(cid, "2025-10-30")


# -- 民法典 Art. 203 ----------------------------------------------------------------------


def test_supplements_on_a_saturday_are_accepted_in_time_on_monday(desk: Desk) -> None:
    cid = desk.submit("2025-03-03T09:00")
    desk.run(cid, "2025-03-04T10:00", "supplement-request", CLERK, missing=["营业执照副本"])
    desk.run(cid, "2025-03-15T10:00", "supplement", CLERK, materials=["营业执照副本"])
    desk.run(cid, "2025-03-17T09:00", "accept", CLERK)
    clocks = case_clocks(desk.facts(cid), desk.service.calendar, D("2025-03-17"))
    assert clocks.acceptance is not None and clocks.acceptance.due == D("2025-03-17")
    assert not clocks.acceptance.late and not clocks.deemed_accepted
    assert "S03" not in desk.rules(cid, "2025-03-17")


def test_deadline_with_zero_days_on_a_holiday() -> None:
    result = CliRunner().invoke(
        cli_app, ["deadline", "--from", "2025-10-04", "--days", "0", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["due"] == "2025-10-09"


# -- Art. 45: the last counted day, the written notice -------------------------------------


@pytest.mark.parametrize(
    ("decided", "late"), [("2025-03-24T10:00", False), ("2025-03-25T10:00", True)]
)
def test_suspension_on_the_last_day(desk: Desk, decided: str, late: bool) -> None:
    # XK-007: 7 working days from Mon 3-10 end Wed 3-19 (3-11 12 13 14 17 18 19). Suspended
    # 3-19, resumed Mon 3-24: the period ends on the resumption day.
    cid = desk.submit("2025-03-10T09:00", "XK-007")
    desk.run(cid, "2025-03-10T10:00", "accept", CLERK)
    desk.run(
        cid,
        "2025-03-19T10:00",
        "suspend",
        REVIEWER,
        kind="expert_review",
        legal_basis="行政许可法第四十五条",
        notified_at=at("2025-03-19T10:00"),
    )
    desk.run(cid, "2025-03-24T09:00", "resume", REVIEWER, result="专家评审完成")
    desk.run(cid, decided, "decide", APPROVER, outcome="approve")
    clocks = case_clocks(desk.facts(cid), desk.service.calendar, D(decided[:10]))
    assert clocks.statutory is not None and clocks.statutory.due == D("2025-03-24")
    assert clocks.statutory.late is late
    assert ("S02" in desk.rules(cid, decided[:10])) is late


def test_missing_art45_notice(desk: Desk) -> None:
    # Suspended Wed 3-5 with no written notice: 3 working days (3-6 3-7 3-10) later, S17.
    cid = desk.submit("2025-03-03T09:00")
    desk.run(cid, "2025-03-03T10:00", "accept", CLERK)
    desk.run(cid, "2025-03-05T10:00", "suspend", REVIEWER, kind="hearing", legal_basis="第四十五条")
    facts, cal = desk.facts(cid), desk.service.calendar
    cfg = SupervisionConfig(suspension_notice_days=3)
    assert not [f for f in case_flags(facts, cal, D("2025-03-10"), config=cfg) if f.rule == "S17"]
    (s17,) = [f for f in case_flags(facts, cal, D("2025-03-11"), config=cfg) if f.rule == "S17"]
    assert s17.raised_at == at("2025-03-11T00:00") and "2025-03-10" in s17.detail
    five = SupervisionConfig(suspension_notice_days=5)
    assert not [f for f in case_flags(facts, cal, D("2025-03-11"), config=five) if f.rule == "S17"]


def test_a_notice_needs_its_time_and_cannot_precede_the_suspension(desk: Desk) -> None:
    cid = desk.submit("2025-03-03T09:00")
    desk.run(cid, "2025-03-03T10:00", "accept", CLERK)
    for bad in (
        {"notice_method": "mail"},
        {"notified_at": at("2025-03-04T09:00"), "notice_method": "fax"},
        {"notified_at": at("2025-03-03T23:00")},
        {"notified_at": at("2025-03-04T10:00"), "expected_days": 251},
    ):
        with pytest.raises(InvalidCommand):
            desk.run(
                cid,
                "2025-03-04T10:00",
                "suspend",
                REVIEWER,
                kind="hearing",
                legal_basis="45",
                **bad,
            )
    assert len(desk.service.app.domain_events(cid)) == 2


# -- bundles (Art. 42 ¶2) -----------------------------------------------------------------

APPROVAL = {"approved_by": "旬阳市人民政府副市长 王某", "approval_document": "旬政审〔2025〕12号"}


def _bundle(desk: Desk) -> tuple[UUID, dict[str, UUID]]:
    desk.clock.now = at("2025-03-03T09:00")
    opened = desk.service.handle(
        SubmitBundle(actor=CLERK, bundle_code="YJS-002", applicant=APPLICANT)
    )
    return opened.bundle_id, {c: v.case_id for c, v in opened.children.items()}


def _extend_bundle(desk: Desk, bundle: UUID, when: str, **extra: Any) -> None:
    desk.clock.now = at(when)
    fields: dict[str, Any] = {**APPROVAL, **extra}
    desk.service.handle(
        ExtendBundle(actor=APPROVER, bundle_id=bundle, reason="多部门联合会审", **fields)
    )


def test_bundle_extension_after_the_joint_deadline(desk: Desk) -> None:
    # Opened Mon 3-3: 45 working days end 5-8 (see the module docstring's calendar).
    bundle, _ = _bundle(desk)
    with pytest.raises(DeadlinePassed, match="2025-05-08"):
        _extend_bundle(desk, bundle, "2025-05-09T10:00")
    with pytest.raises(InvalidCommand, match="approved_by"):
        _extend_bundle(desk, bundle, "2025-05-08T10:00", approved_by=" ")
    _extend_bundle(desk, bundle, "2025-05-08T10:00")
    granted = desk.service.app.domain_events(bundle)[-1]
    assert (granted.approved_by, granted.approval_document) == (
        APPROVAL["approved_by"],
        APPROVAL["approval_document"],
    )


def test_a_childs_suspension_moves_the_bundle_clock(desk: Desk) -> None:
    # A child suspended 4-1, resumed 4-8: 4-2 4-3 4-7 4-8 not counted, so 5-8 -> 5-14.
    bundle, children = _bundle(desk)
    child = children["XK-017"]
    desk.run(child, "2025-03-04T10:00", "accept", CLERK)
    desk.run(child, "2025-04-01T10:00", "suspend", REVIEWER, kind="testing", legal_basis="45")
    desk.run(child, "2025-04-08T10:00", "resume", REVIEWER, result="检测完成")
    _extend_bundle(desk, bundle, "2025-05-14T10:00")  # in time only because of the pause


def bundle_view(desk: Desk, bundle: UUID, today: str, cfg: ClockConfig | None = None) -> Any:
    """The read side's ``bundles`` view, folded from the store the service wrote."""
    source, db = LogSource(desk.service.app), ViewDB(desk.service.app.db_url)
    try:
        create_target(db, BUNDLES)
        Worker(source, db, BUNDLES).catch_up()
        view = BundleView(db, calendar=desk.service.calendar, config=cfg or ClockConfig())
        return view.get(str(bundle), D(today))["clock"]["statutory"]
    finally:
        source.close()
        db.close()


def test_the_bundle_view_judges_the_joint_extension_as_the_write_side(desk: Desk) -> None:
    # In time on 5-08 (the joint due): 15 more working days, 5-09 .. 5-29 (端午 is 5-31).
    bundle, _ = _bundle(desk)
    _extend_bundle(desk, bundle, "2025-05-08T17:45")
    clock = bundle_view(desk, bundle, "2025-05-12")
    assert clock["extension"] == {
        "days": 15,
        "at": "2025-05-08T17:45:00+08:00",
        "joint_due": "2025-05-08",
        "in_time": True,
    }
    assert clock["due"] == "2025-05-29" and not clock["late"]
    # Under the close-of-business rule (17:30) the same act is after the period ended:
    # the write side refuses it, and the view does not count it.
    closing = bundle_view(desk, bundle, "2025-05-12", CLOSING)
    assert closing["extension"]["in_time"] is False
    assert closing["due"] == "2025-05-08" and closing["late"]


def test_a_late_joint_extension_stored_before_the_check_extends_nothing(desk: Desk) -> None:
    # As a bundle extension of 5-09 was stored before issue 19 (the write side now refuses
    # it): the aggregate is told it is in time, as the old service did.
    bundle, _ = _bundle(desk)
    desk.clock.now = at("2025-05-09T10:00")
    stored = desk.service.bundle(bundle)
    stored.extend(
        reason="多部门联合会审",
        joint_due=D("2025-05-08"),
        in_time=True,
        actor=APPROVER,
        at=at("2025-05-09T10:00"),
        **APPROVAL,
    )
    desk.service.app.save(stored)
    clock = bundle_view(desk, bundle, "2025-05-12")
    assert clock["extension"]["in_time"] is False
    assert clock["extension"]["joint_due"] == "2025-05-08"
    assert clock["due"] == "2025-05-08" and clock["late"] and clock["extension_days"] == 0


def test_old_case_events_decode_with_the_new_fields_defaulted(desk: Desk) -> None:
    cid = desk.submit("2025-03-03T09:00")
    desk.run(cid, "2025-03-03T10:00", "accept", CLERK)
    case = desk.service.case(cid)
    # As stored before issue 19: no notice_method / expected_days fields at all.
    case.record_imported(
        "ClockSuspended",
        actor=REVIEWER,
        at=at("2025-03-04T10:00"),
        occurred_at=None,
        fields={"kind": "hearing", "legal_basis": "45", "notified_at": None},
    )
    desk.service.app.save(case)
    stored = desk.service.app.domain_events(cid)[-1]
    assert (stored.notice_method, stored.expected_days) == ("", 0)
    assert isinstance(desk.service.case(cid), Case)


# -- bad reviews: 回访 --------------------------------------------------------------------


def _closed_with_a_bad_review(desk: Desk) -> UUID:
    cid = desk.submit("2025-09-26T09:00", "XK-001")
    desk.run(cid, "2025-09-26T09:10", "accept", CLERK)
    desk.run(cid, "2025-09-26T09:20", "decide", APPROVER, outcome="approve")
    desk.run(
        cid,
        "2025-09-26T09:30",
        "seal",
        SEALER,
        seal_id="XZSP-SEAL-001",
        document_no="XK-2025-9",
        certificate_no="",
        valid_until=None,
        document_sha256="a" * 64,
    )
    desk.run(
        cid, "2025-09-26T09:40", "deliver", DISPATCHER, method="window_pickup", recipient="张三"
    )
    desk.run(cid, "2025-09-26T10:00", "evaluate", CLERK, level=5, channel="window")
    return cid


def test_bad_review_without_a_follow_up(desk: Desk) -> None:
    # 回访 within 1 working day of a 差评 on Fri 9-26: Sunday 9-28 is a working day.
    cid = _closed_with_a_bad_review(desk)
    assert "S18" not in desk.rules(cid, "2025-09-28")
    assert "S18" in desk.rules(cid, "2025-09-29")


def test_bad_review_followed_up_in_time(desk: Desk) -> None:
    cid = _closed_with_a_bad_review(desk)
    desk.run(cid, "2025-09-28T15:00", "follow-up", CLERK, satisfied=False, notes="已回访")
    assert "S18" not in desk.rules(cid, "2025-10-20")


# -- office hours -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cfg", "due", "late"),
    [(ClockConfig(), "2025-03-11", True), (AFTER_HOURS, "2025-03-12", False)],
)
def test_after_hours_receipt_with_each_configuration(
    desk: Desk, cfg: ClockConfig, due: str, late: bool
) -> None:
    # Received Tue 3-4 18:00, accepted Wed 3-12 09:00. Off: 5 days from 3-4 end 3-11 (S03,
    # deemed accepted). On: deemed received 3-5, 5 days end 3-12: accepted in time.
    cid = desk.submit("2025-03-04T18:00")
    desk.run(cid, "2025-03-12T09:00", "accept", CLERK)
    clocks = case_clocks(desk.facts(cid), desk.service.calendar, D("2025-03-12"), cfg)
    assert clocks.acceptance is not None and clocks.acceptance.due == D(due)
    assert clocks.acceptance.late is late and clocks.deemed_accepted is late
    assert ("S03" in desk.rules(cid, "2025-03-12", cfg)) is late


@pytest.mark.parametrize(("cfg", "refused"), [(ClockConfig(), False), (CLOSING, True)])
def test_close_of_business_with_each_configuration(
    desk: Desk, cfg: ClockConfig, refused: bool
) -> None:
    # 20 working days from 3-3 end 3-31; an extension at 17:45 that day.
    desk.service.clock_config = cfg
    cid = desk.submit("2025-03-03T09:00")
    desk.run(cid, "2025-03-03T10:00", "accept", CLERK)
    if refused:
        with pytest.raises(DeadlinePassed):
            desk.run(cid, "2025-03-31T17:45", "extend", APPROVER, days=5, reason="复杂")
    else:
        desk.run(cid, "2025-03-31T17:45", "extend", APPROVER, days=5, reason="复杂")
        assert "S10" not in desk.rules(cid, "2025-03-31", cfg)
