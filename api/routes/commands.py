"""Command endpoints: ``POST /cases`` and ``POST /cases/{id}/{action}`` for every action.

Each route parses its body, calls one service method in the thread pool (the write
side is synchronous) and maps the result. ``If-Match: "<version>"`` becomes the
expected version (stale: 412 with ``current_version``); ``Idempotency-Key`` is passed
to the store, which records it in the same transaction as the events, so a retry
appends nothing and returns the first result, also after a restart.
"""

import inspect
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar
from uuid import UUID

import orjson
from fastapi import APIRouter, Body, Path, Request, Response

from casestore.domain.errors import ConcurrencyConflict
from casestore.domain.values import Actor
from casestore.service import (
    BundleSubmission,
    CaseCommand,
    CommandResult,
    ExtendBundle,
    Submission,
    SubmitBundle,
    SubmitCase,
)

from ..commandthreads import in_command_thread
from ..deps import (
    ApiState,
    Caller,
    CallerDep,
    IdempotencyKeyHeader,
    IfMatchHeader,
    parse_idempotency_key,
    parse_if_match,
)
from ..problems import ApiProblem, slug_of
from ..schemas import (
    COMMANDS,
    BundleCommandPublic,
    BundleCreate,
    BundleExtensionCreate,
    BundleSubmissionPublic,
    CaseCreate,
    CommandPublic,
    Strict,
    SubmissionPublic,
    to_command,
)
from .quickroute import CaseCommandRoute, QuickCommand

router = APIRouter(tags=["commands"])
T = TypeVar("T")

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "no valid bearer token"},
    403: {"description": "the caller's role may not issue this command"},
    404: {"description": "no such case"},
    409: {"description": "a business rule refuses the command, or the case changed"},
    412: {"description": "If-Match names a stale version"},
    422: {"description": "the body or a field value is invalid"},
}


def _timed(state: ApiState, action: str, call: Callable[[], Any]) -> Any:
    started = time.perf_counter()
    try:
        result = call()
    except BaseException as e:
        state.metrics.command(action, slug_of(e), time.perf_counter() - started)
        raise
    outcome = "replayed" if getattr(result, "duplicate", False) else "ok"
    state.metrics.command(action, outcome, time.perf_counter() - started)
    return result


def _as(state: ApiState, caller: Caller, action: str, call: Callable[[Actor], T]) -> T:
    """Run one command as the caller, under the grants they hold now (held to the commit)."""
    with state.authority.acting(caller.staff_id, action, caller.act_as) as actor:
        return call(actor)


def _issue(state: ApiState, caller: Caller, body: Strict, **context: Any) -> Any:
    """The command ``body`` asks for, built and handled as the caller under the grants
    they hold now for its action (the practice routes: enquiries, windows, awards)."""

    def handle(actor: Actor) -> Any:
        return state.service.handle(to_command(body, actor=actor, **context))  # type: ignore[call-overload]

    return _as(state, caller, body.command.action, handle)


def _submit(state: ApiState, caller: Caller, body: CaseCreate, key: str | None) -> Submission:
    def submit(actor: Actor) -> Submission:
        command = to_command(body, actor=actor, idempotency_key=key)
        assert isinstance(command, SubmitCase)
        return state.service.handle(command)

    return _as(state, caller, "submit", submit)


@router.post(
    "/cases",
    status_code=201,
    response_model=SubmissionPublic,
    responses=_ERRORS,
    summary="Take in an application (收件)",
)
async def submit_case(
    body: CaseCreate,
    caller: CallerDep,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKeyHeader = None,
) -> SubmissionPublic:
    """A new case with its number and the applicant's query code (shown once)."""
    state: ApiState = request.app.state.casestore
    scoped = parse_idempotency_key(caller, idempotency_key)
    result: Submission = await in_command_thread(
        _timed, state, "submit", lambda: _submit(state, caller, body, scoped)
    )
    response.headers["Location"] = f"/cases/{result.case_id}"
    response.headers["ETag"] = f'"{result.version}"'
    if result.duplicate:
        response.headers["Idempotent-Replayed"] = "true"
    return SubmissionPublic(
        case_id=result.case_id,
        version=result.version,
        position=result.position,
        duplicate=result.duplicate,
        case_no=result.case_no,
        query_code=result.query_code or None,
    )


@router.post(
    "/bundles",
    status_code=201,
    response_model=BundleSubmissionPublic,
    responses={**_ERRORS, 404: {"description": "no such bundle or item in the catalogue"}},
    summary="Take in a 一件事 bundle (one intake, a case per item)",
)
async def submit_bundle(
    body: BundleCreate,
    caller: CallerDep,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKeyHeader = None,
) -> BundleSubmissionPublic:
    """The bundle and one child case per item, atomically, each with its number and the
    applicant's query code (shown once; a replay returns the same cases without codes)."""
    state: ApiState = request.app.state.casestore
    scoped = parse_idempotency_key(caller, idempotency_key)

    def handle(actor: Actor) -> BundleSubmission:
        command = to_command(body, actor=actor, idempotency_key=scoped)
        assert isinstance(command, SubmitBundle)
        return state.service.handle(command)

    def submit() -> BundleSubmissionPublic:
        opened = _as(state, caller, "submit-bundle", handle)
        return BundleSubmissionPublic.model_validate(opened, from_attributes=True)

    result: BundleSubmissionPublic = await in_command_thread(_timed, state, "submit-bundle", submit)
    response.headers["Location"] = f"/bundles/{result.bundle_id}"
    if result.duplicate:
        response.headers["Idempotent-Replayed"] = "true"
    return result


