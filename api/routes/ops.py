"""Operations: ``/health`` (store reachable, projection lag) and ``/metrics`` (Prometheus)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from casestore.projections.runtime.status import recorded_tree
from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from ..deps import StateDep
from ..faults import RETRY_AFTER_SECONDS, unavailable_reason
from ..metrics import CONTENT_TYPE
from ..problems import problem

router = APIRouter(tags=["operations"])
log = logging.getLogger("casestore.api")


#: Each probe of ``/health`` gets this long; the whole answer comes within about 2 s.
HEALTH_PROBE_SECONDS = 1.5


async def _probe(fn: Callable[[], Any]) -> tuple[Any, str | None]:
    """(result, None) or (None, why it failed) within the probe budget."""
    try:
        return await asyncio.wait_for(run_in_threadpool(fn), HEALTH_PROBE_SECONDS), None
    except TimeoutError:
        return None, f"no answer within {HEALTH_PROBE_SECONDS} s"
    except Exception as e:
        return None, unavailable_reason(e) or f"{type(e).__name__}: {e}"


def _views(state: Any, head: int | None) -> dict[str, Any]:
    """Each live projection's position, lag, age (seconds its oldest unapplied event has
    waited) and parked events."""
    rows = state.read.db.all_tracking()
    parked = state.read.parked()
    now_us = time.time_ns() // 1000
    out: dict[str, Any] = {}
    for r in sorted((r for r in rows if r.kind == "live"), key=lambda r: r.projection):
        lag = max((head or r.position) - r.position, 0)
        age = 0.0
        if lag:
            waiting = list(state.service.log_rows(r.position, upto=r.position + 1))
            age = max(now_us - waiting[0].recorded_at_us, 0) / 1e6 if waiting else 0.0
        out[r.projection] = {
            "position": r.position,
            "lag": lag,
            "age_seconds": round(age, 3),
            "parked": parked.get(r.projection, []),
            **recorded_tree(r),
        }
    return out


def _writes(state: Any) -> str | None:
    """Why commands cannot be written now (None when nothing says so)."""
    problem: str | None = state.service.write_problem()
    return problem


@router.get(
    "/health",
    responses={503: {"description": "the database cannot be read or commands cannot be taken"}},
    summary="Database, writes, projections: each part's state within 2 s",
)
async def health(state: StateDep) -> Any:
    """``ok``; ``degraded`` when a projection parked events (their positions are listed;
    ``casestore project retry NAME`` re-applies them after a fix); 503 ``unavailable``
    naming the failing part when the database does not answer or commands cannot be
    written. Each part is probed with a time budget, so the answer never hangs.

    A projection's position is also the size of the log prefix it was built from: its
    ``tree_size`` and ``tree_root`` are what the projection recorded with that position
    (in the same transaction as its rows): the prefix's Merkle root, the one a signed
    checkpoint of that size carries (null while the projection is ahead of the tree
    worker; its worker records it once the tree is there)."""
    head_probe, views_probe = await asyncio.gather(
        _probe(lambda: state.service.head()[0]), _probe(lambda: _views(state, None))
    )
    head, db_error = head_probe
    views, views_error = views_probe
    writes_error = None
    if db_error is None:
        reason, probe_error = await _probe(lambda: _writes(state))
        writes_error = reason or probe_error
    if views is not None and head is not None:
        views = {name: {**v, "lag": max(head - v["position"], 0)} for name, v in views.items()}
    replica, replica_error = await _probe(lambda: state.read.replica_status(head))
    parked = any(v["parked"] for v in (views or {}).values())
    body: dict[str, Any] = {
        "database": {"ok": db_error is None, "backend": state.service.backend, "head": head}
        | ({"error": db_error} if db_error else {}),
        "writes": {"ok": db_error is None and writes_error is None}
        | ({"error": writes_error or db_error} if (writes_error or db_error) else {}),
        "views": {"ok": views_error is None} | ({"error": views_error} if views_error else {}),
        "store": {"backend": state.service.backend, "head": head},
        "projections": views or {},
        "workers": state.workers,
        "stream": {"position": state.hub.position, "lag": max((head or 0) - state.hub.position, 0)},
    }
    if replica is not None or replica_error is not None:
        # Views read from a streaming replica (CASESTORE_READ_DB): its lag behind the log.
        body["read_replica"] = replica or {"error": replica_error}
    if db_error or writes_error:
        failing = "database" if db_error else "writes"
        log.warning("health: %s failing: %s", failing, db_error or writes_error)
        return problem(
            "unavailable",
            f"{failing}: {db_error or writes_error}",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            **body,
        )
    return {"status": "degraded" if parked or views_error else "ok", **body}


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
