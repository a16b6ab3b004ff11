"""Downloading a report from the dashboard in headless Chromium (issue 17, browser tests:
"downloading a report"): the 报表 panel fetches ``/reports/monthly`` with the staff token,
as the CSV/XLSX export buttons do, and saves the PDF and the XLSX."""

from __future__ import annotations

import io
import shutil
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from .conftest import LiveServer, token
from .dashboard_steps import open_dashboard

pytestmark = pytest.mark.browser
REPORT_WAIT_MS = 180_000  # the first request for a month rebuilds the views as of its end


def _last_finished_month() -> str:
    """The month before the current one in the page's time zone (Asia/Shanghai)."""
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    year, month = (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
    return f"{year:04d}-{month:02d}"


def _download(page: Any, selector: str, tmp_path: Path) -> tuple[str, bytes]:
    with page.expect_download(timeout=REPORT_WAIT_MS) as info:
        page.click(selector)
    download = info.value
    path = tmp_path / download.suggested_filename
    download.save_as(str(path))
    return download.suggested_filename, path.read_bytes()


def test_the_monthly_report_downloads_as_pdf_and_xlsx(
    page: Any, live_server: LiveServer, tmp_path: Path
) -> None:
    from openpyxl import load_workbook
    from playwright.sync_api import expect

    open_dashboard(page, live_server, token("inspector"))
    month = _last_finished_month()
    assert page.input_value("#report-month") == month  # the last finished month by default

    name, body = _download(page, 'button[data-report="monthly"][data-format="pdf"]', tmp_path)
    assert name == f"report-{month}.pdf"
    assert body.startswith(b"%PDF")
    expect(page.locator("#report-status")).to_have_text(f"已下载 {name}")
    name, body = _download(page, 'button[data-report="monthly"][data-format="xlsx"]', tmp_path)
    assert name == f"report-{month}.xlsx"
    book = load_workbook(io.BytesIO(body))
    labels = [row[1] for row in book["通报"].iter_rows(min_row=4, values_only=True)]
    assert "参评率" in labels
    expect(page.locator("#report-status")).to_have_text(f"已下载 {name}")

    if shutil.which("pdftotext") is None:
        pytest.skip("poppler-utils (pdftotext) not installed: scripts/system-deps.sh")
    text = subprocess.run(
        ["pdftotext", "-layout", str(tmp_path / f"report-{month}.pdf"), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "政务服务工作通报" in text
    assert "参评率" in text


def test_the_year_summary_of_the_chosen_month_downloads_as_xlsx(
    page: Any, live_server: LiveServer, tmp_path: Path
) -> None:
    from openpyxl import load_workbook

    open_dashboard(page, live_server, token("clerk"))
    year = _last_finished_month()[:4]
    name, body = _download(page, 'button[data-report="year"][data-format="xlsx"]', tmp_path)
    assert name == f"report-{year}.xlsx"
    sheet = load_workbook(io.BytesIO(body))["通报"]
    assert year in str(next(sheet.iter_rows(values_only=True))[0])  # "… 2026年…"
    labels = [row[1] for row in sheet.iter_rows(min_row=4, values_only=True)]
    assert "参评率" in labels


def test_a_report_without_a_month_is_not_requested(page: Any, live_server: LiveServer) -> None:
    from playwright.sync_api import expect

    open_dashboard(page, live_server, token("clerk"))
    page.fill("#report-month", "")
    page.click('button[data-report="monthly"][data-format="pdf"]')
    expect(page.locator("#report-status")).to_have_text("请先选择月份（YYYY-MM）")
