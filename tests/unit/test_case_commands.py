"""Every Case command and invariant of SPEC §3.2, on the aggregate alone (no store)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest

from casestore.domain import (
    Actor,
    AlreadyDone,
    Case,
    DeadlinePassed,
    Forbidden,
    InvalidCommand,
    ItemLimits,
    OutOfOrder,
    Party,
    SurveyParticipant,
)
from casestore.domain.values import BUREAU_TZ

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=BUREAU_TZ)
CLERK = Actor("c1", "clerk", window="W1")
APPROVER = Actor("p1", "approver")
REVIEWER = Actor("r1", "reviewer")
LIMITS = ItemLimits(
    statutory_days=20, promised_days=10, pause_kinds=("supplement_after_acceptance",)
)
SHA = "a" * 64
PARTICIPANTS = [
    SurveyParticipant("孙一", "approval_bureau", "s1"),
    SurveyParticipant("孙二", "regulator", "s2"),
    SurveyParticipant("业主", "applicant"),
]


class Steps:
    """Drives one case through its stages with a clock that moves a minute per step."""

    def __init__(self) -> None:
        self.at = T0
        self.case = Case.submit(case_id=uuid4(), case_no="XY1", query_code_hash="h",
                                item_code="XK-003", applicant=Party("张三", "resident_id", "1"),
                                actor=CLERK, at=self.tick())

    def tick(self) -> datetime:
        self.at += timedelta(minutes=1)
        return self.at

    def do(self, command: str, actor: Actor = CLERK, **kwargs: Any) -> None:
        getattr(self.case, command)(actor=actor, at=self.tick(), **kwargs)

    def to(self, stage: str) -> Steps:
        order = ["accepted", "decided", "sealed", "delivered"]
        for step in order[: order.index(stage) + 1]:
            if step == "accepted":
                self.do("accept", notice_no="N1", limits=LIMITS,
                        promised_completion=date(2025, 3, 17))
            elif step == "decided":
                self.do("decide", APPROVER, outcome="approve")
            elif step == "sealed":
                self.do("seal", Actor("k1", "sealer"), seal_id="S", document_no="D1",
                        certificate_no="C1", valid_until=None, document_sha256=SHA,
                        approval_seal_id="S")
            elif step == "delivered":
                self.do("deliver", method="window_pickup", recipient="张三")
        return self


def refused(steps: Steps, error: type[Exception], command: str, actor: Actor = CLERK,
            **kwargs: Any) -> None:
    """The command raises ``error`` and leaves the aggregate's version unchanged."""
    before = steps.case.version
    with pytest.raises(error):
        steps.do(command, actor, **kwargs)
    assert steps.case.version == before


def test_submit_records_intake() -> None:
    s = Steps()
    assert s.case.stage == "received" and s.case.version == 1
    (event,) = s.case.collect_events()
    assert isinstance(event, Case.Submitted) and event.recorded_at == T0 + timedelta(minutes=1)


@pytest.mark.parametrize(("fields", "message"), [
    ({"channel": "fax"}, "channel"),
    ({"channel": "cross_province"}, "receiving_region"),
    ({"agent": Party("李四", "resident_id", "2")}, "mandate"),
    ({"occurred_at": T0 + timedelta(days=1)}, "occurred_at"),
])
def test_submit_refuses_bad_fields(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidCommand, match=message):
        Case.submit(case_id=uuid4(), case_no="X", query_code_hash="h", item_code="XK-1",
                    applicant=Party("张三", "resident_id", "1"), actor=CLERK, at=T0, **fields)


def test_naive_time_refused() -> None:
    with pytest.raises(InvalidCommand, match="timezone"):
        Case.submit(case_id=uuid4(), case_no="X", query_code_hash="h", item_code="XK-1",
                    applicant=Party("张三", "resident_id", "1"), actor=CLERK,
                    at=datetime(2025, 1, 1))


