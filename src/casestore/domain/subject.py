"""Forgetting a subject (crypto-shredding): the ``SubjectForgotten`` record in the log.

个人信息保护法 Art. 47 asks for deletion once data is no longer needed; the 档案 rules say
how long a case must be kept. ``casestore forget`` destroys the subject's data keys (kept
outside the log) and appends this event, which holds no personal data: the subject's
keyed hash (its *ref*), the keys destroyed, the cases (as applicant, as agent) and
bundles they protected, who asked, who approved, why, and whether retention was
overridden (a court order or a change in the law). Views read it to show 〔已删除〕
for those cases' personal fields.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Final
from uuid import UUID

from eventsourcing.domain import Aggregate

from casestore.domain.values import Actor, require, require_text

REASON_MAX: Final = 500
OWNERS_MAX: Final = 10_000


class Subject(Aggregate):
    """One forgetting (a one-event aggregate: a subject may come back with a new case and
    be forgotten again)."""

    class SubjectForgotten(Aggregate.Created):
        actor: Actor
        approved_by: str
        reason: str
        subject_ref: str
        key_ids: list[str]
        case_ids: list[UUID]
        agent_case_ids: list[UUID]
        bundle_ids: list[UUID]
        ignore_retention: bool

        @property
        def recorded_at(self) -> datetime:
            return self.timestamp

    EVENT_NAMES: ClassVar[tuple[str, ...]] = ("SubjectForgotten",)

    def __init__(self) -> None:
        self.subject_ref = ""

    @classmethod
    def forget(
        cls,
        *,
        forgetting_id: UUID,
        actor: Actor,
        approved_by: str,
        reason: str,
        subject_ref: str,
        key_ids: list[str],
        case_ids: list[UUID],
        agent_case_ids: list[UUID],
        bundle_ids: list[UUID],
        ignore_retention: bool,
        at: datetime,
    ) -> Subject:
        """Record that a subject's keys were destroyed (by ``actor``, approved by another)."""
        require(actor.role == "admin", "only an admin forgets a subject")
        require_text(approved_by, "approved_by")
        require(approved_by != actor.staff_id, "the second approver must be someone else")
        require(bool(key_ids), "the subject has no live data key to destroy")
        return cls._create(
            cls.SubjectForgotten,
            id=forgetting_id,
            timestamp=at,
            actor=actor,
            approved_by=approved_by,
            reason=require_text(reason, "reason")[:REASON_MAX],
            subject_ref=require_text(subject_ref, "subject_ref"),
            key_ids=sorted(key_ids),
            case_ids=list(case_ids)[:OWNERS_MAX],
            agent_case_ids=list(agent_case_ids)[:OWNERS_MAX],
            bundle_ids=list(bundle_ids)[:OWNERS_MAX],
            ignore_retention=ignore_retention,
        )
