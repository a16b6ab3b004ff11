"""The public hall status board (``/``) in headless Chromium against a simulated history."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from casestore.store.application import CasestoreApp

from .conftest import FULL_HD, LAPTOP, LiveServer

pytestmark = pytest.mark.browser

NEW_APPLICANT = {
    "name": "欧阳测试",
    "id_type": "resident_id",
    "id_number": "110101198807070011",
    "phone": "13912345678",
}


def _personal_data(db_url: str) -> set[str]:
    """Every applicant and agent name, ID number and phone in the log."""
    store = CasestoreApp(db_url)
    found: set[str] = set()
    try:
        for row, event in store.iter_events(0):
            if not row.topic.endswith("Case.Submitted"):
                continue
            for party in (event.applicant, event.agent):
                if party is None:
                    continue
                for field in ("name", "id_number", "phone"):
                    value = getattr(party, field, "")
                    if value and len(value) >= 2:
                        found.add(value)
    finally:
        store.close()
    return found


def _open_board(page: Any, server: LiveServer, size: dict[str, int] = FULL_HD) -> Any:
    page.set_viewport_size(size)
    page.goto(server.url + "/")
    expect(page.locator("#live")).to_have_attribute("data-state", "open")
    page.wait_for_selector("#case-rows tr[data-case-no]", state="attached")
    return page


def test_board_lists_open_cases_with_clocks_and_no_personal_data(
    page: Any, live_server: LiveServer, demo_db: str, screenshots: Any
) -> None:
    data = httpx.get(live_server.url + "/board/cases").json()
    assert data["counts"]["open"] > 5
    _open_board(page, live_server)

    rows = page.locator("#case-rows tr[data-case-no]")
    expect(rows).to_have_count(len(data["rows"]))
    expect(page.locator("#count-open")).to_have_text(str(data["counts"]["open"]))
    expect(page.locator("#count-red")).to_have_text(str(data["counts"]["red"]))
    expect(page.locator("#count-yellow")).to_have_text(str(data["counts"]["yellow"]))
    first = data["rows"][0]
    row = page.locator(f'#case-rows tr[data-case-no="{first["case_no"]}"]')
    expect(row.locator("td.item")).to_have_text(first["item_name"])
    # Most urgent first: a red case (overdue) heads the board when there is one.
    if data["counts"]["red"]:
        assert first["warning"] == "red"
        expect(row.locator("td.warning")).to_contain_text("红牌")
        expect(row.locator("td.remaining")).to_contain_text("超")
    # Only one page of rows is shown at a time on the big screen.
    visible = page.locator("#case-rows tr[data-case-no]:visible").count()
    assert 3 <= visible <= len(data["rows"])
    page.screenshot(path=str(screenshots / "board-1920x1080.png"))

    text = page.locator("body").inner_text()
    assert "办件公示" in text and "在办件" in text
    personal = _personal_data(demo_db)
    assert personal, "the simulated history has applicants"
    leaked = sorted(p for p in personal if p in text or p in str(data))
    assert not leaked, f"personal data on the public board: {leaked[:5]}"


def test_board_fits_a_laptop_screen(page: Any, live_server: LiveServer, screenshots: Any) -> None:
    _open_board(page, live_server, LAPTOP)
    overflow = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.scrollHeight]"
    )
    assert overflow[0] <= LAPTOP["width"], "horizontal scrollbar on a 1366 px screen"
    assert overflow[1] <= LAPTOP["height"], "the board scrolls vertically on a 768 px screen"
    box = page.locator("#cases").bounding_box()
    assert box is not None and box["y"] + box["height"] <= LAPTOP["height"]
    page.screenshot(path=str(screenshots / "board-1366x768.png"))


def test_board_follows_commands_live_without_reload(
    page: Any, live_server: LiveServer, screenshots: Any
) -> None:
    _open_board(page, live_server)
    page.evaluate("() => { window.__sameDocument = 'yes'; }")
    with live_server.client("clerk", window="W01") as api:
        created = api.post(
            "/cases",
            json={
                "item_code": "XK-003",
                "applicant": NEW_APPLICANT,
                "materials": [
                    "申请书",
                    "申请人身份证明",
                    "营业执照或主体资格证明",
                    "场所平面图及相关证明",
                ],
            },
        )
        assert created.status_code == 201, created.text
        case = created.json()
        row = page.locator(f'#case-rows tr[data-case-no="{case["case_no"]}"]')
        expect(row.locator("td.stage")).to_have_text("已收件")
        expect(row.locator("td.item")).to_have_text("食品经营许可")
        feed = page.locator(f'#feed li[data-case-no="{case["case_no"]}"]')
        expect(feed.first).to_contain_text("申请收件")

        accepted = api.post(f"/cases/{case['case_id']}/accept", json={})
        assert accepted.status_code == 200, accepted.text
        expect(row.locator("td.stage")).to_have_text("已受理")
        expect(feed.first).to_contain_text("受理 → 已受理")
        expect(row.locator("td.remaining")).not_to_have_text("—")
    assert page.evaluate("() => window.__sameDocument") == "yes", "the page was reloaded"
    text = page.locator("body").inner_text()
    for secret in NEW_APPLICANT.values():
        if len(secret) > 2:
            assert secret not in text
    row.scroll_into_view_if_needed()
    page.screenshot(path=str(screenshots / "board-live-update.png"))


def test_board_stream_is_public_and_carries_no_staff_or_applicant(live_server: LiveServer) -> None:
    head = httpx.get(live_server.url + "/board/cases").json()["position"]
    with httpx.stream(
        "GET", live_server.url + "/board/stream", params={"after": max(0, head - 30)}, timeout=10
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        data_lines = []
        for line in response.iter_lines():
            if line.startswith("data:"):
                data_lines.append(line)
            if len(data_lines) >= 5:
                break
    assert data_lines
    for line in data_lines:
        assert '"case_no"' in line and '"stage"' in line
        for hidden in ("case_id", "actor", "staff", "applicant", "occurred_at"):
            assert hidden not in line


def _all_cases(api: httpx.Client, status: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"status": status, "limit": 500}
        if cursor:
            params["cursor"] = cursor
        page = api.get("/cases", params=params).json()
        out += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return out


def test_board_clocks_agree_with_the_case_list(live_server: LiveServer) -> None:
    # The board folds the log itself; the case list reads the compliance projection.
    live_server.wait_for_projections()
    board = httpx.get(live_server.url + "/board/cases").json()
    with live_server.client("inspector") as api:
        cases = [c for s in ("pending", "in_progress", "suspended") for c in _all_cases(api, s)]
    listed = {c["case_no"]: c for c in cases}
    assert {r["case_no"] for r in board["rows"]} == set(listed)
    compared = 0
    for row in board["rows"]:
        if row["paused"]:
            continue  # the projection keeps the due date from the day the pause began
        deadline = listed[row["case_no"]]["deadline"]
        assert (row["due"], row["remaining"], row["warning"]) == (
            deadline["due"],
            deadline["remaining_days"],
            deadline["warning"],
        ), row["case_no"]
        compared += 1
    assert compared > 5
