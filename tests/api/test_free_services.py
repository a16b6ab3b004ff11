"""``POST /cases/{id}/service`` (免费刻章, 免费邮寄, 限价复印): recorded, or refused with a
problem and nothing appended (issue 17 item 4)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.support import Api


def test_a_service_is_recorded_with_both_costs(api: Api) -> None:
    case = api.submit()
    body = {"service": "mailing", "charged_fen": 0, "bureau_cost_fen": 1200, "note": "SF1001"}
    r = api.post(f"/cases/{case['case_id']}/service", "dispatcher", json=body)
    assert r.status_code == 200, r.text
    events = api.get(f"/cases/{case['case_id']}/events", "inspector").json()
    assert events[-1]["type"] == "ServiceProvided"
    assert events[-1]["data"] == {
        "service": "mailing",
        "units": 1,
        "charged_fen": 0,
        "bureau_cost_fen": 1200,
        "note": "SF1001",
    }


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"service": "notary"}, 422),
        ({"service": "copying", "units": 0}, 422),
        ({"service": "copying", "units": 10_001}, 422),
        ({"service": "copying", "units": "3"}, 422),
        ({"service": "mailing", "charged_fen": -1}, 422),
        ({"service": "mailing", "charged_fen": 1.5}, 422),
        ({"service": "mailing", "bureau_cost_fen": 100_000_001}, 422),
        ({"service": "mailing", "price": 3}, 422),
        ({"service": "mailing", "note": "x" * 2001}, 422),
    ],
)
def test_bad_input_is_a_problem_and_appends_nothing(
    api: Api, body: dict[str, Any], status: int
) -> None:
    case = api.submit()
    head = api.head()
    r = api.post(f"/cases/{case['case_id']}/service", "clerk", json=body)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert api.head() == head


def test_only_the_window_the_dispatcher_and_admins_record_services(api: Api) -> None:
    case = api.submit()
    head = api.head()
    r = api.post(f"/cases/{case['case_id']}/service", "reviewer", json={"service": "copying"})
    assert r.status_code == 403 and api.head() == head


def test_a_note_is_bounded_at_2000_characters(api: Api) -> None:
    """The README's bound: 2000 characters are recorded whole; 2001 are a 422 problem and
    the log does not move."""
    case = api.submit()
    url = f"/cases/{case['case_id']}/service"
    head = api.head()
    r = api.post(url, "clerk", json={"service": "mailing", "note": "号" * 2001})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert api.head() == head
    r = api.post(url, "clerk", json={"service": "mailing", "note": "号" * 2000})
    assert r.status_code == 200, r.text
    assert api.head() == head + 1
