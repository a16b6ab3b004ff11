"""The October 2025 通报 of a small history, figures worked out by hand, on both backends;
its PDF (rendered to PNG, Chinese text present), its XLSX, and the CLI that users run.

History (days around the 2025 National Day holiday, 1–8 October off, 11 October worked):
case 1 XK-001 (instant) at W01: accepted and approved 9 Oct, rated 1 on 11 Oct, follow-up
satisfied 20 Oct; case 2 XK-011 (promised 5, statutory 20) green channel at G01: accepted
30 Sep, denied 20 Oct (promised due 14 Oct: late; statutory due 28 Oct: on time), rated 5
on 31 Oct, follow-up unsatisfied 3 Nov; case 3 XK-007 (promised 3, statutory 7) at W01:
accepted 20 Oct, never decided (due 23 and 29 Oct: overdue at month end). Enquiries at
W01: one received 30 Sep never answered (due 14 Oct, S16 raised 15 Oct), one received and
answered 20 Oct.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from casestore.projections.engine.db import ViewDB
from casestore.projections.reports.build import monthly_report
from casestore.projections.reports.monthly import Month, MonthlyReport
from casestore.projections.reports.render import report_pdf, report_xlsx
from casestore.projections.runtime.worker import rebuild_as_of

from casestore.service import CaseService
from casestore.store.application import CasestoreApp
from tests.property.test_report_direct_count import write

OCTOBER = Month(2025, 10)
CASES = [
    {
        "item": "XK-001",
        "window": "W01",
        "priority": False,
        "days": [1, 1, 2, 3],
        "steps": 4,
        "outcome": "approve",
        "level": 1,
        "satisfied": True,
    },
    {
        "item": "XK-011",
        "window": "G01",
        "priority": True,
        "days": [0, 3, 4, 5],
        "steps": 4,
        "outcome": "deny",
        "level": 5,
        "satisfied": False,
    },
    {
        "item": "XK-007",
        "window": "W01",
        "priority": False,
        "days": [3, 3, 3, 3],
        "steps": 1,
        "outcome": "approve",
        "level": 1,
        "satisfied": True,
    },
]
ENQUIRIES = [(0, None), (3, 3)]
EXPECTED: dict[str, Any] = {
    "completed": 2,
    "evaluated_completed": 2,
    "participation_rate": 1.0,
    "evaluations": 2,
    "good": 1,
    "good_rate": 0.5,
    "bad_reviews": 1,
    "follow_ups": 1,
    "follow_ups_satisfied": 1,
    "follow_up_satisfaction_rate": 1.0,
    "decided_since_seal": 2,
    "on_time_promised_since_seal": 1,
    "on_time_statutory_since_seal": 2,
    "green_channel_decided": 1,
    "green_channel_on_time": 0,
    "overdue_by_window": 1,
    "flags_by_window": 4,
    "enquiries_received": 1,
    "enquiries_late": 1,
    "awards": 0,
}
NOW = datetime.fromisoformat("2025-12-01T00:00+08:00")
#: Where the rendered PDF and its page images go (as the browser screenshots do).
REPORT_PAGES = Path(__file__).resolve().parents[2] / "test-output" / "report-pages"


def build(url: str, at_position: int | None = None) -> MonthlyReport:
    app, views = CasestoreApp(url), ViewDB(url)
    try:
        return monthly_report(
            CaseService(app),
            partial(rebuild_as_of, app),
            views,
            OCTOBER,
            at_position=at_position,
            now=NOW,
        )
    finally:
        views.close()
        app.close()


@pytest.fixture
def report(store_url: str) -> MonthlyReport:
    write(store_url, CASES, ENQUIRIES)
    return build(store_url)


def test_october_figures_by_hand(report: MonthlyReport) -> None:
    assert {f.key: f.value for f in report.figures} == EXPECTED
    assert dict(report.figure("overdue_by_window").breakdown) == {"W01": 1}
    # S01 case 2 (G01); S01 and S02 case 3 and S16 of the unanswered enquiry (W01)
    assert dict(report.figure("flags_by_window").breakdown) == {"G01": 1, "W01": 3}


def test_the_report_is_frozen_at_its_position_and_reproducible(
    store_url: str, report: MonthlyReport
) -> None:
    again = build(store_url, at_position=report.position)
    assert [f.to_dict() for f in again.figures] == [f.to_dict() for f in report.figures]
    earlier = build(store_url, at_position=report.position - 3)
    assert earlier.position == report.position - 3


def _pages_dir(request: pytest.FixtureRequest) -> Path:
    """``test-output/report-pages/<backend>/`` (gitignored; CI keeps test-output/): the
    rendered pages stay for a person to look at, one folder per backend, emptied first."""
    name = request.node.name
    backend = name[name.index("[") + 1 : -1] if "[" in name else "default"
    out = REPORT_PAGES / backend
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    return out


def test_pdf_pages_render_with_chinese_text(
    report: MonthlyReport, request: pytest.FixtureRequest
) -> None:
    if shutil.which("pdftoppm") is None or shutil.which("pdftotext") is None:
        pytest.skip("poppler-utils (pdftoppm, pdftotext) not installed: scripts/system-deps.sh")
    out = _pages_dir(request)
    pdf = out / "report-2025-10.pdf"
    pdf.write_bytes(report_pdf(report))
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    for label in (
        "政务服务工作通报",
        "参评率",
        "好评率",
        "回访满意率",
        "一枚印章管审批以来办结事项",
    ):
        assert label in text
    assert "100.0%" in text and "50.0%" in text  # participation, good rate
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True).stdout
    assert "CJK" in fonts and " yes " in fonts  # the CJK font is embedded
    subprocess.run(["pdftoppm", "-r", "60", "-png", str(pdf), str(out / "page")], check=True)
    pages = sorted(out.glob("page*.png"))
    assert len(pages) >= 2
    from PIL import Image

    with Image.open(pages[0]) as image:
        grey = image.convert("L")
        inked = sum(grey.histogram()[:128])
    assert inked > 2000  # glyphs drawn, not an empty page


def test_xlsx_opens_with_its_figures(report: MonthlyReport, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    path = tmp_path / "report.xlsx"
    path.write_bytes(report_xlsx(report))
    book = load_workbook(path)
    rows = list(book["通报"].iter_rows(min_row=4, values_only=True))
    assert {r[0]: r[2] for r in rows} == EXPECTED
    assert all(r[4] == report.position for r in rows)
    by_window = {(r[0], r[2]): r[3] for r in book["按窗口"].iter_rows(min_row=2, values_only=True)}
    assert by_window[("flags_by_window", "W01")] == 3


def test_the_cli_writes_the_report_and_recomputes_a_figure(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    write(url, CASES, ENQUIRIES)
    cli = [str(Path(sys.executable).parent / "casestore")]
    out = tmp_path / "oct.xlsx"
    done = subprocess.run(
        [*cli, "report", "monthly", "--month", "2025-10", "-o", str(out), "--db", url],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert out.stat().st_size > 0 and "participation_rate" in done.stdout
    position = int(done.stdout.split("log position ")[1].split()[0])
    figure = subprocess.run(
        [
            *cli,
            "report",
            "monthly",
            "--month",
            "2025-10",
            "--at-position",
            str(position),
            "--figure",
            "good_rate",
            "--db",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert figure.returncode == 0, figure.stderr
    assert figure.stdout.split("\t")[:3] == ["good_rate", "0.5", f"position {position}"]
    bad = subprocess.run(
        [*cli, "report", "monthly", "--month", "2025-13", "--db", url],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2 and "YYYY-MM" in bad.stderr