def test_supplement_cycle_then_accept() -> None:
    s = Steps()
    s.do("request_supplement", missing=["营业执照"])
    assert s.case.stage == "supplementing"
    refused(s, OutOfOrder, "accept", notice_no="N", limits=LIMITS,
            promised_completion=date(2025, 3, 17))
    s.do("receive_supplement", materials=["营业执照"])
    s.to("accepted")
    assert s.case.stage == "accepted" and s.case.limits == LIMITS


def test_supplement_rules() -> None:
    s = Steps()
    refused(s, InvalidCommand, "request_supplement", missing=[])
    refused(s, OutOfOrder, "receive_supplement", materials=["x"])
    s.to("accepted")
    refused(s, OutOfOrder, "request_supplement", missing=["x"])


def test_second_supplement_notice_is_recorded_for_s04() -> None:
    s = Steps()
    s.do("request_supplement", missing=["a"])
    s.do("request_supplement", missing=["b"])
    assert s.case.supplement_requests == 2


def test_accept_rules() -> None:
    s = Steps()
    refused(s, InvalidCommand, "accept", notice_no="N", limits=ItemLimits(5, 10),
            promised_completion=date(2025, 3, 17))
    s.to("accepted")
    refused(s, OutOfOrder, "accept", notice_no="N", limits=LIMITS,
            promised_completion=date(2025, 3, 17))


def test_reject_rules() -> None:
    s = Steps()
    refused(s, InvalidCommand, "reject", reasons=[], legal_basis="x")
    refused(s, InvalidCommand, "reject", reasons=["不属于本机关职权"], legal_basis=" ")
    s.do("reject", reasons=["不属于本机关职权"], legal_basis="行政许可法第32条",
         apply_instead="市场监管局")
    assert s.case.closed
    refused(s, OutOfOrder, "accept", notice_no="N", limits=LIMITS,
            promised_completion=date(2025, 3, 17))


def test_withdraw_before_decision_only() -> None:
    s = Steps().to("accepted")
    s.do("withdraw", reason="申请人撤回")
    assert s.case.stage == "withdrawn"
    d = Steps().to("decided")
    refused(d, OutOfOrder, "withdraw", reason="太晚")


def test_review_needs_acceptance_and_valid_opinion() -> None:
    s = Steps()
    refused(s, OutOfOrder, "record_review", REVIEWER, stage_name="审查", opinion="pass")
    s.to("accepted")
    refused(s, InvalidCommand, "record_review", REVIEWER, stage_name="审查", opinion="maybe")
    s.do("record_review", REVIEWER, stage_name="审查", opinion="pass")
    assert s.case.stage == "under_review"


def test_survey_rules() -> None:
    s = Steps()
    refused(s, OutOfOrder, "schedule_survey", requirements=["场地"], survey_days=5)
    s.to("accepted")
    refused(s, OutOfOrder, "record_survey", participants=PARTICIPANTS, conclusion="pass")
    refused(s, InvalidCommand, "schedule_survey", requirements=[], survey_days=5)
    twice = ["applicant", "applicant", "approval_bureau", "regulator"]  # each party once
    refused(s, InvalidCommand, "schedule_survey", requirements=["x"], survey_days=5,
            parties=twice)
    s.do("schedule_survey", requirements=["场地平面图"], survey_days=5)
    refused(s, AlreadyDone, "schedule_survey", requirements=["x"], survey_days=5)
    one_staff = [SurveyParticipant("孙一", "approval_bureau", "s1"),
                 SurveyParticipant("孙二", "regulator"), SurveyParticipant("业主", "applicant")]
    refused(s, InvalidCommand, "record_survey", participants=one_staff, conclusion="pass")
    refused(s, InvalidCommand, "record_survey", participants=PARTICIPANTS[:2],
            conclusion="pass")
    refused(s, InvalidCommand, "record_survey", participants=PARTICIPANTS, conclusion="ok")
    s.do("record_survey", participants=PARTICIPANTS, conclusion="pass", findings="符合")
    assert s.case.surveys_conducted == 1 and not s.case.survey_open


