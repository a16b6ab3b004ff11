"""The live dashboard (issue 17 item 8): after a command, the panels update from the
stream without a reload of the page; a past "as of" day stays as it was."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from .conftest import LiveServer, token
from .dashboard_steps import kpi, open_dashboard

pytestmark = pytest.mark.browser

APPLICANT = {
    "name": "欧阳实时",
    "id_type": "resident_id",
    "id_number": "110101198909090033",
    "phone": "13912341111",
}


def _rated_case(server: LiveServer) -> None:
    """A new XK-001 (即办件) case accepted, approved and rated 1 (非常满意)."""
    with server.client("clerk", window="W01") as clerk, server.client("approver") as approver:
        r = clerk.post("/cases", json={"item_code": "XK-001", "applicant": APPLICANT})
        assert r.status_code == 201, r.text
        case_id = r.json()["case_id"]
        assert clerk.post(f"/cases/{case_id}/accept", json={}).status_code == 200
        decided = approver.post(f"/cases/{case_id}/decide", json={"outcome": "approve"})
        assert decided.status_code == 200, decided.text
        rated = clerk.post(f"/cases/{case_id}/evaluate", json={"level": 1, "channel": "window"})
        assert rated.status_code == 200, rated.text


def test_a_command_updates_the_panels_without_reloading(
    page: Any, live_server: LiveServer, screenshots: Any
) -> None:
    open_dashboard(page, live_server, token("inspector"))
    expect(page.locator("#live")).to_have_attribute("data-state", "open")
    expect(page.locator("#live-text")).to_have_text("实时更新中")
    evaluated = int(kpi(page, "evaluated"))
    decided = int(kpi(page, "decided"))
    page.evaluate("window.__sameDocument = true")

    _rated_case(live_server)

    expect(page.locator('[data-kpi="evaluated"] .n')).to_have_text(
        str(evaluated + 1), timeout=30_000
    )
    expect(page.locator('[data-kpi="decided"] .n')).to_have_text(str(decided + 1))
    assert page.evaluate("window.__sameDocument") is True  # no navigation, no reload
    assert int(page.evaluate("document.body.dataset.liveReloads")) >= 1
    page.screenshot(path=str(screenshots / "dashboard-live.png"))
