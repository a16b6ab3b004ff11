"""Bundles (一件事一次办): one intake, child cases per item, one pickup."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from eventsourcing.domain import Aggregate

from casestore.domain.errors import AlreadyDone, DeadlinePassed, Forbidden
from casestore.domain.values import (
    NOTICE_METHODS,
    Actor,
    Party,
    check_business_time,
    local_date,
    require,
    require_choice,
    require_text,
)

#: 行政许可法 Art. 42 ¶2: a jointly handled matter takes 45 working days, +15 once.
BUNDLE_STATUTORY_DAYS = 45
BUNDLE_EXTENSION_DAYS = 15
#: Bound of the approving authority and document reference texts.
MAX_AUTHORITY_CHARS = 200


class Bundle(Aggregate):
    """A packaged application whose status derives from its child cases."""

    class Event(Aggregate.Event):
        actor: Actor
        occurred_at: datetime | None

    class Opened(Event, Aggregate.Created):
        code: str
        name: str
        applicant: Party
        children: dict[str, UUID]  # item code -> child case id
        promised_days: int
        statutory_days: int

        def apply(self, bundle: Bundle) -> None:
            bundle.code = self.code
            bundle.children = dict(self.children)
            bundle.opened_on = local_date(self.occurred_at or self.timestamp)
            bundle.statutory_days = self.statutory_days

    class ExtensionGranted(Event):
        days: int
        reason: str
        # Added with issue 19 (optional: older events decode with these defaults). Art. 42
        # ¶2: the joint extension is approved by 本级人民政府负责人 (who, and the document
        # that records it); its reason is told to the applicant (when, how).
        approved_by: str = ""
        approval_document: str = ""
        applicant_told_at: datetime | None = None
        told_how: str = ""

        def apply(self, bundle: Bundle) -> None:
            bundle.extended = True

    def __init__(self) -> None:
        self.code = ""
        self.children: dict[str, UUID] = {}
        self.extended = False
        self.opened_on: date | None = None
        self.statutory_days = BUNDLE_STATUTORY_DAYS

    @classmethod
    def open(
        cls,
        *,
        bundle_id: UUID,
        code: str,
        name: str,
        applicant: Party,
        children: dict[str, UUID],
        promised_days: int,
        actor: Actor,
        at: datetime,
        occurred_at: datetime | None = None,
    ) -> Bundle:
        """One intake for several items."""
        require_text(code, "bundle code")
        require(len(children) >= 2, "a bundle packages at least two items")
        if occurred_at is not None:
            check_business_time(occurred_at, at)
        return cls._create(
            cls.Opened,
            id=bundle_id,
            timestamp=at,
            actor=actor,
            occurred_at=occurred_at,
            code=code,
            name=name,
            applicant=applicant,
            children=dict(children),
            promised_days=promised_days,
            statutory_days=BUNDLE_STATUTORY_DAYS,
        )

    def extend(
        self,
        *,
        reason: str,
        approved_by: str,
        approval_document: str,
        joint_due: date,
        in_time: bool,
        applicant_told_at: datetime | None = None,
        told_how: str = "",
        actor: Actor,
        at: datetime,
        occurred_at: datetime | None = None,
    ) -> None:
        """Extend the bundle's joint clock by 15 working days, once (行政许可法第四十二条第二款).

        Recorded by an approver; approved by 本级人民政府负责人 (``approved_by``: name and
        office) under ``approval_document`` (the approval's document number). Refused
        once the joint deadline ``joint_due`` has passed (``in_time`` is the legal-time
        module's judgement of this command against it)."""
        if actor.role != "approver":
            raise Forbidden("only an approver may extend a bundle")
        if self.extended:
            raise AlreadyDone("a bundle may be extended once")
        for value, name in ((approved_by, "approved_by"), (approval_document, "approval_document")):
            require(
                isinstance(value, str) and 0 < len(value.strip()) <= MAX_AUTHORITY_CHARS,
                f"{name} (本级人民政府负责人批准) must be 1..{MAX_AUTHORITY_CHARS} characters",
            )
        if occurred_at is not None:
            check_business_time(occurred_at, at)
        business = occurred_at or at
        if applicant_told_at is not None:
            check_business_time(applicant_told_at, at, "applicant_told_at")
            require(
                local_date(business) <= local_date(applicant_told_at),
                "the applicant is told of the extension on or after its day (告知不早于延期当日)",
            )
        if told_how:
            require_choice(told_how, NOTICE_METHODS, "told_how")
        if not in_time:
            raise DeadlinePassed(f"the joint statutory deadline {joint_due} has passed")
        self.trigger_event(
            self.ExtensionGranted,
            timestamp=at,
            actor=actor,
            occurred_at=occurred_at,
            days=BUNDLE_EXTENSION_DAYS,
            reason=require_text(reason, "reason"),
            approved_by=approved_by.strip(),
            approval_document=approval_document.strip(),
            applicant_told_at=applicant_told_at,
            told_how=told_how,
        )
