"""The case-number index: one tiny aggregate per human case number (办件编号).

Saved in the same transaction as the case it names, so a number can never be given
twice (a second ``Registered`` for the same number is a version conflict) and a case
can be found by its number without a projection.
"""

from __future__ import annotations

from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from casestore.domain.values import Actor


def case_number_id(case_no: str) -> UUID:
    """The index aggregate's id for a case number."""
    return uuid5(NAMESPACE_URL, f"casestore:case-no:{case_no}")


class CaseNumber(Aggregate):
    """Maps a case number to its case id."""

    class Registered(Aggregate.Created):
        case_no: str
        case_id: UUID
        actor: Actor
        occurred_at: datetime | None

        def apply(self, index: CaseNumber) -> None:
            index.case_no = self.case_no
            index.case_id = self.case_id

    def __init__(self) -> None:
        self.case_no = ""
        self.case_id: UUID | None = None

    @classmethod
    def register(cls, case_no: str, case_id: UUID, actor: Actor, at: datetime) -> CaseNumber:
        """Reserve ``case_no`` for ``case_id``."""
        return cls._create(
            cls.Registered,
            id=case_number_id(case_no),
            timestamp=at,
            case_no=case_no,
            case_id=case_id,
            actor=actor,
            occurred_at=None,
        )
