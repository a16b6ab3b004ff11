"""The year summary (年度工作总结, issue 17 item 6): the monthly 通报's figures over the
calendar year, worked out by hand for the small history of ``test_monthly_report``, on
both backends; its PDF title, its XLSX, the CLI and the route.

2025 over that history (see ``test_monthly_report``'s docstring): two decisions (9 Oct
approve at W01, 20 Oct deny at G01, green channel, promised due 14 Oct: late); two
evaluations (1 on 11 Oct, 5 on 31 Oct); two follow-ups (satisfied 20 Oct, unsatisfied
3 Nov); case 3 overdue on 31 December; two enquiries received (30 Sep, 20 Oct), one late.
Flags raised in 2025: S01 case 2 (G01), S13 case 2 (差评 of Fri 31 Oct not handled within
5 working days: due Fri 7 Nov, raised 8 Nov, G01), S01 and S02 case 3 and S16 (W01).
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from casestore.projections.engine.db import ViewDB
from casestore.projections.reports.build import monthly_report
from casestore.projections.reports.monthly import Month, MonthlyReport, Year
from casestore.projections.reports.render import report_xlsx
from casestore.projections.runtime.worker import rebuild_as_of

from casestore.domain import InvalidCommand
from casestore.service import CaseService
from casestore.store.application import CasestoreApp
from tests.integration.test_monthly_report import CASES, ENQUIRIES
from tests.property.test_report_direct_count import write

YEAR_2025: dict[str, Any] = {
    "completed": 2,
    "evaluated_completed": 2,
    "participation_rate": 1.0,
    "evaluations": 2,
    "good": 1,
    "good_rate": 0.5,
    "bad_reviews": 1,
    "follow_ups": 2,
    "follow_ups_satisfied": 1,
    "follow_up_satisfaction_rate": 0.5,
    "decided_since_seal": 2,
    "on_time_promised_since_seal": 1,
    "on_time_statutory_since_seal": 2,
    "green_channel_decided": 1,
    "green_channel_on_time": 0,
    "overdue_by_window": 1,
    "flags_by_window": 5,
    "enquiries_received": 2,
    "enquiries_late": 1,
    "awards": 0,
}
AFTER = datetime.fromisoformat("2026-01-05T09:00+08:00")


def build(url: str, period: Month | Year) -> MonthlyReport:
    app, views = CasestoreApp(url), ViewDB(url)
    try:
        return monthly_report(
            CaseService(app), partial(rebuild_as_of, app), views, period, now=AFTER
        )
    finally:
        views.close()
        app.close()


@pytest.fixture
def summary(store_url: str) -> MonthlyReport:
    write(store_url, CASES, ENQUIRIES)
    return build(store_url, Year(2025))


def test_2025_figures_by_hand(summary: MonthlyReport) -> None:
    assert {f.key: f.value for f in summary.figures} == YEAR_2025
    assert dict(summary.figure("flags_by_window").breakdown) == {"G01": 2, "W01": 3}
    assert dict(summary.figure("overdue_by_window").breakdown) == {"W01": 1}
    labels = {f.key: f.label for f in summary.figures}
    assert labels["evaluations"] == "本年评价数"
    assert labels["overdue_by_window"] == "年末超期在办件(按窗口)"
    position = summary.position
    assert summary.figure("good_rate").command == (
        f"casestore report year --year 2025 --at-position {position} --figure good_rate"
    )
    body = summary.to_dict()
    assert body["year"] == "2025" and body["title"] == "2025年政务服务工作总结"


def test_a_year_with_nothing_in_it_counts_nothing(store_url: str) -> None:
    write(store_url, CASES, ENQUIRIES)
    empty = build(store_url, Year(2026))
    assert empty.figure("completed").value == 0
    assert empty.figure("participation_rate").value is None
    assert empty.figure("decided_since_seal").value == 2  # the seal's count runs on


@pytest.mark.parametrize("bad", ["25", "1989", "2100", "2025-10", "２０２５", " 2025"])
def test_a_bad_year_is_refused(bad: str) -> None:
    with pytest.raises(InvalidCommand):
        Year.parse(bad)


def test_xlsx_title_and_figures(summary: MonthlyReport, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    path = tmp_path / "2025.xlsx"
    path.write_bytes(report_xlsx(summary))
    book = load_workbook(path)
    assert book["通报"]["A1"].value == "行政审批服务局 2025年政务服务工作总结"
    rows = list(book["通报"].iter_rows(min_row=4, values_only=True))
    assert {r[0]: r[2] for r in rows} == YEAR_2025


def test_the_cli_writes_the_summary_and_recomputes_a_figure(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    write(url, CASES, ENQUIRIES)
    cli = [str(Path(sys.executable).parent / "casestore")]
    out = tmp_path / "2025.json"
    done = subprocess.run(
        [*cli, "report", "year", "--year", "2025", "-o", str(out), "--db", url],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    written = json.loads(out.read_text("utf-8"))
    assert {f["key"]: f["value"] for f in written["figures"]} == YEAR_2025
    figure = subprocess.run(
        [
            *cli,
            "report",
            "year",
            "--year",
            "2025",
            "--at-position",
            str(written["position"]),
            "--figure",
            "follow_up_satisfaction_rate",
            "--db",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert figure.returncode == 0, figure.stderr
    assert figure.stdout.split("\t")[:2] == ["follow_up_satisfaction_rate", "0.5"]
    bad = subprocess.run(
        [*cli, "report", "year", "--year", "25", "--db", url],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2


def test_the_year_summary_over_http(tmp_path: Path) -> None:
    from datetime import UTC

    from tests.api.support import make_api

    api = make_api(tmp_path / "api.db", workers=True)
    try:
        api.clock.now = datetime(2025, 10, 20, 2, 0, tzinfo=UTC)
        api.post("/enquiries", "clerk", json={"kind": "request", "topic": "用地"})
        r = api.get("/reports/year?year=2025", "inspector")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["year"] == "2025" and body["title"] == "2025年政务服务工作总结"
        received = next(f for f in body["figures"] if f["key"] == "enquiries_received")
        assert received["value"] == 1 and received["position"] == api.head()
        pdf = api.get("/reports/year?year=2025&format=pdf", "inspector")
        assert pdf.headers["content-type"] == "application/pdf" and pdf.content[:5] == b"%PDF-"
        assert 'filename="report-2025.pdf"' in pdf.headers["content-disposition"]
        assert api.get("/reports/year?year=1989", "inspector").status_code == 422
        assert api.get("/reports/year?year=2025-10", "inspector").status_code == 422
        assert api.get("/reports/year?year=2025", None).status_code == 401
    finally:
        api.close()


def test_a_running_year_judges_overdue_cases_today_not_on_31_december(store_url: str) -> None:
    # One more XK-007 case accepted Mon 10 Nov: promised due Thu 13 Nov (3 working days),
    # statutory due Wed 19 Nov (7). On Wed 12 Nov it is not overdue; on 31 Dec it would be.
    later = {**CASES[2], "days": [6, 6, 6, 6]}
    write(store_url, [*CASES, later], ENQUIRIES)
    app, views = CasestoreApp(store_url), ViewDB(store_url)
    try:
        running = monthly_report(
            CaseService(app),
            partial(rebuild_as_of, app),
            views,
            Year(2025),
            now=datetime.fromisoformat("2025-11-12T12:00+08:00"),
        )
    finally:
        views.close()
        app.close()
    assert dict(running.figure("overdue_by_window").breakdown) == {"W01": 1}  # case 3 only
    assert build(store_url, Year(2025)).figure("overdue_by_window").value == 2
