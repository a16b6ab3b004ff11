"""Auditor endpoints: the digest to keep, a full verification, and a streamed export."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from casestore.service import parse_digest

from ..deps import ApiState, AuditDep, PurposeDep, StateDep
from ..masking import FULL_ID_NUMBER, FULL_PHONE, mask_personal
from ..problems import ApiProblem
from ..views import event_view

router = APIRouter(prefix="/audit", tags=["audit"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "no valid bearer token"},
    403: {"description": "auditor, inspector or admin only"},
}
Position = Annotated[int | None, Query(ge=1, le=2**62)]


@router.get(
    "/digest",
    responses={**_ERRORS, 404: {"description": "the log has no such position yet"}},
    summary="The (position, hash) to keep",
)
async def audit_digest(
    actor: AuditDep, state: StateDep, position: Position = None
) -> dict[str, Any]:
    """The running chain hash at the head (or a past position): save it, verify later."""

    def take() -> dict[str, Any]:
        try:
            return state.service.digest(position)
        except ValueError as e:
            raise ApiProblem("not-found", str(e)) from None

    result: dict[str, Any] = await run_in_threadpool(take)
    return result


@router.get("/verify", responses=_ERRORS, summary="Recompute the whole hash chain")
async def audit_verify(
    actor: AuditDep,
    state: StateDep,
    digest: Annotated[
        str | None,
        Query(max_length=200, description="POSITION:HASH saved earlier, to prove unchanged"),
    ] = None,
) -> dict[str, Any]:
    """Names every altered, removed, inserted or reordered event (``ok`` false then)."""
    saved = None
    if digest is not None:
        try:
            saved = parse_digest(digest)
        except ValueError as e:
            raise ApiProblem("validation-error", str(e)) from None
    report = await run_in_threadpool(state.service.verify, saved)
    return {
        "ok": report.ok,
        "events": report.events,
        "last_position": report.last_position,
        "last_chain_hash": report.last_chain_hash.hex(),
        "digest_checked": saved is not None,
        "findings": [
            {
                "kind": f.kind,
                "position": f.position,
                "case_id": str(f.case) if f.case else None,
                "version": f.version,
                "detail": f.detail,
                "line": f.line(),
            }
            for f in report.findings
        ],
    }


def _export(state: ApiState, role: str, after: int, upto: int | None) -> Iterator[bytes]:
    raw = role in FULL_ID_NUMBER and role in FULL_PHONE
    for row, event in state.service.event_rows(after, upto=upto):
        view = event_view(event, row)
        del view["case_id"]
        line: dict[str, Any] = {
            "position": row.position,
            "aggregate_id": str(row.originator_id),
            "topic": row.topic,
            **mask_personal(view, role),
        }
        if raw:
            line["stored_b64"] = base64.b64encode(row.state).decode()
        yield orjson.dumps(line) + b"\n"


@router.get(
    "/export",
    responses={**_ERRORS, 200: {"content": {"application/x-ndjson": {}}}},
    summary="The log as JSON Lines with hashes (streamed)",
)
async def audit_export(
    actor: AuditDep,
    state: StateDep,
    purpose: PurposeDep,
    after: Annotated[int, Query(ge=0, le=2**62)] = 0,
    upto: Position = None,
) -> StreamingResponse:
    """One event per line in log order with its event and chain hash. Personal data is
    masked by role (the classification of ``casestore.domain.personal``); the query
    code's digest is never a field. The exact stored bytes (``stored_b64``) go only to
    roles that may see personal data, since they contain it (and the query code only as
    an HMAC under the server's pepper). Every export leaves an ``AccessRecorded``."""
    await run_in_threadpool(state.trail.record, actor, "GET /audit/export", purpose, [])
    return StreamingResponse(
        _export(state, actor.role, after, upto), media_type="application/x-ndjson"
    )
