"""The law at its edges (issue 19) through a real ``casestore serve`` and the real CLI.

Business times are claimed with ``occurred_at`` (the served clock is today's). Expected
dates are counted by hand from 行政许可法 and the State Council holiday notice for 2025:
清明 4-4..4-6; 国庆/中秋 10-1..10-8 (Sunday 9-28 and Saturday 10-11 worked). Items:
XK-011 (20 statutory working days), XK-007 (7).
"""

from __future__ import annotations

import json
from typing import Any

from tests.api.support import APPLICANT

from .conftest import Served, cli


def _post(served: Served, role: str, path: str, **body: Any) -> Any:
    with served.client(role) as c:
        return c.post(path, json=body)


def _case(served: Served, item: str, received: str) -> str:
    r = _post(served, "clerk", "/cases", item_code=item, applicant=APPLICANT, occurred_at=received)
    assert r.status_code == 201, (r.text, served.log_tail())
    return str(r.json()["case_id"])


def _rules(served: Served, case: str, today: str) -> set[str]:
    served.settle()
    with served.client("inspector") as c:
        r = c.get("/supervision/flags", params={"case": case, "today": today})
    assert r.status_code == 200, r.text
    return {f["rule"] for f in r.json()["flags"]}


def test_an_extension_is_judged_from_deemed_acceptance(served: Served) -> None:
    # Received Fri 9-26; nobody answers within 5 working days (9-28 9-29 9-30 10-09 10-10):
    # deemed accepted from 9-26, so 20 working days end 10-30 although acceptance came 10-29.
    case = _case(served, "XK-011", "2025-09-26T10:00:00+08:00")
    r = _post(served, "clerk", f"/cases/{case}/accept", occurred_at="2025-10-29T10:00:00+08:00")
    assert r.status_code == 200, r.text
    late = _post(
        served,
        "approver",
        f"/cases/{case}/extend",
        days=10,
        reason="情况复杂",
        occurred_at="2025-11-03T10:00:00+08:00",
    )
    assert late.status_code == 409 and "2025-10-30" in late.json()["detail"], late.text
    on_the_day = _post(
        served,
        "approver",
        f"/cases/{case}/extend",
        days=10,
        reason="情况复杂",
        occurred_at="2025-10-30T16:00:00+08:00",
        applicant_told_at="2025-10-30T16:30:00+08:00",
        told_how="electronic",
    )
    assert on_the_day.status_code == 200, on_the_day.text
    rules = _rules(served, case, "2025-10-30")
    assert "S03" in rules and "S10" not in rules  # late acceptance flagged, extension lawful


def test_a_suspension_on_the_last_day_lets_a_decision_on_resumption_be_on_time(
    served: Served,
) -> None:
    # XK-007: 7 working days from Mon 3-10 end Wed 3-19; suspended 3-19 (with the written
    # notice), resumed and decided Mon 3-24: on time, the period ends on resumption.
    case = _case(served, "XK-007", "2025-03-10T09:00:00+08:00")
    steps: list[tuple[str, str, dict[str, Any]]] = [
        ("clerk", "accept", {"occurred_at": "2025-03-10T10:00:00+08:00"}),
        (
            "reviewer",
            "suspend",
            {
                "kind": "expert_review",
                "legal_basis": "行政许可法第四十五条",
                "occurred_at": "2025-03-19T10:00:00+08:00",
                "notified_at": "2025-03-19T11:00:00+08:00",
                "notice_method": "mail",
                "expected_days": 3,
            },
        ),
        ("reviewer", "resume", {"result": "评审完成", "occurred_at": "2025-03-24T09:00:00+08:00"}),
        ("approver", "decide", {"outcome": "approve", "occurred_at": "2025-03-24T10:00:00+08:00"}),
    ]
    for role, action, body in steps:
        r = _post(served, role, f"/cases/{case}/{action}", **body)
        assert r.status_code == 200, (action, r.text)
    rules = _rules(served, case, "2025-03-24")
    assert not rules & {"S02", "S17"}, rules


def test_a_zero_day_period_from_a_holiday_ends_on_the_next_working_day() -> None:
    out = json.loads(cli("deadline", "--from", "2025-10-04", "--days", "0", "--json"))
    assert out["due"] == "2025-10-09"  # 民法典第二百零三条: 10-04..10-08 are the holiday