@router.post(
    "/bundles/{bundle_id}/extend",
    response_model=BundleCommandPublic,
    responses={**_ERRORS, 404: {"description": "no such bundle"}},
    summary="Extend a bundle's joint clock by 15 working days (once, approver)",
)
async def extend_bundle(
    bundle_id: UUID,
    body: BundleExtensionCreate,
    caller: CallerDep,
    request: Request,
    response: Response,
    if_match: IfMatchHeader = None,
    idempotency_key: IdempotencyKeyHeader = None,
) -> BundleCommandPublic:
    """行政许可法 Art. 42 ¶2: a jointly handled matter's 45 working days, +15 once."""
    state: ApiState = request.app.state.casestore
    expected = parse_if_match(if_match)
    scoped = parse_idempotency_key(caller, idempotency_key)

    def handle(actor: Actor) -> CommandResult:
        command = to_command(
            body,
            actor=actor,
            bundle_id=bundle_id,
            expected_version=expected,
            idempotency_key=scoped,
        )
        assert isinstance(command, ExtendBundle)
        return state.service.handle(command)

    def extend() -> CommandResult:
        with _precondition(expected, "bundle", bundle_id, lambda: state.service.bundle(bundle_id)):
            return _as(state, caller, "bundle-extend", handle)

    result: CommandResult = await in_command_thread(_timed, state, "bundle-extend", extend)
    response.headers["ETag"] = f'"{result.version}"'
    if result.duplicate:
        response.headers["Idempotent-Replayed"] = "true"
    return BundleCommandPublic(
        bundle_id=result.case_id,
        version=result.version,
        position=result.position,
        duplicate=result.duplicate,
    )


def _execute(
    state: ApiState,
    action: str,
    case_id: UUID,
    caller: Caller,
    body: Strict,
    expected: int | None,
    key: str | None,
) -> CommandResult:
    def handle(actor: Actor) -> CommandResult:
        command = to_command(
            body, actor=actor, case_id=case_id, expected_version=expected, idempotency_key=key
        )
        assert isinstance(command, CaseCommand)
        return state.service.handle(command)

    with _precondition(expected, "case", case_id, lambda: state.service.case(case_id)):
        return _as(state, caller, action, handle)


@contextmanager
def _precondition(
    expected: int | None, noun: str, aggregate_id: UUID, load: Callable[[], Any]
) -> Iterator[None]:
    """With ``If-Match``, a conflict is a 412 naming the current version (``load`` reads
    it when the conflict does not say); without it, the conflict stays a 409."""
    try:
        yield
    except ConcurrencyConflict as e:
        if expected is None:
            raise
        current = e.context.get("current_version")
        if current is None:
            current = load().version
        raise ApiProblem(
            "precondition-failed",
            f"{noun} {aggregate_id} is at version {current}, not {expected}",
            current_version=current,
        ) from None


def _command_response(result: CommandResult) -> Response:
    """The ``CommandPublic`` body, serialised directly (the hot path skips re-validation)."""
    body = orjson.dumps(
        {
            "case_id": str(result.case_id),
            "version": result.version,
            "position": result.position,
            "duplicate": result.duplicate,
        }
    )
    headers = {"ETag": f'"{result.version}"'}
    if result.duplicate:
        headers["Idempotent-Replayed"] = "true"
    return Response(body, media_type="application/json", headers=headers)


async def _run_command(
    state: ApiState,
    action: str,
    case_id: UUID,
    caller: Caller,
    body: Strict,
    if_match: str | None,
    idempotency_key: str | None,
) -> Response:
    """A case command's work once its inputs are parsed: the same for both paths of
    :class:`CaseCommandRoute`."""
    expected = parse_if_match(if_match)
    scoped = parse_idempotency_key(caller, idempotency_key)
    result: CommandResult = await in_command_thread(
        _timed,
        state,
        action,
        lambda: _execute(state, action, case_id, caller, body, expected, scoped),
    )
    return _command_response(result)


def _command_endpoint(action: str, model: type[Strict]) -> Callable[..., Any]:
    # Dependencies are kept to the token alone (each one costs a resolution per request):
    # state comes from the app, headers are parsed here.
    async def endpoint(
        case_id: UUID,
        body: Any,
        caller: CallerDep,
        request: Request,
        if_match: IfMatchHeader = None,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response:
        state: ApiState = request.app.state.casestore
        return await _run_command(state, action, case_id, caller, body, if_match, idempotency_key)

    # FastAPI reads the body schema from the signature: give each action its own.
    signature = inspect.signature(endpoint)
    params = [
        p.replace(annotation=Annotated[model, Body()])
        if p.name == "body"
        else p.replace(annotation=Annotated[UUID, Path(description="the case id")])
        if p.name == "case_id"
        else p
        for p in signature.parameters.values()
    ]
    endpoint.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    endpoint.__name__ = f"command_{action.replace('-', '_')}"
    endpoint.__doc__ = model.__doc__
    endpoint.quick_command = QuickCommand(action, model, _run_command)  # type: ignore[attr-defined]
    return endpoint


for _action, _model in COMMANDS.items():
    router.add_api_route(
        f"/cases/{{case_id}}/{_action}",
        _command_endpoint(_action, _model),
        methods=["POST"],
        response_model=CommandPublic,
        responses=_ERRORS,
        summary=(_model.__doc__ or _action).splitlines()[0],
        operation_id=f"command_{_action.replace('-', '_')}",
        route_class_override=CaseCommandRoute,
    )
