"""The awards register (SPEC §13): 服务标兵, 红旗窗口, 感谢信, 锦旗 as events.

服务标兵 (service star) goes to a staff member and 红旗窗口 (red-flag window) to a window,
each for a period, selected from the evaluation figures by configurable criteria (the
read side proposes candidates; a person decides and records the award). 感谢信 (thank-you
letters) and 锦旗 (silk banners) come from applicants to a staff member or a window,
possibly about one case. An award recorded in error is revoked, never deleted.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import ClassVar, Final
from uuid import UUID

from eventsourcing.domain import Aggregate

from casestore.domain.errors import AlreadyDone
from casestore.domain.values import Actor, check_business_time, require, require_text

#: kind -> (Chinese name, who receives it).
AWARD_KINDS: Final[dict[str, tuple[str, str]]] = {
    "service_star": ("服务标兵", "staff"),
    "red_flag_window": ("红旗窗口", "window"),
    "thanks_letter": ("感谢信", "any"),
    "silk_banner": ("锦旗", "any"),
}
RECIPIENT_KINDS: Final = frozenset({"staff", "window"})
#: A period is a month (2025-10), a quarter (2025-Q4) or a year (2025).
_PERIOD = re.compile(r"^(19|20)\d{2}(-(0[1-9]|1[0-2])|-Q[1-4])?$")


def _text(value: str, name: str, limit: int, *, blank: bool = False) -> str:
    if blank and isinstance(value, str) and not value.strip():
        return ""
    text = require_text(value, name)
    require(len(text) <= limit, f"{name} is longer than {limit} characters")
    return text


class Award(Aggregate):
    """One entry of the awards register."""

    EVENT_NAMES: ClassVar[tuple[str, ...]] = ("Granted", "Revoked")

    class Event(Aggregate.Event):
        actor: Actor
        occurred_at: datetime | None

    class Granted(Event, Aggregate.Created):
        kind: str
        recipient_kind: str
        recipient: str
        recipient_name: str
        period: str
        reason: str
        giver: str
        case_id: UUID | None

        def apply(self, award: Award) -> None:
            award.kind = self.kind

    class Revoked(Event):
        reason: str

        def apply(self, award: Award) -> None:
            award.revoked = True

    def __init__(self) -> None:
        self.kind = ""
        self.revoked = False

    @classmethod
    def grant(
        cls,
        *,
        award_id: UUID,
        kind: str,
        recipient_kind: str,
        recipient: str,
        recipient_name: str = "",
        period: str = "",
        reason: str = "",
        giver: str = "",
        case_id: UUID | None = None,
        actor: Actor,
        at: datetime,
        occurred_at: datetime | None = None,
    ) -> Award:
        """Record an award (a selection for a period, or thanks from an applicant)."""
        require(kind in AWARD_KINDS, f"kind must be one of {sorted(AWARD_KINDS)}, got {kind!r}")
        require(recipient_kind in RECIPIENT_KINDS, "recipient_kind must be staff or window")
        wanted = AWARD_KINDS[kind][1]
        require(
            wanted in ("any", recipient_kind),
            f"{AWARD_KINDS[kind][0]} goes to a {wanted}, not a {recipient_kind}",
        )
        if kind in ("service_star", "red_flag_window"):
            require(
                bool(_PERIOD.match(period or "")),
                "a selection names its period: YYYY, YYYY-MM or YYYY-Qn",
            )
        elif period:
            require(bool(_PERIOD.match(period)), "period must be YYYY, YYYY-MM or YYYY-Qn")
        if occurred_at is not None:
            check_business_time(occurred_at, at)
        return cls._create(
            cls.Granted,
            id=award_id,
            timestamp=at,
            actor=actor,
            occurred_at=occurred_at,
            kind=kind,
            recipient_kind=recipient_kind,
            recipient=_text(recipient, "recipient", 64),
            recipient_name=_text(recipient_name, "recipient_name", 100, blank=True),
            period=period,
            reason=_text(reason, "reason", 2000, blank=True),
            giver=_text(giver, "giver", 200, blank=True),
            case_id=case_id,
        )

    def revoke(self, reason: str, *, actor: Actor, at: datetime) -> None:
        """Withdraw an award recorded in error (the entry stays in the register)."""
        if self.revoked:
            raise AlreadyDone("the award was revoked already")
        self.trigger_event(
            self.Revoked,
            timestamp=at,
            actor=actor,
            occurred_at=None,
            reason=_text(reason, "reason", 2000),
        )
