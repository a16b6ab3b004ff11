"""``GET /cases/{id}/documents/{kind}``: the written notices the law requires, as PDFs."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from casestore.projections.reports.notices import notice_pdf
from fastapi import APIRouter, Path, Request, Response
from starlette.concurrency import run_in_threadpool

from ..deps import StaffDep, StateDep

router = APIRouter(tags=["documents"])
Kind = Literal["acceptance", "rejection", "supplement", "decision", "delivery-receipt"]


@router.get(
    "/cases/{case_id}/documents/{kind}",
    responses={
        200: {"content": {"application/pdf": {}}},
        401: {"description": "no valid bearer token"},
        403: {"description": "the caller's role may not read cases"},
        404: {"description": "no such case, or the case has no such notice yet"},
    },
    summary="A written notice (受理通知书, 不予受理决定书, 一次性告知书, 决定书, 送达回证)",
)
async def document(
    case_id: Annotated[UUID, Path(description="the case id")],
    kind: Kind,
    actor: StaffDep,
    state: StateDep,
    request: Request,
) -> Response:
    """Generated from the events that caused it, with the legal dates of the case's clocks
    and a QR code that opens the applicant's page."""
    base = str(request.base_url)

    def render() -> bytes:
        case = state.service.case(case_id)
        events = state.service.events(case_id)
        clocks = state.read.clocks(case, events, state.today())
        return notice_pdf(kind, case, events, clocks, base)

    body: bytes = await run_in_threadpool(render)
    name = f"{kind}.pdf"
    return Response(
        body,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
