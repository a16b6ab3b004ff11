"""Request and response schemas of the bureau-practice endpoints (SPEC §13).

The same contract as :mod:`casestore.api.schemas` (whose :class:`Strict` and
:class:`Timed` bases and bounded text types these reuse): one request schema per
command of :mod:`casestore.service.practice`, with the same fields, converted by
``to_command``. Kept beside it because that module is already at its size limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, Field, StrictBool

from casestore.service import practice
from casestore.service.commands import Command

from .schemas import Name, Strict, Text, Timed

EnquiryKind = Literal["request", "consultation"]
EnquiryChannel = Literal["window", "phone", "hotline", "online", "mobile", "letter"]
EnquiryOutcome = Literal["resolved", "explained", "unresolved", "withdrawn"]
Topic = Annotated[Name, Field(max_length=200)]
Label = Annotated[str, Field(max_length=100)]
"""A short label that may be empty (requester, contact, window)."""
LongText = Annotated[Text, Field(max_length=2000)]


class EnquiryCreate(Timed):
    """Record a request or question (群众诉求/咨询); the handling clock starts."""

    command = practice.ReceiveEnquiry
    kind: EnquiryKind = Field(description="request 诉求 or consultation 咨询")
    channel: EnquiryChannel = "window"
    service_window: Annotated[Label, Field(max_length=64)] = Field(
        "", description="the window that took it (default: the caller's window)"
    )
    topic: Topic
    content: LongText = ""
    requester: Label = ""
    contact: Label = ""


class EnquiryAnswerCreate(Timed):
    """Answer it (答复): stops the handling clock."""

    command = practice.AnswerEnquiry
    answer: Annotated[LongText, Field(min_length=1)]


class EnquiryReferCreate(Timed):
    """Refer it to the unit that can act (转办); the clock keeps running."""

    command = practice.ReferEnquiry
    to_unit: Annotated[Name, Field(max_length=100)]
    reason: LongText = ""


class EnquiryCloseCreate(Timed):
    """Close it (办结) with its outcome (after an answer or a referral, or withdrawn)."""

    command = practice.CloseEnquiry
    outcome: EnquiryOutcome
    note: LongText = ""


def by_segment(
    commands: Mapping[str, type[Command]], *schemas: type[Strict]
) -> dict[str, type[Strict]]:
    """The schemas of a service table's commands (one each), keyed by its path segments
    (:func:`casestore.service.practice.by_segment`), in its order."""
    schema_of = {schema.command: schema for schema in schemas}
    if set(schema_of) != set(commands.values()) or len(schema_of) != len(schemas):
        raise ValueError(f"not one schema per command of {sorted(commands)}")
    return {segment: schema_of[command] for segment, command in commands.items()}


#: ``POST /enquiries/{id}/{segment}`` -> its body schema.
ENQUIRY_SCHEMAS: dict[str, type[Strict]] = by_segment(
    practice.ENQUIRY_COMMANDS, EnquiryAnswerCreate, EnquiryReferCreate, EnquiryCloseCreate
)


class EnquiryCommandPublic(BaseModel):
    """What a command on an enquiry did."""

    enquiry_id: UUID
    version: int
    position: int
    duplicate: bool = False


WindowType = Literal["general", "project", "green_channel", "leader", "volunteer"]
Code = Annotated[Name, Field(max_length=64)]


class WindowCreate(Strict):
    """Register a window with its type."""

    command = practice.RegisterWindow
    code: Code
    name: Annotated[Name, Field(max_length=100)]
    window_type: WindowType


class WindowReviseCreate(Strict):
    """Rename a window or change its type."""

    command = practice.ReviseWindow
    name: Annotated[Name, Field(max_length=100)]
    window_type: WindowType


class PartyPostCreate(Strict):
    """Mark (or unmark) a party member's 党员示范岗 at the window."""

    command = practice.MarkPartyPost
    staff_id: Code
    staff_name: Annotated[Name, Field(max_length=100)]
    marked: StrictBool = True


class DutyCreate(Strict):
    """Put a staff member on the window's duty rota for a day (领导带班)."""

    command = practice.AssignDuty
    day: date
    staff_id: Code
    staff_name: Annotated[Name, Field(max_length=100)]


#: ``POST /windows/{code}/{segment}`` -> its body schema.
WINDOW_SCHEMAS: dict[str, type[Strict]] = by_segment(
    practice.WINDOW_COMMANDS, WindowReviseCreate, PartyPostCreate, DutyCreate
)


class WindowCommandPublic(BaseModel):
    """What a command on a window did."""

    window_id: UUID
    version: int
    position: int
    duplicate: bool = False


AwardKind = Literal["service_star", "red_flag_window", "thanks_letter", "silk_banner"]
Period = Annotated[
    str, Field(max_length=7, pattern=r"^$|^(19|20)\d{2}(-(0[1-9]|1[0-2])|-Q[1-4])?$")
]


class AwardCreate(Timed):
    """Record an award (服务标兵, 红旗窗口, 感谢信, 锦旗)."""

    command = practice.GrantAward
    kind: AwardKind
    recipient_kind: Literal["staff", "window"]
    recipient: Code
    recipient_name: Label = ""
    period: Period = ""
    reason: LongText = ""
    giver: Annotated[str, Field(max_length=200)] = ""
    about_case: UUID | None = None


class AwardRevokeCreate(Strict):
    """Withdraw an award recorded in error."""

    command = practice.RevokeAward
    reason: Annotated[LongText, Field(min_length=1)]


class AwardCommandPublic(BaseModel):
    """What a command on the awards register did."""

    award_id: UUID
    version: int
    position: int
    duplicate: bool = False
