"""The awards register: ``POST /awards``, ``POST /awards/{id}/revoke``, ``GET /awards``,
``GET /awards/candidates`` (服务标兵 / 红旗窗口 by configurable criteria)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal
from uuid import UUID

from casestore.projections.readmodels.awards import Criteria
from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from ..deps import (
    ApiState,
    CallerDep,
    IdempotencyKeyHeader,
    IfMatchHeader,
    StaffDep,
    StateDep,
)
from ..practice_schemas import AwardCommandPublic, AwardCreate, AwardRevokeCreate
from .cases import Target
from .commandroute import CommandRoute

router = APIRouter(tags=["awards"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "no valid bearer token"},
    403: {"description": "the caller's role may not do this"},
    404: {"description": "no such award"},
    409: {"description": "a rule refuses the command"},
    412: {"description": "If-Match names a stale version"},
    422: {"description": "the body or a field value is invalid"},
    503: {"description": "the awards or evaluation view has not been built yet"},
}
Kind = Literal["service_star", "red_flag_window", "thanks_letter", "silk_banner"]


ROUTE = CommandRoute("award", AwardCommandPublic, "award_id")


@router.post(
    "/awards",
    status_code=201,
    response_model=AwardCommandPublic,
    responses=_ERRORS,
    summary="Record an award (服务标兵, 红旗窗口, 感谢信, 锦旗)",
)
async def grant_award(
    body: AwardCreate,
    caller: CallerDep,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKeyHeader = None,
) -> AwardCommandPublic:
    """A selection for a period, or thanks received from an applicant."""
    state: ApiState = request.app.state.casestore
    return await ROUTE.create(
        state, caller, body, response, idempotency_key, lambda r: f"/awards/{r.case_id}"
    )


@router.post(
    "/awards/{award_id}/revoke",
    response_model=AwardCommandPublic,
    responses=_ERRORS,
    summary="Withdraw an award recorded in error",
)
async def revoke_award(
    award_id: UUID,
    body: AwardRevokeCreate,
    caller: CallerDep,
    request: Request,
    response: Response,
    if_match: IfMatchHeader = None,
    idempotency_key: IdempotencyKeyHeader = None,
) -> AwardCommandPublic:
    """The entry stays in the register, marked revoked."""
    state: ApiState = request.app.state.casestore
    return await ROUTE.update(
        state,
        caller,
        body,
        response,
        if_match,
        idempotency_key,
        aggregate_id=award_id,
        load=lambda: state.service.award(award_id),
        award_id=award_id,
    )


@router.get("/awards", responses=_ERRORS, summary="The awards register")
async def awards_register(
    actor: StaffDep,
    state: StateDep,
    kind: Kind | None = None,
    since: date | None = None,
    until: date | None = None,
    include_revoked: bool = False,
    target: Target = "",
) -> dict[str, Any]:
    """Awards granted in [since, until], newest first."""

    def rows() -> dict[str, Any]:
        found = state.read.awards(target).register(
            kind=kind, since=since, until=until, include_revoked=include_revoked
        )
        return {"count": len(found), "awards": found}

    result: dict[str, Any] = await run_in_threadpool(rows)
    return result


@router.get(
    "/awards/candidates", responses=_ERRORS, summary="服务标兵 / 红旗窗口 candidates by criteria"
)
async def award_candidates(
    actor: StaffDep,
    state: StateDep,
    kind: Literal["service_star", "red_flag_window"],
    since: date,
    until: date,
    min_evaluations: Annotated[int, Query(ge=1, le=1_000_000)] = 10,
    min_good_rate: Annotated[float, Query(ge=0, le=1)] = 0.98,
    max_bad_reviews: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    target: Target = "",
) -> dict[str, Any]:
    """Staff (服务标兵) or windows (红旗窗口) meeting the criteria over the period, ranked."""
    criteria = Criteria(min_evaluations, min_good_rate, max_bad_reviews)

    def rows() -> dict[str, Any]:
        found = state.read.awards(target).candidates(kind, since, until, criteria)
        return {"kind": kind, "criteria": criteria.__dict__, "candidates": found}

    result: dict[str, Any] = await run_in_threadpool(rows)
    return result
