"""Management and supervision views: compliance, supervision flags, 好差评, bundles.

All read projections; ``target`` reads a named copy built as of a past moment
(``casestore project rebuild compliance --until 2025-03-01T00:00+08:00 --target mar1``
then ``GET /compliance/overdue?target=mar1&today=2025-03-01``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from casestore.projections.readmodels.evaluation import follow_up_totals
from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from ..bounds import QueryDay
from ..deps import StaffDep, StateDep, SupervisionDep
from .cases import Target

router = APIRouter(tags=["reports"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "no valid bearer token"},
    403: {"description": "the caller's role may not read this"},
    404: {"description": "no such view target (as-of views are built on demand)"},
    503: {"description": "the projection behind this view has not been built yet"},
}
Today = Annotated[
    QueryDay | None, Query(description="the business day to evaluate running clocks on")
]


@router.get("/compliance/summary", responses=_ERRORS, summary="On-time rates (办结时限)")
async def compliance_summary(
    actor: StaffDep,
    state: StateDep,
    group_by: Literal["item", "window", "staff", "month", "priority"] = "item",
    since: date | None = None,
    until: date | None = None,
    target: Target = "",
) -> dict[str, Any]:
    """On-time rates against promised and statutory limits and average working days used,
    by item, window, staff or month, over cases decided in [since, until]."""

    def summary() -> dict[str, Any]:
        view = state.read.compliance(target)
        result: dict[str, Any] = view.summary(group_by, since=since, until=until)
        return result

    result: dict[str, Any] = await run_in_threadpool(summary)
    return result


@router.get("/compliance/overdue", responses=_ERRORS, summary="Cases past a running deadline")
async def compliance_overdue(
    actor: StaffDep,
    state: StateDep,
    kind: Literal["acceptance", "promised", "statutory", "delivery"] | None = None,
    today: Today = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    target: Target = "",
) -> list[dict[str, Any]]:
    """Running clocks past their due date on ``today`` (default: the bureau's today)."""

    def overdue() -> list[dict[str, Any]]:
        view = state.read.compliance(target)
        rows: list[dict[str, Any]] = view.overdue(today or state.today(), kind=kind, limit=limit)
        return rows

    result: list[dict[str, Any]] = await run_in_threadpool(overdue)
    return result


@router.get("/supervision/flags", responses=_ERRORS, summary="Supervision flags (S01–S19)")
async def supervision_flags(
    actor: SupervisionDep,
    state: StateDep,
    rule: Annotated[str | None, Query(pattern=r"^S\d{2}$")] = None,
    case: UUID | None = None,
    open_only: Annotated[bool, Query(alias="open")] = False,
    severity: Literal["high", "medium"] | None = None,
    today: Today = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    target: Target = "",
) -> dict[str, Any]:
    """Flags with rule id, severity, case, evidence positions, raised and cleared times;
    running deadlines already past on ``today`` are included as open overdue flags."""
    day = today or state.today()

    def flags() -> dict[str, Any]:
        rows: list[dict[str, Any]] = []
        if rule != "S16":
            rows = state.read.supervision(target).flags(
                rule,
                str(case) if case else None,
                open_only,
                today=day,
                severity=severity,
                limit=limit,
            )
        if rule in (None, "S16") and case is None and severity in (None, "medium"):
            # S16 belongs to the enquiries read model (an enquiry is not a case).
            enquiries = state.read.enquiries(target).flags(today=day, open_only=open_only)
            rows = sorted(rows + enquiries, key=lambda f: _instant(f["raised_at"]))[:limit]
        degraded = state.read.parked()
        return {
            "today": day.isoformat(),
            "count": len(rows),
            "flags": rows,
            # Views that parked events they could not apply: their flags may be missing
            # what those events would have raised (``casestore project retry NAME``).
            "degraded": [
                {"projection": name, "parked_positions": positions}
                for name, positions in sorted(degraded.items())
            ],
        }

    result: dict[str, Any] = await run_in_threadpool(flags)
    return result


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


@router.get("/evaluations/summary", responses=_ERRORS, summary="好差评: participation, good rate")
async def evaluations_summary(
    actor: StaffDep,
    state: StateDep,
    group_by: Literal["window", "staff", "item"] | None = None,
    today: Today = None,
    target: Target = "",
) -> dict[str, Any]:
    """Participation rate, good rate, bad reviews and their handling, overall or grouped;
    with the red-flag window (红旗窗口) ranking and follow-up satisfaction (回访满意率)."""
    day = today or state.today()

    def summary() -> dict[str, Any]:
        view = state.read.evaluation(target)
        result: dict[str, Any] = {"today": day.isoformat()}
        result["summary"] = view.summary(group_by, today=day)
        result["window_ranking"] = view.window_ranking(today=day)
        result["follow_ups"] = follow_up_totals(view)  # 回访满意率
        return result

    result: dict[str, Any] = await run_in_threadpool(summary)
    return result


@router.get(
    "/bundles/{bundle_id}",
    responses={**_ERRORS, 404: {"description": "no such bundle"}},
    summary="一件事一次办: a bundle's progress and joint clock",
)
async def get_bundle(
    bundle_id: UUID,
    actor: StaffDep,
    state: StateDep,
    today: Today = None,
    target: Target = "",
) -> dict[str, Any]:
    """Child cases and their stages, the bundle's status and its Art. 42 ¶2 clock."""

    def bundle() -> dict[str, Any]:
        view = state.read.bundles(target)
        result: dict[str, Any] = view.get(str(bundle_id), today or state.today())
        return result

    result: dict[str, Any] = await run_in_threadpool(bundle)
    return result
