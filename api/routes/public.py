"""The applicant's own view (case number + query code): live status and 好差评.

No token: the query code given at intake is the credential. The view carries no
personal data and no staff identities; a wrong code and an unknown case number get
the same 404, so neither can be probed, and failed look-ups are limited per case number
and per client address (429 ``too-many-attempts``, see ``api.ratelimit``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from casestore.domain import Case
from casestore.domain.errors import NotFound
from casestore.domain.personal import PLACEHOLDERS, mask_value, personal_values
from casestore.domain.values import Actor
from casestore.plain import to_plain
from casestore.service import Evaluate

from ..deps import ApiState, IdempotencyKeyHeader, StateDep, parse_idempotency_key
from ..problems import ApiProblem
from ..schemas import CommandPublic, PublicEvaluateCreate, to_command
from ..views import public_case_view
from .commands import _timed

router = APIRouter(prefix="/public", tags=["public"])

CaseNo = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z-]+$")]
Code = Annotated[str, Query(min_length=1, max_length=32, description="the query code (查询码)")]
_NOT_FOUND = "no case with that number and query code"
_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": _NOT_FOUND},
    429: {"description": "too many failed look-ups of this case number or from this client"},
}


def _client(request: Request) -> str:
    state: ApiState = request.app.state.casestore
    return state.proxies.client(request)


def _own_case(state: ApiState, case_no: str, code: str, client: str) -> Case:
    wait = state.public_limits.retry_after(case_no, client)
    if wait is not None:
        raise ApiProblem(
            "too-many-attempts",
            f"too many failed look-ups; try again in {wait} s",
            headers={"Retry-After": str(wait)},
            retry_after=wait,
        )
    try:
        return state.service.check_query_code(case_no, code)
    except NotFound:
        state.public_limits.failed(case_no, client)
        raise NotFound(_NOT_FOUND) from None


@router.get("/cases/{case_no}", responses=_ERRORS, summary="An applicant's own case")
async def public_case(
    case_no: CaseNo, code: Code, state: StateDep, request: Request
) -> dict[str, Any]:
    """Stage, dates and steps of the applicant's case, without personal data."""
    client = _client(request)

    def view() -> dict[str, Any]:
        case = _own_case(state, case_no, code, client)
        events = state.service.events(case.id, upto_version=case.version)
        try:
            item_name = str(state.service.item(case.item_code).spec.get("name", ""))
        except NotFound:
            item_name = ""
        clocks = state.read.clocks(case, events, state.today())
        rated = bool(state.service.visit_rated_by(case))
        return public_case_view(case, events, clocks, item_name, visit_rated=rated)

    result: dict[str, Any] = await run_in_threadpool(view)
    return result


@router.post(
    "/cases/{case_no}/evaluate",
    response_model=CommandPublic,
    responses={**_ERRORS, 409: {"description": "already evaluated"}},
    summary="The applicant evaluates the service (好差评)",
)
async def public_evaluate(
    case_no: CaseNo,
    code: Code,
    body: PublicEvaluateCreate,
    state: StateDep,
    response: Response,
    request: Request,
    idempotency_key: IdempotencyKeyHeader = None,
) -> CommandPublic:
    """Level 1 非常满意 … 5 非常不满意 (GB/T 39046); 4 and 5 open a bad-review clock."""
    applicant = Actor(f"applicant:{case_no}", "applicant")
    key = parse_idempotency_key(applicant, idempotency_key)
    client = _client(request)

    def evaluate() -> Any:
        case = _own_case(state, case_no, code, client)
        command = to_command(
            body, actor=applicant, case_id=case.id, channel="online", idempotency_key=key
        )
        assert isinstance(command, Evaluate)
        return state.service.handle(command)

    result = await run_in_threadpool(_timed, state, "evaluate", evaluate)
    response.headers["ETag"] = f'"{result.version}"'
    return CommandPublic(
        case_id=result.case_id,
        version=result.version,
        position=result.position,
        duplicate=result.duplicate,
    )


@router.get(
    "/cases/{case_no}/proof",
    responses={**_ERRORS, 404: {"description": f"{_NOT_FOUND}, or no checkpoint covers it yet"}},
    summary="The applicant's own case proof, to keep and verify offline",
)
async def public_case_proof(
    case_no: CaseNo, code: Code, state: StateDep, request: Request
) -> dict[str, Any]:
    """A ``casestore-proof/v1`` file: the case's events in the bureau's signed log."""
    from casestore.ledger.proofs import case_proof

    from .log import ledger

    client = _client(request)

    def build() -> dict[str, Any]:
        case = _own_case(state, case_no, code, client)
        return case_proof(ledger(state), case.id, case.case_no)

    result: dict[str, Any] = await run_in_threadpool(build)
    return result


@router.get(
    "/cases/{case_no}/access",
    responses=_ERRORS,
    summary="Who at the bureau looked at the applicant's case",
)
async def public_access(
    case_no: CaseNo, code: Code, state: StateDep, request: Request
) -> dict[str, Any]:
    """Every recorded access to the case's personal data, audit timeline or past
    states: when, by which staff id in which role, through which route. No names."""
    client = _client(request)

    def accesses() -> dict[str, Any]:
        case = _own_case(state, case_no, code, client)
        rows = state.read.access().trail(case_id=str(case.id), limit=10_000)
        return {
            "case_no": case_no,
            "accesses": [
                {
                    "recorded_at": r["recorded_at"],
                    "staff_id": r["staff_id"],
                    "role": r["role"],
                    "route": r["route"],
                }
                for r in rows
            ],
        }

    result: dict[str, Any] = await run_in_threadpool(accesses)
    return result


SubjectCaseNo = Annotated[
    str,
    Query(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z-]+$", description="案件编号"),
]


@router.get(
    "/subject-report",
    responses=_ERRORS,
    summary="What personal data the bureau holds about the applicant, and who accessed it",
)
async def subject_report(
    case_no: SubjectCaseNo, code: Code, state: StateDep, request: Request
) -> dict[str, Any]:
    """PIPL Art. 45: every case holding the applicant's personal data (as applicant or
    agent, found by their keyed hash, not by name), each personal field held (masked:
    the full copy is given at the window after an identity check; 〔已删除〕 once
    forgotten), and every recorded access to those cases."""
    client = _client(request)

    def report() -> dict[str, Any]:
        own = _own_case(state, case_no, code, client)
        cases = []
        for case_id, party in state.service.subject_cases(own.id):
            events = state.service.events(case_id)
            held = [
                {
                    "event": type(e).__qualname__,
                    "recorded_at": e.timestamp.isoformat(),
                    "field": path,
                    "kind": str(kind),
                    "value": value if value in PLACEHOLDERS else mask_value(str(value)),
                }
                for e in events
                for path, kind, value in personal_values(
                    type(e).__qualname__, to_plain(dict(vars(e)))
                )
                if party == "applicant" or path.startswith(party)
            ]
            rows = state.read.access().trail(case_id=str(case_id), limit=10_000)
            cases.append(
                {
                    "case_no": events[0].case_no,
                    "as": party,
                    "personal_data": held,
                    "accesses": [
                        {k: r[k] for k in ("recorded_at", "staff_id", "role", "route")}
                        for r in rows
                    ],
                }
            )
        return {"case_no": case_no, "cases": cases}

    result: dict[str, Any] = await run_in_threadpool(report)
    return result
