"""The one stage machine: a case's stage after each event (pure, stdlib only).

Every place that shows a stage computes it here: the ``Case`` aggregate as it replays
its events, the read side's folds (``case_status``, the case facts behind compliance,
supervision and the hall board) and the SSE stream. Events never refuse (history
imported from a legacy system replays even where it broke a rule), so the machine is
total: an event that does not move a case from its current stage leaves it there.

    received ⇄ supplementing → accepted → under_review → decided | denied
    decided → sealed → delivered;  received/supplementing → rejected;  … → withdrawn
"""

from __future__ import annotations

from typing import Final

STAGES: Final = (
    "received",
    "supplementing",
    "accepted",
    "under_review",
    "decided",
    "denied",
    "sealed",
    "delivered",
    "rejected",
    "withdrawn",
)
INITIAL: Final = "received"
PRE_ACCEPTANCE: Final = frozenset({"received", "supplementing"})
#: The decision is still open: reviews, surveys, suspensions, extensions, the decision.
DECIDING: Final = frozenset({"accepted", "under_review"})
#: After these nothing but evaluation, bad-review handling, follow-up and corrections.
CLOSED: Final = frozenset({"delivered", "rejected", "withdrawn", "denied"})

#: Events that set the stage whatever it was.
_TO: Final[dict[str, str]] = {
    "Submitted": "received",
    "Accepted": "accepted",
    "Rejected": "rejected",
    "Withdrawn": "withdrawn",
    "Sealed": "sealed",
    "Delivered": "delivered",
}
#: Events that move the stage only from certain stages: event -> {from: to}.
_FROM: Final[dict[str, dict[str, str]]] = {
    "SupplementRequested": {"received": "supplementing", "supplementing": "supplementing"},
    "SupplementReceived": {"supplementing": "received"},
    "ReviewRecorded": {"accepted": "under_review"},
}
#: Every event name that can change a stage.
STAGE_EVENTS: Final = frozenset({*_TO, *_FROM, "Decided"})


def next_stage(stage: str, event: str, outcome: str | None = None) -> str:
    """The stage after ``event`` (a ``Case`` event class name) at ``stage``.

    ``outcome`` is a ``Decided`` event's outcome (``approve`` → ``decided``, anything
    else → ``denied``); other events ignore it.
    """
    to = _TO.get(event)
    if to is not None:
        return to
    if event == "Decided":
        return "decided" if outcome == "approve" else "denied"
    moves = _FROM.get(event)
    if moves is not None:
        return moves.get(stage, stage)
    return stage


def stage_of(events: list[tuple[str, str | None]]) -> str:
    """The stage after a sequence of (event name, outcome) from the start."""
    stage = INITIAL
    for event, outcome in events:
        stage = next_stage(stage, event, outcome)
    return stage