def test_suspension_rules() -> None:
    s = Steps()
    refused(s, OutOfOrder, "suspend", kind="hearing", legal_basis="第45条")
    s.to("accepted")
    refused(s, InvalidCommand, "suspend", kind="lunch", legal_basis="第45条")
    s.do("suspend", kind="supplement_after_acceptance", legal_basis="事项允许")
    refused(s, OutOfOrder, "suspend", kind="hearing", legal_basis="第45条")
    refused(s, OutOfOrder, "decide", APPROVER, outcome="approve")
    s.do("resume", result="补正完成")
    refused(s, OutOfOrder, "resume", result="again")
    assert [kind for *_, kind in s.case.suspensions] == ["supplement_after_acceptance"]
    assert all(end is not None for _, end, _ in s.case.suspensions)


def test_extension_rules() -> None:
    s = Steps().to("accepted")
    far = date(2025, 4, 1)
    refused(s, Forbidden, "extend", REVIEWER, days=5, reason="复杂", statutory_due=far)
    refused(s, InvalidCommand, "extend", APPROVER, days=11, reason="复杂", statutory_due=far)
    refused(s, DeadlinePassed, "extend", APPROVER, days=5, reason="复杂",
            statutory_due=date(2025, 3, 1))
    s.do("extend", APPROVER, days=10, reason="情况复杂", statutory_due=far)
    refused(s, AlreadyDone, "extend", APPROVER, days=1, reason="再延", statutory_due=far)


def test_joint_extension_allows_fifteen() -> None:
    s = Steps()
    s.do("accept", notice_no="N", limits=ItemLimits(45, 30, joint=True),
         promised_completion=date(2025, 4, 30))
    s.do("extend", APPROVER, days=15, reason="联合办理", statutory_due=date(2025, 5, 1))
    assert s.case.extensions == 1


def test_decision_rules() -> None:
    s = Steps().to("accepted")
    refused(s, InvalidCommand, "decide", APPROVER, outcome="deny", reasons=[], remedies="复议")
    refused(s, InvalidCommand, "decide", APPROVER, outcome="deny", reasons=["不符合"],
            remedies="")
    refused(s, InvalidCommand, "decide", APPROVER, outcome="perhaps")
    s.do("decide", APPROVER, outcome="deny", reasons=["不符合条件"],
         remedies="可于60日内申请行政复议或6个月内提起行政诉讼")
    assert s.case.closed
    refused(s, OutOfOrder, "decide", APPROVER, outcome="approve")
    refused(s, OutOfOrder, "seal", Actor("k1", "sealer"), seal_id="S", document_no="D",
            certificate_no="C", valid_until=None, document_sha256=SHA, approval_seal_id="S")


def test_seal_rules() -> None:
    s = Steps().to("accepted")
    sealer = Actor("k1", "sealer")
    kw: dict[str, Any] = {"document_no": "D", "certificate_no": "C", "valid_until": None,
                          "approval_seal_id": "S"}
    refused(s, OutOfOrder, "seal", sealer, seal_id="S", document_sha256=SHA, **kw)
    s.do("decide", APPROVER, outcome="approve")
    refused(s, InvalidCommand, "seal", sealer, seal_id="OTHER", document_sha256=SHA, **kw)
    refused(s, InvalidCommand, "seal", sealer, seal_id="S", document_sha256="xyz", **kw)
    # A licence's expiry is bounded at the door: never before the sealing day, never
    # past the calendar's range (year 9999 once poisoned the read side).
    for bad in (date(1999, 1, 1), date(2300, 1, 1), date(9999, 12, 31)):
        refused(s, InvalidCommand, "seal", sealer, seal_id="S", document_sha256=SHA,
                **{**kw, "valid_until": bad})
    s.do("seal", sealer, seal_id="S", document_sha256=SHA, **kw)
    refused(s, AlreadyDone, "seal", sealer, seal_id="S", document_sha256=SHA, **kw)


