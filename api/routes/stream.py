"""``GET /stream``: Server-Sent Events of status changes, resumable by log position.

Authenticate with the ``Authorization`` header or, from a browser's ``EventSource``
(which cannot send headers), with a single-use ticket from ``POST /stream/tickets``
(``?ticket=``, valid 60 s): never a token in the URL. The caller's grants are checked
when the stream opens and again as it runs: a revoked role closes it.

Each event is ``event: status``, ``id: <log position>`` and a JSON ``data`` line
(case id and number, item, intake window, event name, stage after it, times, actor).
``Last-Event-ID`` (or ``?after=`` for a first connection) resumes right after that
position; without either the stream starts at the current head.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.security import HTTPAuthorizationCredentials
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from casestore.domain.errors import Forbidden
from casestore.domain.values import Actor

from ..bounds import parse_last_event_id
from ..deps import (
    STAFF_READERS,
    ApiState,
    Caller,
    CallerDep,
    StateDep,
    _bearer,
    authorise,
    caller_of,
)
from ..problems import ApiProblem
from ..tickets import TICKET_SECONDS

router = APIRouter(tags=["live"])
_HEARTBEAT_S = 15.0


async def _still_allowed(state: ApiState, caller: Caller) -> bool:
    try:
        await run_in_threadpool(
            state.authority.actor,
            caller.staff_id,
            allowed=STAFF_READERS,
            act_as=caller.act_as,
            what="the stream",
        )
    except Forbidden:
        return False
    return True


async def _events(
    request: Request,
    state: ApiState,
    caller: Caller,
    cursor: int,
    case_id: str | None,
    window: str | None,
    limit: int | None,
) -> AsyncIterator[ServerSentEvent | bytes]:
    hub = state.hub
    sent = 0
    state.metrics.sse_clients.inc()
    try:
        yield ServerSentEvent(comment="casestore stream", retry=2000)
        while limit is None or sent < limit:
            items, cursor = await hub.read_after(cursor)
            chosen = [i for i in items if i.matches(case_id, window)]
            if limit is not None:
                chosen = chosen[: limit - sent]
            if chosen:
                # One write for the whole batch: a send per event costs more than the event.
                yield b"".join(i.frame for i in chosen)
                sent += len(chosen)
            if not state.authority.is_fresh(caller.staff_id) and not await _still_allowed(
                state, caller
            ):
                return  # a revoked grant ends the stream
            if not items:
                if await request.is_disconnected():
                    return
                await hub.wait_beyond(cursor, _HEARTBEAT_S)
    finally:
        state.metrics.sse_clients.dec()


@router.get(
    "/stream",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}}, 401: {}, 403: {}, 404: {}},
    summary="Live status changes (Server-Sent Events)",
)
async def stream(
    request: Request,
    state: StateDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ticket: Annotated[
        str | None, Query(max_length=100, description="from POST /stream/tickets")
    ] = None,
    case: Annotated[UUID | None, Query(description="only this case")] = None,
    window: Annotated[str | None, Query(max_length=64, description="only this window")] = None,
    after: Annotated[int | None, Query(ge=0, le=2**62, description="start after")] = None,
    limit: Annotated[
        int | None, Query(ge=1, le=100_000, description="close after this many events")
    ] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=32)] = None,
) -> Any:
    """Status changes in log order, live; resumable with ``Last-Event-ID``."""
    caller: Caller | None
    if credentials is not None:
        caller = caller_of(
            state,
            request,
            credentials.credentials,
            request.headers.get("X-Act-As"),
            request.headers.get("X-Purpose"),
        )
    elif ticket:
        caller = state.tickets.redeem(ticket)
        if caller is None:
            raise ApiProblem("unauthorized", "the stream ticket is unknown, used or expired")
        request.state.staff_id = caller.staff_id
    else:
        raise ApiProblem("unauthorized", "a bearer token or a stream ticket is required")
    await authorise(state, request, caller, STAFF_READERS, "the stream")
    cursor = after if after is not None else state.hub.position
    resumed = parse_last_event_id(last_event_id)  # a reconnect: it wins over ?after=
    if resumed is not None:
        cursor = resumed
    if case is not None:
        await run_in_threadpool(state.hub.case_exists_check, case)
    return EventSourceResponse(
        _events(request, state, caller, cursor, str(case) if case else None, window, limit),
        ping=int(_HEARTBEAT_S),
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.post(
    "/stream/tickets",
    status_code=201,
    responses={401: {}, 403: {}},
    summary="A single-use ticket for one GET /stream (valid 60 s)",
)
async def stream_ticket(request: Request, state: StateDep, caller: CallerDep) -> dict[str, Any]:
    """For ``EventSource``, which cannot send headers: ``GET /stream?ticket=...``."""
    actor: Actor = await authorise(state, request, caller, STAFF_READERS, "the stream")
    ticket = state.tickets.issue(Caller(actor.staff_id, actor.role, caller.purpose))
    return {"ticket": ticket, "expires_in": int(TICKET_SECONDS)}
