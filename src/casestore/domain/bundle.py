"""Bundles (一件事一次办): one intake, child cases per item, one pickup."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate

from casestore.domain.errors import AlreadyDone, Forbidden
from casestore.domain.values import Actor, Party, check_business_time, require, require_text

#: 行政许可法 Art. 42 ¶2: a jointly handled matter takes 45 working days, +15 once.
BUNDLE_STATUTORY_DAYS = 45
BUNDLE_EXTENSION_DAYS = 15


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

    class ExtensionGranted(Event):
        days: int
        reason: str

        def apply(self, bundle: Bundle) -> None:
            bundle.extended = True

    def __init__(self) -> None:
        self.code = ""
        self.children: dict[str, UUID] = {}
        self.extended = False

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

    def extend(self, *, reason: str, actor: Actor, at: datetime) -> None:
        """Extend the bundle's joint clock by 15 working days, once (approver only)."""
        if actor.role != "approver":
            raise Forbidden("only an approver may extend a bundle")
        if self.extended:
            raise AlreadyDone("a bundle may be extended once")
        self.trigger_event(
            self.ExtensionGranted,
            timestamp=at,
            actor=actor,
            occurred_at=None,
            days=BUNDLE_EXTENSION_DAYS,
            reason=require_text(reason, "reason"),
        )
