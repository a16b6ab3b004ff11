"""The Enquiry aggregate (群众诉求/咨询): what it records and what it refuses."""

from __future__ import annotations

from datetime import datetime
from uuid import uuid4

import pytest

from casestore.domain import AlreadyDone, InvalidCommand, OutOfOrder
from casestore.domain.enquiry import Enquiry
from casestore.domain.values import BUREAU_TZ
from tests.conftest import CLERK

AT = datetime(2025, 9, 30, 10, 0, tzinfo=BUREAU_TZ)


def received(**over: object) -> Enquiry:
    fields: dict[str, object] = {
        "enquiry_id": uuid4(),
        "kind": "request",
        "channel": "window",
        "service_window": "领导带班窗口",
        "topic": "餐饮许可办理进度",
        "handling_days": 5,
        "actor": CLERK,
        "at": AT,
    }
    fields.update(over)
    return Enquiry.receive(**fields)  # type: ignore[arg-type]


def test_received_records_its_handling_days_and_window() -> None:
    e = received()
    event = e.collect_events()[0]
    assert isinstance(event, Enquiry.Received)
    assert (event.kind, event.service_window, event.handling_days) == ("request", "领导带班窗口", 5)


@pytest.mark.parametrize(
    "over",
    [
        {"kind": "complaint"},
        {"channel": "pigeon"},
        {"topic": "  "},
        {"topic": "长" * 201},
        {"handling_days": -1},
        {"handling_days": 367},
    ],
)
def test_bad_fields_are_refused(over: dict[str, object]) -> None:
    with pytest.raises(InvalidCommand):
        received(**over)


def test_answer_once_then_close() -> None:
    e = received()
    e.answer("已告知办理进度", actor=CLERK, at=AT)
    with pytest.raises(AlreadyDone):
        e.answer("again", actor=CLERK, at=AT)
    e.close("resolved", actor=CLERK, at=AT)
    with pytest.raises(OutOfOrder):
        e.refer("市场监管局", "", actor=CLERK, at=AT)
    assert [type(x).__name__ for x in e.collect_events()] == ["Received", "Answered", "Closed"]


def test_closing_needs_an_answer_or_a_referral_unless_withdrawn() -> None:
    e = received()
    with pytest.raises(InvalidCommand):
        e.close("resolved", actor=CLERK, at=AT)
    e.close("withdrawn", actor=CLERK, at=AT)
    other = received()
    other.refer("县市场监管局", "属其职责", actor=CLERK, at=AT)
    with pytest.raises(AlreadyDone):
        other.refer("县住建局", "", actor=CLERK, at=AT)
    other.close("resolved", "监管局已办结", actor=CLERK, at=AT)
    with pytest.raises(InvalidCommand):
        received().close("lost", actor=CLERK, at=AT)
