"""Surveys as practised (issue 17 item 3): the survey list per item (踏勘清单), the
one-time survey notice with when and how it reached the applicant, and the survey's
cost to the bureau beside its one joint three-party conclusion."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.support import SURVEY_PARTICIPANTS, Api


def _accepted(api: Api) -> str:
    case = api.submit()  # XK-003 食品经营许可: needs a survey, 3 working days
    api.command(case["case_id"], "accept", "clerk", {})
    case_id: str = case["case_id"]
    return case_id


def _events(api: Api, case_id: str, name: str) -> list[dict[str, Any]]:
    events = api.get(f"/cases/{case_id}/events", "inspector").json()
    return [e["data"] for e in events if e["type"] == name]


def test_the_survey_list_names_what_is_inspected_and_how_long(api: Api) -> None:
    r = api.get("/surveys/list")
    assert r.status_code == 200
    body = r.json()
    assert body["count"] == 16  # the catalogue's items with needs_survey
    food = next(i for i in body["items"] if i["code"] == "XK-003")
    assert food["name"] == "食品经营许可" and food["survey_days"] == 3
    assert food["survey_needs"][0] == "经营场所布局与面积" and len(food["survey_needs"]) == 4
    assert all(i["code"] != "XK-001" for i in body["items"])  # an instant item: no survey


def test_the_notice_and_the_cost_are_recorded(api: Api) -> None:
    case_id = _accepted(api)
    told = api.clock.now.isoformat()
    notice = {
        "requirements": ["经营场所布局与面积", "食品处理区设施设备"],
        "survey_days": 3,
        "notified_at": told,
        "notice_method": "electronic",
    }
    api.command(case_id, "survey-schedule", "surveyor", notice)
    (scheduled,) = _events(api, case_id, "SurveyScheduled")
    assert scheduled["notice_method"] == "electronic"
    assert scheduled["requirements"] == ["经营场所布局与面积", "食品处理区设施设备"]
    result = {"participants": SURVEY_PARTICIPANTS, "conclusion": "pass", "cost_fen": 18000}
    api.command(case_id, "survey-result", "surveyor", result)
    (conducted,) = _events(api, case_id, "SurveyConducted")
    assert conducted["cost_fen"] == 18000 and conducted["conclusion"] == "pass"


@pytest.mark.parametrize(
    ("action", "body"),
    [
        ("survey-schedule", {"requirements": ["x"], "survey_days": 3, "notice_method": "mail"}),
        ("survey-schedule", {"requirements": ["x"], "survey_days": 3, "notice_method": "fax"}),
        (
            "survey-schedule",
            {"requirements": ["x"], "survey_days": 3, "notified_at": "2030-01-01T09:00:00+08:00"},
        ),
        (  # each party once: a repeated one would be kept in the log for ever
            "survey-schedule",
            {
                "requirements": ["x"],
                "survey_days": 3,
                "parties": ["applicant"] * 1000 + ["approval_bureau", "regulator"],
            },
        ),
        (
            "survey-schedule",
            {
                "requirements": ["x"],
                "survey_days": 3,
                "parties": ["applicant", "applicant", "approval_bureau", "regulator"],
            },
        ),
    ],
)
def test_a_bad_notice_is_refused_and_nothing_appended(
    api: Api, action: str, body: dict[str, Any]
) -> None:
    case_id = _accepted(api)
    head = api.head()
    r = api.post(f"/cases/{case_id}/{action}", "surveyor", json=body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert api.head() == head


@pytest.mark.parametrize("cost", [-1, 100_000_001, 1.5, "100"])
def test_a_bad_cost_is_refused_and_nothing_appended(api: Api, cost: Any) -> None:
    case_id = _accepted(api)
    api.command(case_id, "survey-schedule", "surveyor", {"requirements": ["x"], "survey_days": 3})
    head = api.head()
    body = {"participants": SURVEY_PARTICIPANTS, "conclusion": "pass", "cost_fen": cost}
    r = api.post(f"/cases/{case_id}/survey-result", "surveyor", json=body)
    assert r.status_code == 422, r.text
    assert api.head() == head
