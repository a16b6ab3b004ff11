"""The applicant's page (``/query``) on a phone-sized viewport, from the QR link to the
rating (issue 17 item 7), against the real server over a simulated history."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from .a11y import UNLABELLED_JS, low_contrast, text_pairs
from .conftest import LiveServer

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
APPLICANT = {
    "name": "欧阳查询",
    "id_type": "resident_id",
    "id_number": "110101198808080022",
    "phone": "13912340000",
}


def _new_case(server: LiveServer, missing: list[str] | None = None) -> dict[str, Any]:
    with server.client("clerk", window="W01") as api:
        r = api.post("/cases", json={"item_code": "XK-003", "applicant": APPLICANT})
        assert r.status_code == 201, r.text
        case: dict[str, Any] = r.json()
        if missing:
            s = api.post(f"/cases/{case['case_id']}/supplement-request", json={"missing": missing})
            assert s.status_code == 200, s.text
    return case


def test_from_the_qr_link_to_the_rating_on_a_phone(
    page: Any, live_server: LiveServer, screenshots: Any
) -> None:
    case = _new_case(live_server, missing=["场所平面图及相关证明", "租赁合同"])
    page.set_viewport_size(PHONE)
    page.goto(f"{live_server.url}/query?case_no={case['case_no']}")  # what the QR code holds
    expect(page.locator("#case-no")).to_have_value(case["case_no"])
    assert case["query_code"] not in page.url

    page.fill("#code", "000000" if case["query_code"] != "000000" else "999999")
    page.click("#q-submit")
    expect(page.locator("#q-error")).to_have_text("办件编号或查询码不正确，请核对后重试。")
    expect(page.locator("#result")).to_be_hidden()

    page.fill("#code", case["query_code"])
    page.click("#q-submit")
    expect(page.locator("#r-case-no")).to_have_text(case["case_no"])
    expect(page.locator("#r-item")).to_have_text("食品经营许可")
    expect(page.locator("#r-stage")).to_have_text("补正中")
    expect(page.locator("#r-missing li")).to_have_text(["场所平面图及相关证明", "租赁合同"])
    expect(page.locator("#r-next")).to_contain_text("一次补齐")
    expect(page.locator("#r-steps li")).to_have_count(2)
    for secret in APPLICANT.values():
        assert secret not in page.content()
    # mobile first: nothing wider than the phone
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(screenshots / "query-phone.png"), full_page=True)

    expect(page.locator("#rate")).to_be_visible()
    page.click("#rate-submit")
    expect(page.locator("#rate-msg")).to_have_text("请选择评价等级。")
    page.check('input[name="level"][value="1"]')
    page.fill("#comment", "窗口一次告知，很清楚")
    page.click("#rate-submit")
    expect(page.locator("#rated")).to_be_visible()
    expect(page.locator("#rate")).to_be_hidden()
    page.screenshot(path=str(screenshots / "query-rated.png"), full_page=True)

    with live_server.client("inspector") as api:
        events = api.get(f"/cases/{case['case_id']}/events").json()
    rated = [e for e in events if e["type"] == "Evaluated"]
    assert [(e["data"]["level"], e["data"]["channel"], e["data"]["comment"]) for e in rated] == [
        (1, "online", "窗口一次告知，很清楚")
    ]


def test_the_page_follows_the_case_after_acceptance(page: Any, live_server: LiveServer) -> None:
    case = _new_case(live_server)
    with live_server.client("clerk", window="W01") as api:
        assert api.post(f"/cases/{case['case_id']}/accept", json={}).status_code == 200
        promised = api.get(f"/cases/{case['case_id']}/clock").json()["promised"]
    assert promised["days"] == 5  # XK-003's promise in the catalogue
    page.set_viewport_size(PHONE)
    page.goto(f"{live_server.url}/query")
    page.fill("#case-no", case["case_no"])
    page.fill("#code", case["query_code"])
    page.press("#code", "Enter")
    expect(page.locator("#r-stage")).to_have_text("已受理")
    expect(page.locator("#r-deadline-label")).to_have_text("承诺办结时限")
    expect(page.locator("#r-deadline")).to_have_text(promised["due"])
    expect(page.locator("#r-remaining")).to_have_text(f"{promised['remaining']} 个工作日")
    expect(page.locator("#r-missing-box")).to_be_hidden()


def test_the_page_is_labelled_and_its_text_contrast_is_aa(
    page: Any, live_server: LiveServer
) -> None:
    case = _new_case(live_server, missing=["租赁合同"])
    page.set_viewport_size(PHONE)
    page.goto(f"{live_server.url}/query?case_no={case['case_no']}")
    page.fill("#code", case["query_code"])
    page.click("#q-submit")
    expect(page.locator("#r-stage")).to_have_text("补正中")
    assert page.evaluate(UNLABELLED_JS) == []
    assert text_pairs(page) > 20
    assert low_contrast(page) == []
