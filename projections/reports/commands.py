"""``casestore report monthly`` / ``report year``: build a month's report or a year's
summary and write it (PDF, XLSX, JSON). Both verbs take one path, :func:`run_report`,
with the period (a :class:`~.monthly.Month` or a :class:`~.monthly.Year`) parsed by the
CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from casestore.domain import InvalidCommand
from casestore.timelimits import ClockConfig, WorkingCalendar

from ..engine.db import ViewDB
from .build import LogHead, Rebuild, monthly_report
from .monthly import MonthlyReport, Period
from .render import report_pdf, report_xlsx

FORMATS = (".pdf", ".xlsx", ".json")


def render(report: MonthlyReport, suffix: str) -> bytes:
    """The report in the format a file suffix (or ``?format=``) names."""
    if suffix == ".pdf":
        return report_pdf(report)
    if suffix == ".xlsx":
        return report_xlsx(report)
    if suffix == ".json":
        return orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2)
    raise InvalidCommand(f"the output must end in one of {', '.join(FORMATS)}, got {suffix!r}")


def run_report(
    log: LogHead,
    rebuild: Rebuild,
    db_url: str,
    month: Period,
    output: Path | None,
    at_position: int | None,
    figure: str | None,
    *,
    calendar: WorkingCalendar | None = None,
    config: ClockConfig | None = None,
) -> list[str]:
    """Build the report of ``month`` (a month or a year); write ``output``; lines to print."""
    if output is not None and output.suffix.lower() not in FORMATS:
        raise InvalidCommand(f"-o must end in one of {', '.join(FORMATS)}, got {output.name!r}")
    views = ViewDB(db_url)
    try:
        report = monthly_report(
            log, rebuild, views, month, at_position=at_position, calendar=calendar, config=config
        )
    finally:
        views.close()
    if figure is not None:
        f = report.figure(figure)
        lines = [f"{f.key}\t{f.value}\tposition {f.position}\t{f.label}"]
        lines += [f"  {k}\t{v}" for k, v in f.breakdown.items()]
        return lines
    if output is not None:
        output.write_bytes(render(report, output.suffix.lower()))
    lines = [f"{month} report at log position {report.position}"]
    for f in report.figures:
        lines.append(f"{f.key:32} {f.text:>10}  {f.label}")
    if output is not None:
        lines.append(f"wrote {output}")
    return lines


def report_json(report: MonthlyReport) -> dict[str, Any]:
    """The JSON body of ``GET /reports/monthly``."""
    return report.to_dict()
