"""The dashboard's windows and enquiries panel (issue 17 items 1, 2, 8): window types,
党员示范岗, enquiries by window and who leads the hall, now and as of a past day, against
the simulated history (the simulator registers ten windows and keeps the rota)."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from .conftest import LiveServer, token
from .dashboard_steps import kpi, open_dashboard, wait_loaded

pytestmark = pytest.mark.browser


def test_windows_and_enquiries_panel_matches_the_api(page: Any, live_server: LiveServer) -> None:
    open_dashboard(page, live_server, token("inspector"))
    rows = page.locator("#windows-table tbody tr")
    expect(rows).to_have_count(10)  # six 综合受理 windows, G01, L01, V01, P01
    leader = page.locator('#windows-table tr[data-window="L01"] td')
    expect(leader.nth(2)).to_have_text("领导带班窗口")
    expect(page.locator('#windows-table tr[data-window="G01"] td').nth(2)).to_have_text(
        "招商引资绿色通道"
    )
    expect(page.locator('#windows-table tr[data-window="W01"] td').nth(3)).to_contain_text(
        "党员示范岗 · "
    )
    with live_server.client("inspector") as api:
        summary = api.get("/enquiries/summary", params={"by_window": "true"}).json()
    received = sum(g["received"] for g in summary["groups"])
    assert received > 0
    assert kpi(page, "enquiries") == str(received)
    assert kpi(page, "enquiries-late") == str(sum(g["late"] for g in summary["groups"]))
    w01 = next(g for g in summary["groups"] if g["key"] == "W01")
    cells = page.locator('#windows-table tr[data-window="W01"] td')
    expect(cells.nth(4)).to_have_text(str(w01["received"]))
    assert re.search(r"(带班领导：.+（L01）|无带班安排)$", page.locator("#duty-today").inner_text())


def test_the_leader_on_duty_as_of_a_past_day(page: Any, live_server: LiveServer) -> None:
    with live_server.client("inspector") as api:
        end = date.today() - timedelta(days=1)
        rota = api.get(
            "/windows/rota",
            params={"since": (end - timedelta(days=10)).isoformat(), "until": end.isoformat()},
        ).json()["rota"]
    day = max(r["day"] for r in rota if r["window_code"] == "L01")
    leader = next(r["staff_name"] for r in rota if r["day"] == day and r["window_code"] == "L01")
    open_dashboard(page, live_server, token("inspector"))
    loaded = int(page.evaluate("document.body.dataset.loaded"))
    page.fill("#as-of-date", day)
    page.click("#as-of-apply")
    wait_loaded(page, loaded)
    expect(page.locator("#duty-today")).to_have_text(f"{day} 带班领导：{leader}（L01）")
