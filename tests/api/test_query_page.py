"""The applicant's page (issue 17 item 7): ``/query`` and what the public view tells it.

Expected dates are worked by hand from the 2025 calendar (国庆/中秋 10/1–10/8 off,
Saturday 10/11 a working day), not read back from the clock code.
"""

from __future__ import annotations

from datetime import UTC, datetime

from casestore.projections.reports.notices import applicant_url  # type: ignore[import-not-found,unused-ignore]

from tests.api.support import APPLICANT, Api


def _public(api: Api, case: dict[str, object]) -> dict[str, object]:
    r = api.get(f"/public/cases/{case['case_no']}", params={"code": case["query_code"]})
    assert r.status_code == 200, r.text
    data: dict[str, object] = r.json()
    return data


def test_the_view_lists_what_is_missing_and_the_next_step(api: Api) -> None:
    case = api.submit()  # XK-003 食品经营许可, Monday 2025-09-01
    api.command(
        case["case_id"], "supplement-request", "clerk", {"missing": ["营业执照副本", "租赁合同"]}
    )
    view = _public(api, case)
    assert view["stage"] == "supplementing"
    assert view["item_name"] == "食品经营许可"
    assert view["missing"] == ["营业执照副本", "租赁合同"]
    assert str(view["next_step"]).startswith("请按一次性告知书一次补齐")
    assert view["deadline"] is None  # the acceptance clock stopped at the notice

    api.command(case["case_id"], "supplement", "clerk", {"materials": ["营业执照副本", "租赁合同"]})
    view = _public(api, case)
    assert view["stage"] == "received" and view["missing"] == []
    # after a timely 补正 notice, acceptance is due the day the complete supplements
    # arrive (行政许可法 Art. 32 ¶1 (4)): Monday 9/1 itself, no working day left
    assert view["deadline"] == {
        "kind": "acceptance",
        "due": "2025-09-01",
        "remaining_working_days": 0,
        "paused": False,
        "late": False,
    }


def test_the_deadline_counts_working_days_across_the_national_day_holiday(api: Api) -> None:
    api.clock.now = datetime(2025, 9, 30, 1, 0, tzinfo=UTC)  # Tue 9/30, 09:00 in the bureau
    case = api.submit()
    api.command(case["case_id"], "accept", "clerk", {})
    view = _public(api, case)
    # promised 5 working days after 9/30: 10/9, 10/10, 10/11 (Sat, worked), 10/13, 10/14
    assert view["deadline"] == {
        "kind": "decision.promised",
        "due": "2025-10-14",
        "remaining_working_days": 5,
        "paused": False,
        "late": False,
    }
    assert view["next_step"] == "已受理，正在审查，请等待审批决定"
    api.clock.now = datetime(2025, 10, 10, 1, 0, tzinfo=UTC)  # Fri 10/10: 10/9, 10/10 used
    assert _public(api, case)["deadline"]["remaining_working_days"] == 3  # type: ignore[index]


def test_a_closed_case_waits_on_nothing_and_offers_the_rating(api: Api) -> None:
    case = api.submit()
    api.command(
        case["case_id"],
        "reject",
        "clerk",
        {"reasons": ["不属于本机关职权范围"], "legal_basis": "行政许可法第三十二条"},
    )
    view = _public(api, case)
    assert view["stage"] == "rejected" and view["deadline"] is None
    assert view["evaluated"] is False and view["bundle"] is False
    url = f"/public/cases/{case['case_no']}/evaluate"
    r = api.post(url, params={"code": case["query_code"]}, json={"level": 1})
    assert r.status_code == 200, r.text
    assert _public(api, case)["evaluated"] is True


def test_the_page_opens_from_a_notice_qr_code_and_refuses_bad_parameters(api: Api) -> None:
    case = api.submit()
    url = applicant_url("http://testserver", str(case["case_no"]))
    assert url == f"http://testserver/query?case_no={case['case_no']}"
    r = api.get(url.removeprefix("http://testserver"))
    assert r.status_code == 200
    assert "办件进度查询" in r.text and r.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert api.get("/query", params={"case_no": "<script>"}).status_code == 422
    assert api.get("/query", params={"case_no": "X" * 65}).status_code == 422
    assert api.get("/query", params={"code": "123456"}).status_code == 400  # never in a URL


def test_a_bundle_visit_is_rated_once_from_any_of_its_cases(api: Api) -> None:
    """一次一评: the applicant rates the 一件事 visit on one child's page; every child's page
    then shows it rated, and a second rating (applicant or window pad) is a 409 problem
    that appends nothing."""
    body = {"bundle_code": "YJS-001", "applicant": APPLICANT, "materials": ["申请表"]}
    r = api.post("/bundles", "clerk", json=body)
    assert r.status_code == 201, r.text
    first, second, third = (r.json()["children"][c] for c in ("XK-001", "XK-003", "XK-019"))
    assert _public(api, second)["evaluated"] is False
    url = f"/public/cases/{first['case_no']}/evaluate"
    assert api.post(url, params={"code": first["query_code"]}, json={"level": 2}).status_code == 200
    assert all(_public(api, c)["evaluated"] is True for c in (first, second, third))
    head = api.head()
    url = f"/public/cases/{second['case_no']}/evaluate"
    again = api.post(url, params={"code": second["query_code"]}, json={"level": 5})
    assert again.status_code == 409, again.text
    problem = again.json()
    assert again.headers["content-type"].startswith("application/problem+json")
    assert problem["type"].endswith("already-done")
    assert first["case_no"] in problem["detail"] and "一次一评" in problem["detail"]
    pad = api.post(
        f"/cases/{third['case_id']}/evaluate", "clerk", json={"level": 1, "channel": "window_pad"}
    )
    assert pad.status_code == 409, pad.text
    assert api.head() == head
