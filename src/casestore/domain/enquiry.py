"""Enquiries and requests (群众诉求/咨询) the hall takes that are not tied to a case.

The seed's 领导带班窗口, 志愿者服务站, 项目建设综合窗口 and 招商引资绿色通道 all take
people's requests and questions. Each is an :class:`Enquiry`: received (channel,
window, topic), answered, referred to another unit (转办), closed. The handling clock
(working days, ``ClockConfig.enquiry_days``) is copied into the ``Received`` event, so
a later change of configuration never moves an old enquiry's deadline; the clock stops
at the first answer, or at closing when there was none (a referral does not stop it:
the bureau stays answerable until it closes the enquiry). Supervision rule S16 flags an
enquiry past its clock.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Final
from uuid import UUID

from eventsourcing.domain import Aggregate

from casestore.domain.errors import AlreadyDone, OutOfOrder
from casestore.domain.values import (
    Actor,
    check_business_time,
    require,
    require_choice,
    require_text,
)

#: 诉求 (a request the bureau must act on) or 咨询 (a question).
ENQUIRY_KINDS: Final = frozenset({"request", "consultation"})
#: How it reached the bureau (12345 is the government service hotline).
ENQUIRY_CHANNELS: Final = frozenset({"window", "phone", "hotline", "online", "mobile", "letter"})
#: How it ended.
ENQUIRY_OUTCOMES: Final = frozenset({"resolved", "explained", "unresolved", "withdrawn"})
#: Bounds at the door: a topic is a line, content and answers a page.
MAX_TOPIC: Final = 200
MAX_TEXT: Final = 4000
MAX_HANDLING_DAYS: Final = 366  # as every ClockConfig working-day setting


def _text(value: str, name: str, limit: int, *, blank: bool = False) -> str:
    if blank and isinstance(value, str) and not value.strip():
        return ""
    text = require_text(value, name)
    require(len(text) <= limit, f"{name} is longer than {limit} characters")
    return text


class Enquiry(Aggregate):
    """One 群众诉求 or 咨询 and what the bureau did with it."""

    EVENT_NAMES: ClassVar[tuple[str, ...]] = ("Received", "Answered", "Referred", "Closed")

    class Event(Aggregate.Event):
        actor: Actor
        occurred_at: datetime | None

    class Received(Event, Aggregate.Created):
        kind: str
        channel: str
        service_window: str
        topic: str
        content: str
        requester: str
        contact: str
        handling_days: int

        def apply(self, enquiry: Enquiry) -> None:
            enquiry.kind = self.kind
            enquiry.handling_days = self.handling_days

    class Answered(Event):
        answer: str

        def apply(self, enquiry: Enquiry) -> None:
            enquiry.answered = True

    class Referred(Event):
        to_unit: str
        reason: str

        def apply(self, enquiry: Enquiry) -> None:
            enquiry.referred_to = self.to_unit

    class Closed(Event):
        outcome: str
        note: str

        def apply(self, enquiry: Enquiry) -> None:
            enquiry.closed = True

    def __init__(self) -> None:
        self.kind = ""
        self.handling_days = 0
        self.answered = False
        self.referred_to = ""
        self.closed = False

    @classmethod
    def receive(
        cls,
        *,
        enquiry_id: UUID,
        kind: str,
        channel: str,
        service_window: str,
        topic: str,
        content: str = "",
        requester: str = "",
        contact: str = "",
        handling_days: int,
        actor: Actor,
        at: datetime,
        occurred_at: datetime | None = None,
    ) -> Enquiry:
        """Record a request or question as it arrives (the handling clock starts)."""
        require_choice(kind, ENQUIRY_KINDS, "kind")
        require_choice(channel, ENQUIRY_CHANNELS, "channel")
        require(
            isinstance(handling_days, int) and 0 <= handling_days <= MAX_HANDLING_DAYS,
            f"handling_days must be 0..{MAX_HANDLING_DAYS}",
        )
        if occurred_at is not None:
            check_business_time(occurred_at, at)
        return cls._create(
            cls.Received,
            id=enquiry_id,
            timestamp=at,
            actor=actor,
            occurred_at=occurred_at,
            kind=kind,
            channel=channel,
            service_window=_text(service_window, "service_window", 64, blank=True),
            topic=_text(topic, "topic", MAX_TOPIC),
            content=_text(content, "content", MAX_TEXT, blank=True),
            requester=_text(requester, "requester", 100, blank=True),
            contact=_text(contact, "contact", 100, blank=True),
            handling_days=handling_days,
        )

    def _require_open(self, what: str) -> None:
        if self.closed:
            raise OutOfOrder(f"the enquiry is closed: it cannot be {what}")

    def _business_time(self, occurred_at: datetime | None, at: datetime) -> None:
        if occurred_at is not None:
            check_business_time(occurred_at, at)

    def answer(
        self, answer: str, *, actor: Actor, at: datetime, occurred_at: datetime | None = None
    ) -> None:
        """Answer it (答复); stops the handling clock. Once."""
        self._require_open("answered")
        if self.answered:
            raise AlreadyDone("the enquiry was answered already")
        self._business_time(occurred_at, at)
        self.trigger_event(
            self.Answered,
            timestamp=at,
            actor=actor,
            occurred_at=occurred_at,
            answer=_text(answer, "answer", MAX_TEXT),
        )

    def refer(
        self,
        to_unit: str,
        reason: str,
        *,
        actor: Actor,
        at: datetime,
        occurred_at: datetime | None = None,
    ) -> None:
        """Refer it to the unit that can act (转办); the clock keeps running. Once."""
        self._require_open("referred")
        if self.referred_to:
            raise AlreadyDone(f"the enquiry was referred to {self.referred_to} already")
        self._business_time(occurred_at, at)
        self.trigger_event(
            self.Referred,
            timestamp=at,
            actor=actor,
            occurred_at=occurred_at,
            to_unit=_text(to_unit, "to_unit", 100),
            reason=_text(reason, "reason", MAX_TEXT, blank=True),
        )

    def close(
        self,
        outcome: str,
        note: str = "",
        *,
        actor: Actor,
        at: datetime,
        occurred_at: datetime | None = None,
    ) -> None:
        """Close it (办结) with its outcome; stops the clock if no answer did."""
        self._require_open("closed again")
        require_choice(outcome, ENQUIRY_OUTCOMES, "outcome")
        require(
            self.answered or bool(self.referred_to) or outcome == "withdrawn",
            "an enquiry is closed after it was answered or referred (or withdrawn)",
        )
        self._business_time(occurred_at, at)
        self.trigger_event(
            self.Closed,
            timestamp=at,
            actor=actor,
            occurred_at=occurred_at,
            outcome=outcome,
            note=_text(note, "note", MAX_TEXT, blank=True),
        )
