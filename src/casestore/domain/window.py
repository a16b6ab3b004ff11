"""Windows (窗口) as first-class: their type, 党员示范岗 marking and the duty rota.

The seed's hall has 综合窗口, a 项目建设综合窗口, a 招商引资绿色通道, a 领导带班窗口 (a
bureau leader leads the hall on a given day) and a 志愿者服务站; party members at a
党员示范岗 show their identity (亮身份). A window is addressed by its code (the same
code a staff member's ``Actor.window`` carries); the aggregate id derives from it.
The duty rota is one ``DutyAssigned`` event per day and window (a later one for the same
day replaces the earlier: the read side keeps the latest).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import ClassVar, Final
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from casestore.domain.errors import AlreadyDone
from casestore.domain.values import Actor, require, require_choice, require_text

#: Window types (the seed's names): 综合, 项目建设综合, 招商引资绿色通道, 领导带班, 志愿者服务站.
WINDOW_TYPES: Final[dict[str, str]] = {
    "general": "综合窗口",
    "project": "项目建设综合窗口",
    "green_channel": "招商引资绿色通道",
    "leader": "领导带班窗口",
    "volunteer": "志愿者服务站",
}
#: The rota may be planned a year ahead and recorded a year late, no more.
ROTA_SPAN_DAYS: Final = 366


def window_id(code: str) -> UUID:
    """Windows are addressed by their code; the aggregate id derives from it."""
    return uuid5(NAMESPACE_URL, f"casestore:window:{code}")


def _label(value: str, name: str, limit: int = 64) -> str:
    text = require_text(value, name)
    require(len(text) <= limit, f"{name} is longer than {limit} characters")
    return text


class Window(Aggregate):
    """One service window of the hall."""

    EVENT_NAMES: ClassVar[tuple[str, ...]] = (
        "Registered",
        "Revised",
        "PartyPostMarked",
        "DutyAssigned",
    )

    class Event(Aggregate.Event):
        actor: Actor
        occurred_at: datetime | None  # always None: the register is kept as it changes

    class Registered(Event, Aggregate.Created):
        code: str
        name: str
        window_type: str

        def apply(self, window: Window) -> None:
            window.code, window.name, window.window_type = self.code, self.name, self.window_type

    class Revised(Event):
        name: str
        window_type: str

        def apply(self, window: Window) -> None:
            window.name, window.window_type = self.name, self.window_type

    class PartyPostMarked(Event):
        """党员示范岗: a party member at this window shows their identity (or no longer)."""

        staff_id: str
        staff_name: str
        marked: bool

        def apply(self, window: Window) -> None:
            if self.marked:
                window.party_members.add(self.staff_id)
            else:
                window.party_members.discard(self.staff_id)

    class DutyAssigned(Event):
        """Who is on duty at (for the 领导带班 window: leads the hall on) a day."""

        day: date
        staff_id: str
        staff_name: str

    def __init__(self) -> None:
        self.code = ""
        self.name = ""
        self.window_type = ""
        self.party_members: set[str] = set()

    @classmethod
    def register(
        cls, *, code: str, name: str, window_type: str, actor: Actor, at: datetime
    ) -> Window:
        """A new window with its type."""
        require_choice(window_type, frozenset(WINDOW_TYPES), "window_type")
        return cls._create(
            cls.Registered,
            id=window_id(_label(code, "code")),
            timestamp=at,
            actor=actor,
            occurred_at=None,
            code=code.strip(),
            name=_label(name, "name", 100),
            window_type=window_type,
        )

    def revise(self, *, name: str, window_type: str, actor: Actor, at: datetime) -> None:
        """Rename it or change its type (refused when nothing changes)."""
        require_choice(window_type, frozenset(WINDOW_TYPES), "window_type")
        name = _label(name, "name", 100)
        if (name, window_type) == (self.name, self.window_type):
            raise AlreadyDone(f"window {self.code} already has this name and type")
        self.trigger_event(
            self.Revised,
            timestamp=at,
            actor=actor,
            occurred_at=None,
            name=name,
            window_type=window_type,
        )

    def mark_party_post(
        self, *, staff_id: str, staff_name: str, marked: bool, actor: Actor, at: datetime
    ) -> None:
        """Mark (or unmark) a staff member's 党员示范岗 at this window."""
        staff_id = _label(staff_id, "staff_id")
        if marked == (staff_id in self.party_members):
            raise AlreadyDone(f"{staff_id} is already {'' if marked else 'not '}marked here")
        self.trigger_event(
            self.PartyPostMarked,
            timestamp=at,
            actor=actor,
            occurred_at=None,
            staff_id=staff_id,
            staff_name=_label(staff_name, "staff_name", 100),
            marked=marked,
        )

    def assign_duty(
        self, *, day: date, staff_id: str, staff_name: str, actor: Actor, at: datetime
    ) -> None:
        """Put a staff member on the rota for a day (within a year either side of now)."""
        require(isinstance(day, date), "day must be a date")
        require(
            abs((day - at.date()).days) <= ROTA_SPAN_DAYS,
            f"the rota day must be within {ROTA_SPAN_DAYS} days of today",
        )
        self.trigger_event(
            self.DutyAssigned,
            timestamp=at,
            actor=actor,
            occurred_at=None,
            day=day,
            staff_id=_label(staff_id, "staff_id"),
            staff_name=_label(staff_name, "staff_name", 100),
        )
