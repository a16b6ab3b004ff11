"""Enquiries and requests (群众诉求/咨询): ``POST /enquiries``, its commands and its views.

Commands run through the service like a case's (``If-Match``, ``Idempotency-Key``);
the views read the ``enquiries`` read model. S16 flags also appear in
``GET /supervision/flags``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Body, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from casestore.domain import NotFound
from casestore.service.practice import EnquiryCommand

from ..bounds import QueryDay
from ..deps import (
    ApiState,
    Caller,
    CallerDep,
    IdempotencyKeyHeader,
    IfMatchHeader,
    StaffDep,
    StateDep,
)
from ..practice_schemas import (
    ENQUIRY_SCHEMAS,
    EnquiryAnswerCreate,
    EnquiryCloseCreate,
    EnquiryCommandPublic,
    EnquiryCreate,
    EnquiryReferCreate,
)
from ..schemas import Strict
from .cases import Target
from .commandroute import CommandRoute

router = APIRouter(tags=["enquiries"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "no valid bearer token"},
    403: {"description": "the caller's role may not do this"},
    404: {"description": "no such enquiry"},
    409: {"description": "a rule refuses the command, or the enquiry changed"},
    412: {"description": "If-Match names a stale version"},
    422: {"description": "the body or a field value is invalid"},
    503: {"description": "the enquiries view has not been built yet"},
}
Today = Annotated[QueryDay | None, Query(description="the business day to read clocks on")]


ROUTE = CommandRoute("enquiry", EnquiryCommandPublic, "enquiry_id")


@router.post(
    "/enquiries",
    status_code=201,
    response_model=EnquiryCommandPublic,
    responses=_ERRORS,
    summary="Record a request or question (群众诉求/咨询)",
)
async def receive_enquiry(
    body: EnquiryCreate,
    caller: CallerDep,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKeyHeader = None,
) -> EnquiryCommandPublic:
    """A new enquiry; its handling clock (working days from configuration) starts."""
    state: ApiState = request.app.state.casestore
    return await ROUTE.create(
        state, caller, body, response, idempotency_key, lambda r: f"/enquiries/{r.case_id}"
    )


async def _run(
    state: ApiState,
    enquiry_id: UUID,
    body: Strict,
    caller: Caller,
    response: Response,
    if_match: str | None,
    idempotency_key: str | None,
) -> EnquiryCommandPublic:
    assert issubclass(body.command, EnquiryCommand)
    return await ROUTE.update(
        state,
        caller,
        body,
        response,
        if_match,
        idempotency_key,
        aggregate_id=enquiry_id,
        load=lambda: state.service.enquiry(enquiry_id),
        enquiry_id=enquiry_id,
    )


EnquiryId = Annotated[UUID, Path(description="the enquiry id")]


@router.post(
    "/enquiries/{enquiry_id}/answer",
    response_model=EnquiryCommandPublic,
    responses=_ERRORS,
    summary="Answer an enquiry (答复)",
)
async def answer_enquiry(
    enquiry_id: EnquiryId,
    body: Annotated[EnquiryAnswerCreate, Body()],
    caller: CallerDep,
    request: Request,
    response: Response,
    if_match: IfMatchHeader = None,
    idempotency_key: IdempotencyKeyHeader = None,
) -> EnquiryCommandPublic:
    """Stops the handling clock."""
    state = request.app.state.casestore
    return await _run(state, enquiry_id, body, caller, response, if_match, idempotency_key)


@router.post(
    "/enquiries/{enquiry_id}/refer",
    response_model=EnquiryCommandPublic,
    responses=_ERRORS,
    summary="Refer an enquiry to another unit (转办)",
)
async def refer_enquiry(
    enquiry_id: EnquiryId,
    body: Annotated[EnquiryReferCreate, Body()],
    caller: CallerDep,
    request: Request,
    response: Response,
    if_match: IfMatchHeader = None,
    idempotency_key: IdempotencyKeyHeader = None,
) -> EnquiryCommandPublic:
    """The clock keeps running: the bureau answers for it until it is closed."""
    state = request.app.state.casestore
    return await _run(state, enquiry_id, body, caller, response, if_match, idempotency_key)


@router.post(
    "/enquiries/{enquiry_id}/close",
    response_model=EnquiryCommandPublic,
    responses=_ERRORS,
    summary="Close an enquiry (办结)",
)
async def close_enquiry(
    enquiry_id: EnquiryId,
    body: Annotated[EnquiryCloseCreate, Body()],
    caller: CallerDep,
    request: Request,
    response: Response,
    if_match: IfMatchHeader = None,
    idempotency_key: IdempotencyKeyHeader = None,
) -> EnquiryCommandPublic:
    """After an answer or a referral (or withdrawn by the requester)."""
    state = request.app.state.casestore
    return await _run(state, enquiry_id, body, caller, response, if_match, idempotency_key)


assert set(ENQUIRY_SCHEMAS) == {"answer", "refer", "close"}


@router.get("/enquiries", responses=_ERRORS, summary="Enquiries (群众诉求/咨询), newest first")
async def list_enquiries(
    actor: StaffDep,
    state: StateDep,
    status: Literal["open", "answered", "referred", "closed"] | None = None,
    window: Annotated[str | None, Query(max_length=64)] = None,
    overdue: bool = False,
    today: Today = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    target: Target = "",
) -> dict[str, Any]:
    """Filtered by status, window, or past their handling clock on ``today``."""
    day = today or state.today()

    def rows() -> dict[str, Any]:
        view = state.read.enquiries(target)
        found = view.find(status=status, window=window, overdue=overdue, today=day, limit=limit)
        return {"today": day.isoformat(), "count": len(found), "enquiries": found}

    result: dict[str, Any] = await run_in_threadpool(rows)
    return result


@router.get("/enquiries/summary", responses=_ERRORS, summary="Enquiries handled, on time, late")
async def enquiries_summary(
    actor: StaffDep,
    state: StateDep,
    by_window: bool = False,
    today: Today = None,
    target: Target = "",
) -> dict[str, Any]:
    """Received, answered, referred, closed, open, late (S16) and handled on time."""
    day = today or state.today()

    def summary() -> dict[str, Any]:
        view = state.read.enquiries(target)
        return {"today": day.isoformat(), **view.summary(group_by_window=by_window, today=day)}

    result: dict[str, Any] = await run_in_threadpool(summary)
    return result


@router.get("/enquiries/{enquiry_id}", responses=_ERRORS, summary="One enquiry and its clock")
async def get_enquiry(
    enquiry_id: EnquiryId,
    actor: StaffDep,
    state: StateDep,
    today: Today = None,
    target: Target = "",
) -> dict[str, Any]:
    """Its status, due date, whether it is past due on ``today``."""
    day = today or state.today()

    def one() -> dict[str, Any]:
        found = state.read.enquiries(target).get(str(enquiry_id), today=day)
        if found is None:
            raise NotFound(f"no enquiry {enquiry_id}")
        return found

    result: dict[str, Any] = await run_in_threadpool(one)
    return result
