"""Dashboard exports (issue 17 item 6): ``GET /exports/overdue``, ``/exports/flags`` and
``/exports/ranking`` as CSV (default) or XLSX, the same rows as ``/compliance/overdue``,
``/supervision/flags`` and the ranking of ``/evaluations/summary``, with the same roles,
``today`` and ``target`` (an as-of view)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from starlette.concurrency import run_in_threadpool

from ..deps import ApiState, StaffDep, StateDep, SupervisionDep
from ..export_tables import MEDIA, TITLES, flag_row, to_csv, to_xlsx
from .cases import Target
from .reports import Today

router = APIRouter(prefix="/exports", tags=["reports"])
Format = Literal["csv", "xlsx"]
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {m.split(";")[0]: {} for m in MEDIA.values()}},
    401: {"description": "no valid bearer token"},
    403: {"description": "the caller's role may not read this"},
    404: {"description": "no such view target (as-of views are built on demand)"},
    422: {"description": "a parameter is out of range"},
    503: {"description": "the projection behind this view has not been built yet"},
}


def _file(kind: str, fmt: str, rows: list[dict[str, Any]], day: date, target: str) -> Response:
    about = {"导出": TITLES[kind], "日期": day.isoformat(), "视图": target or "实时"}
    body = to_csv(kind, rows) if fmt == "csv" else to_xlsx(kind, rows, about)
    name = f"{kind}-{day.isoformat()}.{fmt}"
    return Response(
        body,
        media_type=MEDIA[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}"', "X-Rows": str(len(rows))},
    )


@router.get("/overdue", responses=_RESPONSES, summary="Export: cases past a running deadline")
async def export_overdue(
    actor: StaffDep,
    state: StateDep,
    format: Format = "csv",
    today: Today = None,
    target: Target = "",
) -> Response:
    """超期在办件: running clocks past their due date on ``today``."""
    day = today or state.today()

    def build() -> Response:
        rows = state.read.compliance(target).overdue(day, limit=10_000)
        return _file("overdue", format, rows, day, target)

    result: Response = await run_in_threadpool(build)
    return result


@router.get("/flags", responses=_RESPONSES, summary="Export: supervision flags")
async def export_flags(
    actor: SupervisionDep,
    state: StateDep,
    format: Format = "csv",
    rule: Annotated[str | None, Query(pattern=r"^S\d{2}$")] = None,
    open_only: Annotated[bool, Query(alias="open")] = False,
    today: Today = None,
    target: Target = "",
) -> Response:
    """监管预警 with Chinese rule names, the case number and window (S16 included)."""
    day = today or state.today()

    def build() -> Response:
        rows = _flags(state, rule, open_only, day, target)
        return _file("flags", format, rows, day, target)

    result: Response = await run_in_threadpool(build)
    return result


def _flags(
    state: ApiState, rule: str | None, open_only: bool, day: date, target: str
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    if rule != "S16":
        rows = state.read.supervision(target).flags(rule, None, open_only, today=day, limit=10_000)
    if rule in (None, "S16"):
        rows += state.read.enquiries(target).flags(today=day, open_only=open_only)
    ids = {str(r["case_id"]) for r in rows if r.get("case_id")}
    case_nos: dict[str, str] = {}
    windows: dict[str, str] = {}
    if ids:
        compliance = state.read.compliance(target)
        for r in compliance.rows("SELECT case_id, case_no, service_window FROM {compliance_cases}"):
            if r["case_id"] in ids:
                case_nos[r["case_id"]] = r["case_no"] or ""
                windows[r["case_id"]] = r["service_window"] or ""
    out = []
    for r in sorted(rows, key=lambda f: str(f["raised_at"])):
        row = flag_row(r, case_nos)
        if not row["window"] and r.get("case_id"):
            row["window"] = windows.get(str(r["case_id"]), "")
        out.append(row)
    return out


@router.get("/ranking", responses=_RESPONSES, summary="Export: the 红旗窗口 ranking")
async def export_ranking(
    actor: StaffDep,
    state: StateDep,
    format: Format = "csv",
    min_evaluations: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    today: Today = None,
    target: Target = "",
) -> Response:
    """Windows ranked by good rate, then participation, then bad reviews handled late."""
    day = today or state.today()

    def build() -> Response:
        view = state.read.evaluation(target)
        rows = view.window_ranking(min_evaluations=min_evaluations, today=day)
        return _file("ranking", format, rows, day, target)

    result: Response = await run_in_threadpool(build)
    return result
