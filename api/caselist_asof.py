"""The case list as it stood at a past log position (``GET /cases?as_of=`` / ``?at_position=``).

The ``case_status`` view is rebuilt from the events up to that position — the same
projection code and the same build as ``casestore project rebuild case_status --until T
--target NAME`` — into a target beside the live view, named after the position
(``cases_p<P>``), and queried with the live list's own search. Two moments with the same
last event share one build. Bounded: one build or query at a time (a query never meets
a target another request is dropping), and only the ``KEEP`` newest such targets are
kept (older ones dropped; a cursor into a dropped one is answered from a new build).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Final, TypeVar

from casestore.projections.engine.base import physical
from casestore.projections.engine.db import drop_target
from casestore.projections.readmodels.case_status.projection import CaseStatusView
from casestore.projections.runtime.registry import get_projection

from casestore.domain.errors import NotFound

from .deps import ApiState
from .problems import ApiProblem

PROJECTION: Final = "case_status"
PREFIX: Final = "cases_p"
KEEP: Final = 8
_LOCK = threading.Lock()
T = TypeVar("T")


def target_of(position: int) -> str:
    """The target holding the case list as of log position ``position``."""
    return f"{PREFIX}{position}"


def case_list_at(state: ApiState, position: int, query: Callable[[CaseStatusView], T]) -> T:
    """``query`` over the ``case_status`` view as of log ``position`` (built on first use)."""
    head, _ = state.service.head()
    if position > head:
        raise NotFound(f"the log has {head} events; there is no position {position} yet")
    if state.read.replica:
        raise ApiProblem(
            "unavailable",
            "a past case list is built on the primary; this server reads its views from a "
            "read-only copy (run `casestore project rebuild case_status --until T --target "
            "NAME` on the primary and pass ?target=NAME)",
        )
    target = target_of(position)
    db = state.read.db
    projection = get_projection(PROJECTION)
    with _LOCK:
        row = db.tracking(physical(PROJECTION, target))
        if row is None or row.version != projection.version:
            state.wiring.rebuild_as_of(PROJECTION, at_position=position, target=target, db=db)
        rows = [r for r in db.all_tracking() if r.target.startswith(PREFIX)]
        rows.sort(key=lambda r: r.created_at_us, reverse=True)
        for old in [r for r in rows if r.target != target][KEEP - 1 :]:
            drop_target(db, get_projection(old.projection), old.target)
        return query(CaseStatusView(db, target))
