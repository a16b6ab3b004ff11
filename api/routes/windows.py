"""Windows (窗口): ``POST /windows``, their commands, ``GET /windows`` and the duty rota."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Body, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from casestore.domain.window import window_id
from casestore.service.practice import WindowCommand

from ..deps import (
    ApiState,
    CallerDep,
    IdempotencyKeyHeader,
    IfMatchHeader,
    StaffDep,
    StateDep,
)
from ..practice_schemas import WINDOW_SCHEMAS, WindowCommandPublic, WindowCreate
from ..schemas import Strict
from .cases import Target
from .commandroute import CommandRoute

router = APIRouter(tags=["windows"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "no valid bearer token"},
    403: {"description": "the caller's role may not do this"},
    404: {"description": "no such window"},
    409: {"description": "a rule refuses the command, or the window changed"},
    412: {"description": "If-Match names a stale version"},
    422: {"description": "the body or a field value is invalid"},
    503: {"description": "the windows view has not been built yet"},
}
WindowCode = Annotated[str, Path(max_length=64, description="the window's code")]


ROUTE = CommandRoute("window", WindowCommandPublic, "window_id")


@router.post(
    "/windows",
    status_code=201,
    response_model=WindowCommandPublic,
    responses=_ERRORS,
    summary="Register a window with its type (admin)",
)
async def register_window(
    body: WindowCreate,
    caller: CallerDep,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKeyHeader = None,
) -> WindowCommandPublic:
    """综合, 项目建设综合, 招商引资绿色通道, 领导带班 or 志愿者服务站."""
    state: ApiState = request.app.state.casestore
    location = f"/windows/{quote(body.code.strip(), safe='')}"
    return await ROUTE.create(state, caller, body, response, idempotency_key, lambda _: location)


def _endpoint(action: str, model: type[Strict]) -> Callable[..., Any]:
    async def endpoint(
        code: WindowCode,
        body: Any,
        caller: CallerDep,
        request: Request,
        response: Response,
        if_match: IfMatchHeader = None,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> WindowCommandPublic:
        state: ApiState = request.app.state.casestore
        assert issubclass(model.command, WindowCommand)
        return await ROUTE.update(
            state,
            caller,
            body,
            response,
            if_match,
            idempotency_key,
            aggregate_id=window_id(code),
            load=lambda: state.service.window(code),
            window_code=code,
        )

    signature = inspect.signature(endpoint)
    params = [
        p.replace(annotation=Annotated[model, Body()]) if p.name == "body" else p
        for p in signature.parameters.values()
    ]
    endpoint.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    endpoint.__name__ = f"window_{action.replace('-', '_')}"
    return endpoint


for _action, _model in WINDOW_SCHEMAS.items():
    router.add_api_route(
        f"/windows/{{code}}/{_action}",
        _endpoint(_action, _model),
        methods=["POST"],
        response_model=WindowCommandPublic,
        responses=_ERRORS,
        summary=(_model.__doc__ or _action).splitlines()[0],
        operation_id=f"window_{_action.replace('-', '_')}",
    )


@router.get("/windows", responses=_ERRORS, summary="The hall's windows, types and 党员示范岗")
async def list_windows(
    actor: StaffDep,
    state: StateDep,
    window_type: Annotated[
        Literal["general", "project", "green_channel", "leader", "volunteer"] | None,
        Query(alias="type"),
    ] = None,
    target: Target = "",
) -> dict[str, Any]:
    """Every window (of one type) with its party members."""

    def rows() -> dict[str, Any]:
        found = state.read.windows(target).windows(window_type)
        return {"count": len(found), "windows": found}

    result: dict[str, Any] = await run_in_threadpool(rows)
    return result


@router.get("/windows/rota", responses=_ERRORS, summary="Duty rota (领导带班): who, which day")
async def duty_rota(
    actor: StaffDep,
    state: StateDep,
    since: date,
    until: date,
    window: Annotated[str | None, Query(max_length=64)] = None,
    target: Target = "",
) -> dict[str, Any]:
    """The latest assignment per window and day in [since, until] (at most 366 days)."""

    def rows() -> dict[str, Any]:
        found = state.read.windows(target).rota(since, until, window)
        return {"since": since.isoformat(), "until": until.isoformat(), "rota": found}

    result: dict[str, Any] = await run_in_threadpool(rows)
    return result
