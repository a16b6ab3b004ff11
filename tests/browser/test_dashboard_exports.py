"""Dashboard exports in headless Chromium (issue 17 item 6): the flags, overdue and
ranking buttons download the same rows the API serves, with Chinese headers."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest

from .conftest import LiveServer, token
from .dashboard_steps import open_dashboard

pytestmark = pytest.mark.browser


def _download(page: Any, selector: str, tmp_path: Path) -> tuple[str, bytes]:
    with page.expect_download() as info:
        page.click(selector)
    download = info.value
    path = tmp_path / download.suggested_filename
    download.save_as(str(path))
    return download.suggested_filename, path.read_bytes()


def test_flags_and_overdue_download_as_csv_and_ranking_as_xlsx(
    page: Any, live_server: LiveServer, tmp_path: Path
) -> None:
    from openpyxl import load_workbook

    open_dashboard(page, live_server, token("inspector"))
    page.select_option("#flag-state", "all")
    name, body = _download(page, 'button[data-export="flags"][data-format="csv"]', tmp_path)
    assert name.startswith("flags-") and name.endswith(".csv")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][:3] == ["规则", "规则说明", "严重程度"]
    with live_server.client("inspector") as api:
        served = api.get("/supervision/flags", params={"limit": 10000}).json()
    assert len(rows) - 1 == served["count"] > 0  # the simulated history has flags
    assert {r[0] for r in rows[1:]} == {f["rule"] for f in served["flags"]}
    assert page.locator("#export-status").inner_text().startswith("已导出 flags-")

    name, body = _download(page, 'button[data-export="overdue"][data-format="csv"]', tmp_path)
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][0] == "办件编号"
    with live_server.client("inspector") as api:
        overdue = api.get("/compliance/overdue", params={"limit": 10000}).json()
    assert sorted((r[0], r[4]) for r in rows[1:]) == sorted(
        (o["case_no"], o["kind"]) for o in overdue
    )

    name, body = _download(page, 'button[data-export="ranking"][data-format="xlsx"]', tmp_path)
    assert name.endswith(".xlsx")
    sheet = load_workbook(io.BytesIO(body))["窗口好评率排名"]
    header = next(sheet.iter_rows(values_only=True))
    assert header[:2] == ("排名", "窗口")
