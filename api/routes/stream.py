"""``GET /stream``: Server-Sent Events of status changes, resumable by log position.

Each event is ``event: status``, ``id: <log position>`` and a JSON ``data`` line
(case id and number, item, intake window, event name, stage after it, times, actor).
``Last-Event-ID`` (or ``?after=`` for a first connection) resumes right after that
position; without either the stream starts at the current head.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Header, Query, Request
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from ..bounds import parse_last_event_id
from ..deps import ApiState, StateDep, StreamActorDep

router = APIRouter(tags=["live"])
_HEARTBEAT_S = 15.0


async def _events(
    request: Request,
    state: ApiState,
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
    actor: StreamActorDep,
    state: StateDep,
    case: Annotated[UUID | None, Query(description="only this case")] = None,
    window: Annotated[str | None, Query(max_length=64, description="only this window")] = None,
    after: Annotated[int | None, Query(ge=0, le=2**62, description="start after")] = None,
    limit: Annotated[
        int | None, Query(ge=1, le=100_000, description="close after this many events")
    ] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=32)] = None,
) -> Any:
    """Status changes in log order, live; resumable with ``Last-Event-ID``."""
    cursor = after if after is not None else state.hub.position
    resumed = parse_last_event_id(last_event_id)  # a reconnect: it wins over ?after=
    if resumed is not None:
        cursor = resumed
    if case is not None:
        await run_in_threadpool(state.hub.case_exists_check, case)
    return EventSourceResponse(
        _events(request, state, cursor, str(case) if case else None, window, limit),
        ping=int(_HEARTBEAT_S),
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
