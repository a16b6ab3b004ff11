"""``GET /reports/monthly?month=YYYY-MM``: the monthly 通报 as JSON, PDF or XLSX;
``GET /reports/year?year=YYYY``: the year summary (年度工作总结), the same figures over a
calendar year."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from casestore.projections.reports.build import monthly_report
from casestore.projections.reports.commands import render
from casestore.projections.reports.monthly import Month, Period, Year
from fastapi import APIRouter, Query, Response
from starlette.concurrency import run_in_threadpool

from ..deps import ApiState, StaffDep, StateDep

router = APIRouter(tags=["reports"])
MEDIA = {
    "json": "application/json",
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@router.get(
    "/reports/monthly",
    responses={
        200: {"content": {m: {} for m in MEDIA.values()}},
        401: {"description": "no valid bearer token"},
        403: {"description": "the caller's role may not read reports"},
        422: {"description": "month is not YYYY-MM or the position is out of range"},
    },
    summary="The monthly 通报 (figures with their log position and reproducing command)",
)
async def monthly(
    actor: StaffDep,
    state: StateDep,
    month: Annotated[str, Query(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM")],
    format: Literal["json", "pdf", "xlsx"] = "json",
    at_position: Annotated[
        int | None, Query(ge=0, le=2**62, description="recompute at this log position")
    ] = None,
) -> Response:
    """Computed from the views rebuilt as the log stood when the month ended (or at
    ``at_position``); the first request for a month builds them, later ones reuse them."""
    return await _report(state, Month.parse(month), format, at_position)


@router.get(
    "/reports/year",
    responses={
        200: {"content": {m: {} for m in MEDIA.values()}},
        401: {"description": "no valid bearer token"},
        403: {"description": "the caller's role may not read reports"},
        422: {"description": "year is not YYYY (1990..2099) or the position is out of range"},
    },
    summary="The year summary (年度工作总结): figures with their log position and command",
)
async def year(
    actor: StaffDep,
    state: StateDep,
    year: Annotated[str, Query(pattern=r"^\d{4}$", description="YYYY")],
    format: Literal["json", "pdf", "xlsx"] = "json",
    at_position: Annotated[
        int | None, Query(ge=0, le=2**62, description="recompute at this log position")
    ] = None,
) -> Response:
    """Computed from the views rebuilt as the log stood when the year ended (or at
    ``at_position``); the first request for a year builds them, later ones reuse them."""
    return await _report(state, Year.parse(year), format, at_position)


async def _report(
    state: ApiState, parsed: Period, format: str, at_position: int | None
) -> Response:
    def build() -> bytes:
        report = monthly_report(
            state.service,
            state.wiring.rebuild_as_of,
            state.read.db,
            parsed,
            at_position=at_position,
            calendar=state.read.calendar,
            config=state.read.config,
        )
        return render(report, f".{format}")

    body: bytes = await run_in_threadpool(build)
    headers: dict[str, Any] = {}
    if format != "json":
        headers["Content-Disposition"] = f'attachment; filename="report-{parsed}.{format}"'
    return Response(body, media_type=MEDIA[format], headers=headers)
