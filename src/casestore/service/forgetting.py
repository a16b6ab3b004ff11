"""Forgetting subjects and the retention that decides when (SPEC §10, issue 18).

``forget`` is an admin's act with a second admin's approval. Unless retention is
overridden (a court order or a change in the law, recorded with its reason), it is
refused while any of the subject's cases is open or inside its item's retention period
(``retention_years`` in the catalogue, counted from the day the case closed).

Order: the ``SubjectForgotten`` record is appended first, then the keys are destroyed.
A crash between the two leaves the keys live and the record saying they are gone; the
next ``forget`` of the subject finishes the job (the record is idempotent in meaning).
A command racing the forget on one of the subject's cases either committed before the
key was destroyed (its personal fields are erased with it), or finds the key destroyed
— when sealing, or in its commit's check of the keys it was sealed under
(``keyguard``) — and is refused (``SubjectErased``): never half-applied.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final
from uuid import UUID, uuid4

from casestore.authority import Authority
from casestore.domain.bundle import Bundle
from casestore.domain.case import Case
from casestore.domain.catalogue import DEFAULT_RETENTION_YEARS, Item, item_id
from casestore.domain.errors import InvalidCommand, NotFound, RuleViolation
from casestore.domain.stages import CLOSED, INITIAL, next_stage
from casestore.domain.subject import Subject
from casestore.store.application import CasestoreApp
from casestore.store.subjectkeys import SubjectKeys

ADMIN: Final = frozenset({"admin"})


@dataclass(frozen=True)
class CaseRetention:
    """One of a subject's cases: its stage, when it closed and until when it is kept."""

    case_id: UUID
    case_no: str
    item_code: str
    stage: str
    closed_at: datetime | None
    keep_until: datetime | None

    def due(self, now: datetime) -> bool:
        return self.keep_until is not None and self.keep_until <= now


@dataclass(frozen=True)
class SubjectRetention:
    """A subject's cases (as applicant or agent) and bundles, by what its keys protect."""

    subject_ref: str
    cases: list[CaseRetention]
    bundles: list[UUID] = field(default_factory=list)
    as_agent: frozenset[UUID] = frozenset()

    def due(self, now: datetime) -> bool:
        return bool(self.cases) and all(c.due(now) for c in self.cases)


@dataclass(frozen=True)
class Forgotten:
    position: int
    subject_ref: str
    key_ids: list[str]
    case_ids: list[UUID]


def _add_years(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year + years, day=28)


class Forgetting:
    """The subject-level commands: ``forget`` and the retention look-ups behind it."""

    def __init__(self, app: CasestoreApp, clock: Callable[[], datetime]) -> None:
        if app.subject_keys is None:
            raise InvalidCommand(
                "forgetting needs per-subject keys: set CASESTORE_CIPHER_KEY (the master key)"
            )
        self.app = app
        self.keys: SubjectKeys = app.subject_keys
        self.clock = clock
        self.authority = Authority(app, clock)

    # -- retention -----------------------------------------------------------------------

    def case_retention(self, case_id: UUID) -> CaseRetention:
        """A case's stage and closing time, by the one stage machine over its events."""
        events = self.app.domain_events(case_id)
        if not events or not isinstance(events[0], Case.Submitted):
            raise NotFound(f"no case {case_id}")
        stage, closed_at = INITIAL, None
        for event in events:
            after = next_stage(stage, type(event).__name__, getattr(event, "outcome", None))
            if after in CLOSED and stage not in CLOSED:
                closed_at = event.occurred_at or event.timestamp
            stage = after
        first = events[0]
        years = self._retention_years(first.item_code)
        keep = _add_years(closed_at, years) if closed_at and stage in CLOSED else None
        return CaseRetention(case_id, first.case_no, first.item_code, stage, closed_at, keep)

    def _retention_years(self, item_code: str) -> int:
        try:
            years: int = self.app.get(Item, item_id(item_code)).retention_years
            return years
        except NotFound:
            return DEFAULT_RETENTION_YEARS

    def subject(self, ref: str) -> SubjectRetention:
        """What a subject's live keys protect: its cases (with retention) and bundles."""
        cases: dict[UUID, CaseRetention] = {}
        bundles: list[UUID] = []
        applicant: set[UUID] = set()
        for owner, party, _key, destroyed in self.keys.owners(ref):
            if destroyed:
                continue
            owner_id = UUID(owner)
            try:
                cases.setdefault(owner_id, self.case_retention(owner_id))
            except NotFound:
                if self._is_bundle(owner_id):
                    bundles.append(owner_id)
                continue
            if party == "applicant":
                applicant.add(owner_id)
        return SubjectRetention(ref, list(cases.values()), bundles, frozenset(cases) - applicant)

    def _is_bundle(self, owner_id: UUID) -> bool:
        try:
            self.app.get(Bundle, owner_id)
        except NotFound:
            return False
        return True

    def retention_due(self) -> list[SubjectRetention]:
        """Subjects whose every case is closed and past its retention period."""
        now = self.clock()
        return [s for ref in self.keys.refs() if (s := self.subject(ref)).due(now)]

    # -- forgetting ----------------------------------------------------------------------

    def forget(
        self,
        subject: str,
        *,
        by: str,
        approved_by: str,
        reason: str,
        ignore_retention: bool = False,
    ) -> Forgotten:
        """Destroy the subject's data keys and append ``SubjectForgotten``."""
        actor = self.authority.actor(by, allowed=ADMIN, what="forgetting a subject")
        if approved_by == by:
            raise InvalidCommand("the second approver must be someone other than --by")
        self.authority.actor(approved_by, allowed=ADMIN, what="approving a forgetting")
        if not reason.strip():
            raise InvalidCommand("give the reason (kept in the log)")
        if len(reason) > 2000:  # kept in the log forever: bounded like the API's texts
            raise InvalidCommand("the reason is longer than 2000 characters")
        ref = self.keys.ref_of(subject)
        held = self.subject(ref)
        live = sorted({k for _o, _p, k, gone in self.keys.owners(ref) if not gone})
        if not live:
            raise NotFound("no personal data of this subject is held (or it is forgotten)")
        now = self.clock()
        if not ignore_retention:
            kept = [c for c in held.cases if not c.due(now)]
            if kept:
                raise RuleViolation(
                    "retention not over for "
                    + ", ".join(f"{c.case_no} ({c.stage}, kept until {c.keep_until})" for c in kept)
                    + "; --ignore-retention only for a court order or a change in the law",
                )
        record = Subject.forget(
            forgetting_id=uuid4(),
            actor=actor,
            approved_by=approved_by,
            reason=reason,
            subject_ref=ref,
            key_ids=live,
            case_ids=[c.case_id for c in held.cases if c.case_id not in held.as_agent],
            agent_case_ids=sorted(held.as_agent),
            bundle_ids=held.bundles,
            ignore_retention=ignore_retention,
            at=now,
        )
        position = self.app.append(record)[-1]
        destroyed = self.keys.destroy(ref)
        cases = [c.case_id for c in held.cases]
        return Forgotten(position, ref, sorted(set(live) | set(destroyed)), cases)
