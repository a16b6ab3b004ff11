"""Commands and handlers of the bureau's own practice (SPEC §13): enquiries, windows, awards.

Same shape as :mod:`casestore.service.commands` and :mod:`casestore.service.handlers`:
one frozen dataclass per command, one handler each, registered in the same
``HANDLERS`` table so :meth:`CaseService.handle` runs them through its one load →
check version → decide → append loop. ``ReceiveEnquiry`` creates the aggregate (the
service's :meth:`~casestore.service.CaseService.receive_enquiry` path).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Final, TypeVar
from uuid import UUID

from casestore.domain.award import Award
from casestore.domain.enquiry import Enquiry
from casestore.domain.window import Window, window_id
from casestore.service.commands import Command, Update
from casestore.service.handlers import Context, handles

C = TypeVar("C", bound=Command)


def by_segment(family: str, commands: Sequence[type[C]]) -> dict[str, type[C]]:
    """``POST /{family}s/{id}/{segment}``: commands by path segment, the segment being the
    command's ``action`` without the family's prefix (``enquiry-answer`` -> ``answer``),
    so a segment is never written twice."""
    prefix = f"{family}-"
    strays = [cls.__name__ for cls in commands if not cls.action.startswith(prefix)]
    if strays:
        raise ValueError(f"not {family} commands: {strays}")
    return {cls.action.removeprefix(prefix): cls for cls in commands}


@dataclass(frozen=True, kw_only=True)
class ReceiveEnquiry(Command):
    """Record a request or question (群众诉求/咨询) as it arrives."""

    action = "enquiry-receive"
    kind: str
    channel: str = "window"
    service_window: str = ""
    topic: str
    content: str = ""
    requester: str = ""
    contact: str = ""
    occurred_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class EnquiryCommand(Update):
    """A command on one enquiry."""

    enquiry_id: UUID
    occurred_at: datetime | None = None

    @property
    def target(self) -> UUID:
        return self.enquiry_id


@dataclass(frozen=True, kw_only=True)
class AnswerEnquiry(EnquiryCommand):
    """Answer it (答复): stops the handling clock."""

    action = "enquiry-answer"
    answer: str


@dataclass(frozen=True, kw_only=True)
class ReferEnquiry(EnquiryCommand):
    """Refer it to the unit that can act (转办)."""

    action = "enquiry-refer"
    to_unit: str
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class CloseEnquiry(EnquiryCommand):
    """Close it (办结) with its outcome."""

    action = "enquiry-close"
    outcome: str
    note: str = ""


#: ``POST /enquiries/{id}/{action}``: every command on an enquiry, by path segment.
ENQUIRY_COMMANDS: Final[dict[str, type[EnquiryCommand]]] = by_segment(
    "enquiry", (AnswerEnquiry, ReferEnquiry, CloseEnquiry)
)


@handles(AnswerEnquiry, Enquiry)
def answer_enquiry(cmd: AnswerEnquiry, enquiry: Enquiry, ctx: Context) -> None:
    enquiry.answer(cmd.answer, actor=cmd.actor, at=ctx.clock(), occurred_at=cmd.occurred_at)


@handles(ReferEnquiry, Enquiry)
def refer_enquiry(cmd: ReferEnquiry, enquiry: Enquiry, ctx: Context) -> None:
    enquiry.refer(
        cmd.to_unit, cmd.reason, actor=cmd.actor, at=ctx.clock(), occurred_at=cmd.occurred_at
    )


@handles(CloseEnquiry, Enquiry)
def close_enquiry(cmd: CloseEnquiry, enquiry: Enquiry, ctx: Context) -> None:
    enquiry.close(
        cmd.outcome, cmd.note, actor=cmd.actor, at=ctx.clock(), occurred_at=cmd.occurred_at
    )


def new_enquiry(cmd: ReceiveEnquiry, enquiry_id: UUID, handling_days: int, at: datetime) -> Enquiry:
    """The new, unsaved aggregate a ``ReceiveEnquiry`` builds (the clock's days in force)."""
    return Enquiry.receive(
        enquiry_id=enquiry_id,
        kind=cmd.kind,
        channel=cmd.channel,
        service_window=cmd.service_window or cmd.actor.window,
        topic=cmd.topic,
        content=cmd.content,
        requester=cmd.requester,
        contact=cmd.contact,
        handling_days=handling_days,
        actor=cmd.actor,
        at=at,
        occurred_at=cmd.occurred_at,
    )


# -- windows (窗口): type, 党员示范岗, duty rota -------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RegisterWindow(Command):
    """Register a window with its type (综合, 项目建设综合, 绿色通道, 领导带班, 志愿者服务站)."""

    action = "window-register"
    code: str
    name: str
    window_type: str


@dataclass(frozen=True, kw_only=True)
class WindowCommand(Update):
    """A command on one window, named by its code."""

    window_code: str

    @property
    def target(self) -> UUID:
        return window_id(self.window_code)


@dataclass(frozen=True, kw_only=True)
class ReviseWindow(WindowCommand):
    """Rename a window or change its type."""

    action = "window-revise"
    name: str
    window_type: str


@dataclass(frozen=True, kw_only=True)
class MarkPartyPost(WindowCommand):
    """Mark (or unmark) a party member's 党员示范岗 at a window (亮身份)."""

    action = "window-party-post"
    staff_id: str
    staff_name: str
    marked: bool = True


@dataclass(frozen=True, kw_only=True)
class AssignDuty(WindowCommand):
    """Put a staff member on a window's duty rota for a day (领导带班: who leads the hall)."""

    action = "window-duty"
    day: date
    staff_id: str
    staff_name: str


#: ``POST /windows/{code}/{action}``: every command on a window, by path segment.
WINDOW_COMMANDS: Final[dict[str, type[WindowCommand]]] = by_segment(
    "window", (ReviseWindow, MarkPartyPost, AssignDuty)
)


@handles(ReviseWindow, Window)
def revise_window(cmd: ReviseWindow, window: Window, ctx: Context) -> None:
    window.revise(name=cmd.name, window_type=cmd.window_type, actor=cmd.actor, at=ctx.clock())


@handles(MarkPartyPost, Window)
def mark_party_post(cmd: MarkPartyPost, window: Window, ctx: Context) -> None:
    window.mark_party_post(
        staff_id=cmd.staff_id,
        staff_name=cmd.staff_name,
        marked=cmd.marked,
        actor=cmd.actor,
        at=ctx.clock(),
    )


@handles(AssignDuty, Window)
def assign_duty(cmd: AssignDuty, window: Window, ctx: Context) -> None:
    window.assign_duty(
        day=cmd.day,
        staff_id=cmd.staff_id,
        staff_name=cmd.staff_name,
        actor=cmd.actor,
        at=ctx.clock(),
    )


def new_window(cmd: RegisterWindow, at: datetime) -> Window:
    """The new, unsaved aggregate a ``RegisterWindow`` builds."""
    return Window.register(
        code=cmd.code, name=cmd.name, window_type=cmd.window_type, actor=cmd.actor, at=at
    )


# -- the awards register (服务标兵, 红旗窗口, 感谢信, 锦旗) -------------------------------------


@dataclass(frozen=True, kw_only=True)
class GrantAward(Command):
    """Record an award: a 服务标兵 / 红旗窗口 selection for a period, or a 感谢信 / 锦旗."""

    action = "award-grant"
    kind: str
    recipient_kind: str
    recipient: str
    recipient_name: str = ""
    period: str = ""
    reason: str = ""
    giver: str = ""
    about_case: UUID | None = None
    """The case a 感谢信 or 锦旗 thanks the bureau for, if any."""
    occurred_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class RevokeAward(Update):
    """Withdraw an award recorded in error (it stays in the register, marked)."""

    action = "award-revoke"
    award_id: UUID
    reason: str

    @property
    def target(self) -> UUID:
        return self.award_id


@handles(RevokeAward, Award)
def revoke_award(cmd: RevokeAward, award: Award, ctx: Context) -> None:
    award.revoke(cmd.reason, actor=cmd.actor, at=ctx.clock())


def new_award(cmd: GrantAward, award_id: UUID, at: datetime) -> Award:
    """The new, unsaved aggregate a ``GrantAward`` builds."""
    return Award.grant(
        award_id=award_id,
        kind=cmd.kind,
        recipient_kind=cmd.recipient_kind,
        recipient=cmd.recipient,
        recipient_name=cmd.recipient_name,
        period=cmd.period,
        reason=cmd.reason,
        giver=cmd.giver,
        case_id=cmd.about_case,
        actor=cmd.actor,
        at=at,
        occurred_at=cmd.occurred_at,
    )
