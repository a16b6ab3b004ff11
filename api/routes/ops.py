"""Operations: ``/health`` (store reachable, projection lag) and ``/metrics`` (Prometheus)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from ..deps import StateDep
from ..metrics import CONTENT_TYPE
from ..problems import problem

router = APIRouter(tags=["operations"])
log = logging.getLogger("casestore.api")


@router.get(
    "/health",
    responses={503: {"description": "the event store is not reachable"}},
    summary="Store reachability and projection lag",
)
async def health(state: StateDep) -> Any:
    """``ok`` with the log head and each projection's position and lag (in events);
    ``degraded`` when a projection parked events it could not apply (their positions
    are listed; ``casestore project retry NAME`` re-applies them after a fix)."""
    try:
        head, positions = await run_in_threadpool(state.read.positions)
        parked = await run_in_threadpool(state.read.parked)
    except Exception as e:
        log.warning("health check failed", extra={"error": repr(e)})
        return problem("unavailable", f"the event store is not reachable: {type(e).__name__}")
    return {
        "status": "degraded" if parked else "ok",
        "store": {"backend": state.store.backend, "head": head},
        "projections": {
            name: {
                "position": pos,
                "lag": max(head - pos, 0),
                "parked": parked.get(name, []),
            }
            for name, pos in sorted(positions.items())
        },
        "workers": state.workers,
        "stream": {"position": state.hub.position, "lag": max(head - state.hub.position, 0)},
    }


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {}}}},
    summary="Prometheus metrics",
)
async def metrics(state: StateDep) -> Response:
    """Commands by action and outcome, latencies, projection positions and lag."""
    state.metrics.stream_position.set(state.hub.position)
    body = await run_in_threadpool(state.metrics.render)
    return Response(body, media_type=CONTENT_TYPE)
