"""Dashboard exports (issue 17 item 6): the overdue list, the flags and the ranking as
CSV and XLSX, the same rows as the JSON views, headers in Chinese.

History (worked by hand): Mon 2025-09-01 09:00 at W01 two XK-007 cases (promised 3,
statutory 7 working days) accepted; case A decided the same day and rated 1 (好评),
case B never decided: promised due Thu 9/4, statutory due Wed 9/10. Today Thu 9/11:
B is 5 working days past its promised date (9/5 9/8 9/9 9/10 9/11) and 1 past its
statutory date; S01 and S02 flagged for B.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from api.export_tables import to_csv  # type: ignore[import-not-found,unused-ignore]
from tests.api.support import Api


@pytest.fixture
def history(api_workers: Api) -> tuple[Api, dict[str, str]]:
    api = api_workers
    a = api.submit("XK-007")
    b = api.submit("XK-007")
    for case in (a, b):
        api.command(case["case_id"], "accept", "clerk", {})
    api.command(a["case_id"], "decide", "approver", {"outcome": "approve"})
    api.command(a["case_id"], "evaluate", "clerk", {"level": 1, "channel": "window"})
    api.clock.now = datetime(2025, 9, 11, 2, 0, tzinfo=UTC)
    api.sync()
    return api, {"a": a["case_no"], "b": b["case_no"], "b_id": b["case_id"]}


def _rows(body: bytes) -> list[list[str]]:
    assert body.startswith("\ufeff".encode())  # a BOM: spreadsheets read UTF-8
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def test_overdue_csv_lists_the_late_case(history: tuple[Api, dict[str, str]]) -> None:
    api, cases = history
    r = api.get("/exports/overdue", "inspector", params={"today": "2025-09-11"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert 'filename="overdue-2025-09-11.csv"' in r.headers["content-disposition"]
    rows = _rows(r.content)
    assert rows[0] == [
        "办件编号",
        "事项编码",
        "窗口",
        "责任人",
        "时限类型",
        "到期日",
        "超期工作日",
        "办件ID",
    ]
    got = {(row[0], row[4], row[5], row[6]) for row in rows[1:]}
    assert got == {
        (cases["b"], "promised", "2025-09-04", "5"),
        (cases["b"], "statutory", "2025-09-10", "1"),
    }
    assert r.headers["x-rows"] == "2"


def test_flags_csv_has_chinese_rule_names_and_case_numbers(
    history: tuple[Api, dict[str, str]],
) -> None:
    api, cases = history
    r = api.get("/exports/flags", "inspector", params={"today": "2025-09-11", "open": "true"})
    assert r.status_code == 200, r.text
    rows = _rows(r.content)
    assert rows[0][:5] == ["规则", "规则说明", "严重程度", "办件编号", "窗口"]
    got = {(row[0], row[1], row[2], row[3], row[4]) for row in rows[1:]}
    assert ("S01", "超承诺办结时限", "一般", cases["b"], "W01") in got
    assert ("S02", "超法定办结时限", "严重", cases["b"], "W01") in got
    assert all(row[9] for row in rows[1:])  # every flag keeps its id
    only = _rows(
        api.get(
            "/exports/flags", "inspector", params={"today": "2025-09-11", "rule": "S02"}
        ).content
    )
    assert [row[0] for row in only[1:]] == ["S02"]


def test_ranking_xlsx_opens_with_the_window(history: tuple[Api, dict[str, str]]) -> None:
    from openpyxl import load_workbook

    api, _ = history
    r = api.get("/exports/ranking", "inspector", params={"format": "xlsx", "today": "2025-09-11"})
    assert r.status_code == 200, r.text
    book = load_workbook(io.BytesIO(r.content))
    sheet = book["窗口好评率排名"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:5] == ("排名", "窗口", "评价数", "好评数", "好评率")
    assert rows[2][:5] == (1, "W01", 1, 1, 1.0)
    assert dict(book["说明"].iter_rows(values_only=True))["日期"] == "2025-09-11"


def test_exports_keep_the_views_roles_and_bounds(history: tuple[Api, dict[str, str]]) -> None:
    api, _ = history
    assert api.get("/exports/flags", "clerk").status_code == 403  # flags: supervision roles
    assert api.get("/exports/overdue", None).status_code == 401
    assert api.get("/exports/overdue", "inspector", params={"format": "pdf"}).status_code == 422
    assert api.get("/exports/flags", "inspector", params={"rule": "X1"}).status_code == 422
    assert api.get("/exports/ranking", "inspector", params={"sort": "x"}).status_code == 400
    missing = api.get("/exports/overdue", "inspector", params={"target": "asof_19990101"})
    assert missing.status_code == 404


def test_a_cell_a_spreadsheet_would_run_is_defused() -> None:
    body = to_csv("ranking", [{"rank": 1, "window": '=HYPERLINK("x")', "evaluated": 3}])
    rows = _rows(body)
    assert rows[1][:3] == ["1", '\'=HYPERLINK("x")', "3"]
