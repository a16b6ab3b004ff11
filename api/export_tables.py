"""Dashboard exports as CSV or XLSX: the overdue list, the supervision flags and the
红旗窗口 ranking, with Chinese column headers (the key beside each, for machines).

CSV is UTF-8 with a byte-order mark (so spreadsheet programs in zh-CN open it as UTF-8)
and every cell that a spreadsheet would read as a formula (starting ``=``, ``+``, ``-``,
``@``, tab or carriage return) is prefixed with ``'`` (OWASP CSV injection).
XLSX has the rows on sheet 1 and, on sheet 说明, what was exported and as of when.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any, Final

from casestore.projections.readmodels.supervision.wording import RULE_TITLES_ZH

#: (key, Chinese header) per export.
COLUMNS: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    "overdue": (
        ("case_no", "办件编号"),
        ("item_code", "事项编码"),
        ("window", "窗口"),
        ("staff", "责任人"),
        ("kind", "时限类型"),
        ("due", "到期日"),
        ("overdue_working_days", "超期工作日"),
        ("case_id", "办件ID"),
    ),
    "flags": (
        ("rule", "规则"),
        ("rule_name", "规则说明"),
        ("severity", "严重程度"),
        ("case_no", "办件编号"),
        ("window", "窗口"),
        ("raised_at", "预警时间"),
        ("cleared_at", "解除时间"),
        ("detail", "详情"),
        ("evidence", "证据日志位置"),
        ("flag_id", "预警ID"),
    ),
    "ranking": (
        ("rank", "排名"),
        ("window", "窗口"),
        ("evaluated", "评价数"),
        ("good", "好评数"),
        ("good_rate", "好评率"),
        ("participation_rate", "参评率"),
        ("bad_reviews", "差评数"),
        ("handled_on_time", "差评按时整改"),
        ("unhandled_overdue", "差评超期未整改"),
    ),
}
TITLES: Final = {"overdue": "超期在办件", "flags": "监管预警", "ranking": "窗口好评率排名"}
#: Supervision rules in Chinese (one home: the flags' wording module; the same words as
#: ``api/static/labels.js``).
RULE_NAMES: Final = RULE_TITLES_ZH
SEVERITIES: Final = {"high": "严重", "medium": "一般"}
MEDIA: Final = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return " ".join(str(v) for v in value)
    return value


def _safe(value: Any) -> str:
    text = "" if value is None else str(_cell(value))
    return "'" + text if text.startswith(_FORMULA) else text


def flag_row(flag: Mapping[str, Any], case_nos: Mapping[str, str]) -> dict[str, Any]:
    """A flag as an export row: Chinese rule and severity, the case number."""
    case_id = flag.get("case_id") or ""
    return {
        **flag,
        "rule_name": RULE_NAMES.get(str(flag.get("rule")), ""),
        "severity": SEVERITIES.get(str(flag.get("severity")), flag.get("severity")),
        "case_no": case_nos.get(case_id, ""),
        "flag_id": flag.get("flag_id") or flag.get("id") or "",
        "window": flag.get("window") or "",
    }


def to_csv(kind: str, rows: Sequence[Mapping[str, Any]]) -> bytes:
    """Header row (Chinese), then one row per record, UTF-8 with a BOM."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    columns = COLUMNS[kind]
    writer.writerow([title for _, title in columns])
    for row in rows:
        writer.writerow([_safe(row.get(key)) for key, _ in columns])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(kind: str, rows: Sequence[Mapping[str, Any]], about: Mapping[str, Any]) -> bytes:
    """Sheet 1: the rows under Chinese headers (keys in row 2); sheet 说明: ``about``."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = TITLES[kind]
    columns = COLUMNS[kind]
    sheet.append([title for _, title in columns])
    sheet.append([key for key, _ in columns])
    for row in rows:
        sheet.append([_safe(row.get(k)) if _text(row.get(k)) else row.get(k) for k, _ in columns])
    notes = book.create_sheet("说明")
    for key, value in about.items():
        notes.append([key, "" if value is None else str(value)])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _text(value: Any) -> bool:
    return not isinstance(value, int | float) or isinstance(value, bool)
