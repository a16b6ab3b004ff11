"""The one stage machine (casestore.domain.stages), by hand from the README's stage rules."""

from __future__ import annotations

import pytest

from casestore.domain.stages import CLOSED, STAGE_EVENTS, STAGES, next_stage, stage_of

# (stage, event, outcome) -> stage after, written from the README's "Stages" decision.
TABLE = [
    ("received", "Submitted", None, "received"),
    ("received", "SupplementRequested", None, "supplementing"),
    ("supplementing", "SupplementRequested", None, "supplementing"),  # a repeated notice (S04)
    ("supplementing", "SupplementReceived", None, "received"),
    ("received", "SupplementReceived", None, "received"),  # nothing to receive: no move
    ("received", "Accepted", None, "accepted"),
    ("accepted", "ReviewRecorded", None, "under_review"),
    ("under_review", "ReviewRecorded", None, "under_review"),
    ("under_review", "Decided", "approve", "decided"),
    ("under_review", "Decided", "deny", "denied"),
    ("decided", "Sealed", None, "sealed"),
    ("sealed", "Delivered", None, "delivered"),
    ("received", "Rejected", None, "rejected"),
    ("accepted", "Withdrawn", None, "withdrawn"),
    # events that never move a stage
    ("under_review", "SurveyScheduled", None, "under_review"),
    ("under_review", "ClockSuspended", None, "under_review"),
    ("delivered", "Evaluated", None, "delivered"),
    ("delivered", "FollowUpRecorded", None, "delivered"),
    ("denied", "Corrected", None, "denied"),
    # imported history that broke a rule still moves deterministically
    ("accepted", "SupplementRequested", None, "accepted"),  # a notice after acceptance
    ("under_review", "SupplementReceived", None, "under_review"),
    ("delivered", "ReviewRecorded", None, "delivered"),
    ("received", "Decided", "approve", "decided"),  # decided without acceptance
    ("denied", "Sealed", None, "sealed"),  # a seal on a denial
    ("withdrawn", "Accepted", None, "accepted"),  # accepted after a withdrawal
]


@pytest.mark.parametrize(("stage", "event", "outcome", "after"), TABLE)
def test_next_stage(stage: str, event: str, outcome: str | None, after: str) -> None:
    assert next_stage(stage, event, outcome) == after


def test_every_result_is_a_stage() -> None:
    events = [*sorted(STAGE_EVENTS), "Evaluated", "Corrected", "Unknown"]
    for stage in STAGES:
        for event in events:
            for outcome in ("approve", "deny", None):
                assert next_stage(stage, event, outcome) in STAGES


def test_the_usual_path_and_a_closing() -> None:
    path = [("Submitted", None), ("Accepted", None), ("ReviewRecorded", None),
            ("Decided", "approve"), ("Sealed", None), ("Delivered", None)]
    assert stage_of(path) == "delivered" and "delivered" in CLOSED
    assert stage_of([("Submitted", None), ("SupplementRequested", None)]) == "supplementing"
