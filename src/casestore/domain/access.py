"""Reads that leave a trace: one ``AccessRecorded`` event per accountable read.

Disciplinary inspection (纪检监察) asks *who looked at this applicant's personal data*.
Every response that shows an ID number or phone in full, every audit timeline and
export, and every as-of reconstruction by an auditor or inspector is recorded as an
event of its own small aggregate, appended through the group commit like any command,
so the trail is hash-chained with everything else and cannot be edited quietly.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Final
from uuid import UUID

from eventsourcing.domain import Aggregate

from casestore.domain.values import Actor, require_text

ROUTE_MAX: Final = 200
PURPOSE_MAX: Final = 500
CASES_MAX: Final = 1000


class Access(Aggregate):
    """One accountable read (a one-event aggregate: no two reads ever conflict)."""

    class AccessRecorded(Aggregate.Created):
        actor: Actor
        route: str
        purpose: str
        case_ids: list[UUID]

        @property
        def recorded_at(self) -> datetime:
            return self.timestamp

    EVENT_NAMES: ClassVar[tuple[str, ...]] = ("AccessRecorded",)

    def __init__(self) -> None:
        self.route = ""

    @classmethod
    def record(
        cls,
        *,
        access_id: UUID,
        actor: Actor,
        route: str,
        purpose: str,
        case_ids: list[UUID],
        at: datetime,
    ) -> Access:
        """Who (staff id and the role they acted in) read what, why and when."""
        return cls._create(
            cls.AccessRecorded,
            id=access_id,
            timestamp=at,
            actor=actor,
            route=require_text(route, "route")[:ROUTE_MAX],
            purpose=purpose.strip()[:PURPOSE_MAX],
            case_ids=list(case_ids)[:CASES_MAX],
        )