def test_delivery_rules() -> None:
    s = Steps().to("decided")
    refused(s, OutOfOrder, "deliver", method="mail", recipient="张三", tracking_no="EMS1")
    s.do("seal", Actor("k1", "sealer"), seal_id="S", document_no="D", certificate_no="C",
         valid_until=date(2030, 1, 1), document_sha256=SHA, approval_seal_id="S")
    refused(s, InvalidCommand, "deliver", method="mail", recipient="张三")
    refused(s, InvalidCommand, "deliver", method="pigeon", recipient="张三")
    s.do("deliver", method="mail", recipient="张三", tracking_no="EMS123456789CN")
    refused(s, AlreadyDone, "deliver", method="mail", recipient="张三", tracking_no="EMS1")


def test_only_aftercare_after_delivery() -> None:
    s = Steps().to("delivered")
    refused(s, OutOfOrder, "record_review", REVIEWER, stage_name="x", opinion="pass")
    refused(s, OutOfOrder, "suspend", REVIEWER, kind="hearing", legal_basis="x")
    refused(s, OutOfOrder, "withdraw", reason="x")
    s.do("evaluate", Actor("c1", "clerk"), level=5, channel="pad", comment="太慢")
    s.do("handle_bad_review", Actor("a1", "admin"), verification="属实", rectification="整改")
    s.do("record_follow_up", satisfied=True, notes="满意")
    s.case.correct(corrects_version=2, fact="notice_no", wrong_value="N1",
                   correct_value="N2", reason="录入错误", actor=CLERK, at=s.tick())
    assert s.case.corrections == 1 and s.case.follow_ups == 1


def test_evaluation_rules() -> None:
    s = Steps()
    refused(s, InvalidCommand, "evaluate", level=6, channel="pad")
    refused(s, OutOfOrder, "handle_bad_review", verification="x", rectification="y")
    s.do("evaluate", level=2, channel="pad")
    refused(s, AlreadyDone, "evaluate", level=1, channel="pad")
    refused(s, OutOfOrder, "handle_bad_review", verification="x", rectification="y")


def test_bad_review_handled_once() -> None:
    s = Steps().to("delivered")
    s.do("evaluate", level=4, channel="pad")
    s.do("handle_bad_review", verification="属实", rectification="培训")
    refused(s, AlreadyDone, "handle_bad_review", verification="x", rectification="y")


def test_follow_up_needs_closed_case() -> None:
    s = Steps().to("accepted")
    refused(s, OutOfOrder, "record_follow_up", satisfied=True)


def test_correction_names_an_existing_event() -> None:
    s = Steps()
    with pytest.raises(InvalidCommand):
        s.case.correct(corrects_version=5, fact="x", wrong_value="a", correct_value="b",
                       reason="r", actor=CLERK, at=s.tick())
    assert s.case.version == 1


def test_imported_history_keeps_rule_breaches() -> None:
    s = Steps().to("accepted")
    s.case.record_imported("SurveyConducted", actor=CLERK, at=s.tick(), occurred_at=None,
                           fields={"participants": PARTICIPANTS[:1], "conclusion": "pass",
                                   "findings": ""})
    assert s.case.surveys_conducted == 1
    with pytest.raises(InvalidCommand):
        s.case.record_imported("Nope", actor=CLERK, at=s.tick(), occurred_at=None, fields={})


def test_copies_of_a_case_are_independent() -> None:
    import copy

    s = Steps().to("accepted")
    s.do("suspend", REVIEWER, kind="hearing", legal_basis="第45条")
    clone = copy.deepcopy(s.case)
    assert vars(clone) == vars(s.case)
    clone.resume(result="听证结束", actor=REVIEWER, at=s.tick())
    assert s.case.suspended and s.case.suspensions[-1][1] is None
    assert clone.suspensions[-1][1] is not None and clone.version == s.case.version + 1
