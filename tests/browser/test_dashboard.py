"""The staff dashboard (``/dashboard``) in headless Chromium against a simulated history."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from casestore.domain.values import BUREAU_TZ

from .conftest import LAPTOP, LiveServer, token
from .dashboard_steps import kpi, open_dashboard, sign_in, wait_loaded

pytestmark = pytest.mark.browser

HEX64 = re.compile(r"^[0-9a-f]{64}$")


def test_dashboard_panels_show_what_the_api_reports(
    page: Any, live_server: LiveServer, screenshots: Any
) -> None:
    open_dashboard(page, live_server, token("inspector"))
    with live_server.client("inspector") as api:
        by_item = api.get("/compliance/summary", params={"group_by": "item"}).json()
        by_month = api.get("/compliance/summary", params={"group_by": "month"}).json()
        flags = api.get("/supervision/flags", params={"limit": 10_000}).json()["flags"]
    total = by_item["total"]
    assert total["decided"] > 20
    assert kpi(page, "decided") == str(total["decided"])
    assert kpi(page, "promised") == f"{total['promised_rate'] * 100:.1f}%"
    expect(page.locator("#by-item tbody tr")).to_have_count(len(by_item["groups"]))
    # The monthly chart draws two columns (promised, statutory) per month with decisions.
    months = [g for g in by_month["groups"] if g["key"] and g["decided"]]
    assert len(months) >= 2
    expect(page.locator("#month-chart svg rect")).to_have_count(2 * len(months))
    expect(page.locator("#ranking tbody tr").first).to_contain_text("红旗窗口")
    open_flags = [f for f in flags if f["cleared_at"] is None]
    assert open_flags, "the simulated history has open supervision flags"
    expect(page.locator("#flags button.flag")).to_have_count(len(open_flags))
    expect(page.locator("#status")).to_contain_text("实时数据")
    text = page.locator("main").inner_text()
    assert "时限合规" in text and "好差评" in text and "监管预警" in text
    page.screenshot(path=str(screenshots / "dashboard-1920x1080.png"), full_page=True)

    page.set_viewport_size(LAPTOP)
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= LAPTOP["width"], "horizontal scrollbar on a 1366 px screen"
    page.screenshot(path=str(screenshots / "dashboard-1366x768.png"))


def test_a_flag_opens_its_case_timeline_with_the_evidence_events_and_hashes(
    page: Any, live_server: LiveServer, screenshots: Any
) -> None:
    with live_server.client("inspector") as api:
        flags = api.get("/supervision/flags", params={"limit": 10_000}).json()["flags"]
        flag = next(f for f in flags if f["rule"] == "S06" and f["case_id"])
        timeline = api.get(f"/cases/{flag['case_id']}/timeline").json()
    hashes = {e["position"]: e["event_hash"] for e in timeline}
    assert set(flag["evidence"]) <= set(hashes), "evidence events belong to the case"
    open_dashboard(page, live_server, token("inspector"))
    page.select_option("#flag-rule", "S06")
    page.locator(f'button.flag[data-flag-id="{flag["id"]}"]').click()

    drill = page.locator("#drill")
    expect(drill).to_be_visible()
    evidence = page.locator("#timeline tr.evidence")
    expect(evidence).to_have_count(len(flag["evidence"]))
    expect(page.locator("#timeline tbody tr")).to_have_count(len(timeline))
    for row in evidence.all():
        position = int(row.get_attribute("data-position") or "0")
        assert position in flag["evidence"]
        shown = row.locator("code.hash").first.inner_text()
        assert HEX64.match(shown) and shown == hashes[position]
    expect(page.locator("#chain-status")).to_contain_text("哈希链校验通过")
    expect(page.locator("#drill-summary")).to_contain_text("办件编号")
    page.screenshot(path=str(screenshots / "dashboard-flag-evidence.png"), full_page=True)


def test_as_of_date_shows_every_panel_as_it_stood_then(
    page: Any, live_server: LiveServer, screenshots: Any
) -> None:
    open_dashboard(page, live_server, token("inspector"))
    decided_now = int(kpi(page, "decided"))
    day = (datetime.now(BUREAU_TZ).date() - timedelta(days=30)).isoformat()
    with live_server.client("inspector") as api:
        built = api.post("/dashboard/as-of", params={"day": day})
        assert built.status_code == 200, built.text
        target = built.json()["target"]
        then = api.get(
            "/compliance/summary", params={"group_by": "item", "target": target, "until": day}
        ).json()
        evaluations_then = api.get(
            "/evaluations/summary", params={"target": target, "today": day}
        ).json()
        flags_then = api.get(
            "/supervision/flags", params={"target": target, "today": day, "limit": 10_000}
        ).json()["flags"]
    assert then["total"]["decided"] < decided_now

    loaded = int(page.evaluate("() => Number(document.body.dataset.loaded)"))
    page.fill("#as-of-date", day)
    page.click("#as-of-apply")
    wait_loaded(page, loaded)
    expect(page.locator("#status")).to_contain_text(f"历史时点：{day}")
    assert int(kpi(page, "decided")) == then["total"]["decided"]
    assert kpi(page, "evaluated") == str(evaluations_then["summary"]["evaluated"])
    open_then = [f for f in flags_then if f["cleared_at"] is None]
    expect(page.locator("#flags button.flag")).to_have_count(len(open_then))
    page.screenshot(path=str(screenshots / "dashboard-as-of.png"), full_page=True)

    loaded = int(page.evaluate("() => Number(document.body.dataset.loaded)"))
    page.click("#as-of-now")
    wait_loaded(page, loaded)
    assert int(kpi(page, "decided")) == decided_now
    expect(page.locator("#status")).to_contain_text("实时数据")


def test_a_token_in_the_address_is_never_used_or_stored(page: Any, live_server: LiveServer) -> None:
    bearer = token("inspector")
    page.goto(f"{live_server.url}/dashboard?token={bearer}")
    assert "token" not in page.url
    expect(page.locator("#token")).to_be_visible()  # still signed out
    assert (
        page.evaluate("() => JSON.stringify(sessionStorage) + JSON.stringify(localStorage)")
        == "{}{}"
    )
    sign_in(page, bearer)
    expect(page.locator("#who")).to_contain_text("inspector-t1")
    assert page.evaluate("() => JSON.stringify(sessionStorage)") == "{}"  # memory only
    page.click("#logout")
    expect(page.locator("#token")).to_be_visible()


def test_a_bad_token_or_a_role_without_rights_gets_a_clear_message(
    page: Any, live_server: LiveServer
) -> None:
    page.goto(live_server.url + "/dashboard")
    page.fill("#token", "not-a-token")
    page.click("#login")
    wait_loaded(page)
    expect(page.locator("#status")).to_contain_text("令牌无效或已过期")

    page.click("#logout")
    expect(page.locator("#token")).to_be_visible()
    sign_in(page, token("clerk", window="W01"))
    expect(page.locator("#flags")).to_contain_text("当前角色无权查看")


def test_as_of_views_are_for_staff_and_past_days_only(live_server: LiveServer) -> None:
    today = datetime.now(BUREAU_TZ).date()
    anonymous = httpx.post(live_server.url + "/dashboard/as-of", params={"day": "2026-01-01"})
    assert anonymous.status_code == 401
    with live_server.client("inspector") as api:
        for day in (today, today + timedelta(days=3), date(1999, 12, 31)):
            refused = api.post("/dashboard/as-of", params={"day": day.isoformat()})
            assert refused.status_code == 422, refused.text
            assert refused.headers["content-type"].startswith("application/problem+json")
        bad = api.post("/dashboard/as-of", params={"day": "yesterday"})
        assert bad.status_code == 422
        # A finished day is built once and then reused.
        past = (today - timedelta(days=10)).isoformat()
        first = api.post("/dashboard/as-of", params={"day": past}).json()
        again = api.post("/dashboard/as-of", params={"day": past}).json()
    assert first["target"] == again["target"] == "asof_" + past.replace("-", "")
    assert again["built"] == []
