"""Request (``XCreate``) and response (``XPublic``) schemas of the command endpoints.

Validation is strict where a lax reading would hide a client bug: integers and
booleans are not coerced from strings, unknown fields are refused, strings must be
valid Unicode without lone surrogates and are length-bounded. Business rules (stage,
one decision, three parties ...) stay in the domain, which answers with its own
problem types; these schemas only guarantee the shapes the domain expects.

There is one request schema per command of :mod:`casestore.service.commands`, with the
same fields (``command`` names it; :func:`to_command` converts), which is why this
module runs a little over 400 lines: splitting it would part schemas that belong together.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, ClassVar, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    AliasChoices,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
)

from casestore.domain.values import MAX_SERVICE_FEN, MAX_SERVICE_UNITS, Party, SurveyParticipant
from casestore.service import commands
from casestore.service.commands import Command


def _unicode(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must be valid Unicode (no lone surrogates)") from None
    if "\x00" in value:
        raise ValueError("text must not contain NUL characters")
    return value


Text = Annotated[str, Field(max_length=2000), AfterValidator(_unicode)]
"""Free text (comments, reasons): may be empty."""
Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_unicode)]
"""A short non-empty label (names, numbers, codes)."""
Items = Annotated[list[Name], Field(min_length=1, max_length=200)]
"""A non-empty list of short labels (materials, reasons, requirements)."""

Channel = Literal[
    "window", "online", "mobile", "mail", "appointment", "home_visit", "cross_province"
]
IdType = Literal["resident_id", "passport", "uscc", "other"]
Opinion = Literal["pass", "return", "other"]
SurveyParty = Literal["approval_bureau", "regulator", "applicant"]
Conclusion = Literal["pass", "fail", "rectify"]
Outcome = Literal["approve", "deny"]
DeliveryMethod = Literal["window_pickup", "mail", "electronic"]
NoticeMethod = Literal["", "in_person", "mail", "electronic"]
"""How a written notice reached the applicant (书面告知); empty: not stated."""

# These literals restate the domain vocabularies for OpenAPI; tests/api/test_schemas.py
# keeps them in step with casestore.domain.values.


class Strict(BaseModel):
    """Base of every request body: unknown fields are an error. ``command`` is the one
    command class whose fields the schema has (:func:`to_command` converts)."""

    model_config = ConfigDict(extra="forbid")
    command: ClassVar[type[Command]]


class Timed(Strict):
    """A command that may state when the fact happened (``occurred_at``, never recorded_at)."""

    occurred_at: AwareDatetime | None = Field(
        None, description="claimed business time if earlier than now (ISO 8601 with offset)"
    )


class PartyCreate(Strict):
    """An applicant: a person or an organisation."""

    name: Name
    id_type: IdType
    id_number: Name
    phone: Annotated[str, Field(max_length=32), AfterValidator(_unicode)] = ""
    kind: Literal["person", "organisation"] = "person"


class AgentCreate(PartyCreate):
    """A delegated agent (委托代办) with the reference of their power of attorney."""

    mandate: Name


class CaseCreate(Timed):
    """``POST /cases``: take in an application (收件)."""

    command: ClassVar[type[Command]] = commands.SubmitCase

    item_code: Name
    applicant: PartyCreate
    agent: AgentCreate | None = None
    channel: Channel = "window"
    extended_hours: StrictBool = False
    appointment_id: Text = ""
    receiving_region: Text = ""
    handling_region: Text = ""
    materials: Annotated[list[Name], Field(max_length=200)] = []
    priority: StrictBool = Field(False, description="green-channel case (招商引资绿色通道)")


class BundleCreate(Strict):
    """``POST /bundles``: one intake for a 一件事 bundle (a child case per item)."""

    command: ClassVar[type[Command]] = commands.SubmitBundle

    bundle_code: Name
    applicant: PartyCreate
    channel: Channel = "window"
    materials: Annotated[list[Name], Field(max_length=200)] = []


class BundleExtensionCreate(Timed):
    """Extend a bundle's joint clock by 15 working days, once (approver; Art. 42 ¶2), with
    the approval of 本级人民政府负责人 and before the joint deadline."""

    command: ClassVar[type[Command]] = commands.ExtendBundle

    reason: Name
    approved_by: Name = Field(description="本级人民政府负责人 who approved (name and office)")
    approval_document: Name = Field(description="the approval's document reference (文号)")
    applicant_told_at: AwareDatetime | None = None
    told_how: NoticeMethod = ""


class SupplementRequestCreate(Timed):
    """One complete supplement notice (一次性告知)."""

    command: ClassVar[type[Command]] = commands.RequestSupplement

    missing: Items


class SupplementCreate(Timed):
    """The supplements are complete (补正材料收齐)."""

    command: ClassVar[type[Command]] = commands.ReceiveSupplement

    materials: Items


class AcceptCreate(Timed):
    """Accept (受理); the notice number defaults to ``SL-<case number>``."""

    command: ClassVar[type[Command]] = commands.Accept

    notice_no: Name | None = None


class RejectCreate(Timed):
    """Refuse to accept (不予受理)."""

    command: ClassVar[type[Command]] = commands.Reject

    reasons: Items
    legal_basis: Name
    apply_instead: Text = ""


class WithdrawCreate(Timed):
    """The applicant withdraws (撤回)."""

    command: ClassVar[type[Command]] = commands.Withdraw

    reason: Name


class ReviewCreate(Timed):
    """A review or approval opinion (审查/审核意见)."""

    command: ClassVar[type[Command]] = commands.Review

    stage_name: Name
    opinion: Opinion
    comment: Text = ""


class SurveyScheduleCreate(Timed):
    """Schedule a site survey with its requirements and time limit (踏勘安排)."""

    command: ClassVar[type[Command]] = commands.ScheduleSurvey

    requirements: Items
    survey_days: Annotated[StrictInt, Field(ge=1, le=60)]
    parties: Annotated[list[SurveyParty], Field(max_length=3)] | None = None
    notified_at: AwareDatetime | None = Field(
        default=None, description="when the one-time survey notice reached the applicant"
    )
    notice_method: NoticeMethod = ""


class ParticipantCreate(Strict):
    """One person at a joint site survey."""

    name: Name
    party: SurveyParty
    staff_id: Annotated[str, Field(max_length=64), AfterValidator(_unicode)] = ""


class SurveyResultCreate(Timed):
    """The one joint conclusion of a three-party survey (联合踏勘结论)."""

    command: ClassVar[type[Command]] = commands.RecordSurvey

    participants: Annotated[list[ParticipantCreate], Field(min_length=1, max_length=50)]
    conclusion: Conclusion
    findings: Text = ""
    cost_fen: Annotated[StrictInt, Field(ge=0, le=MAX_SERVICE_FEN)] = 0


class SuspendCreate(Timed):
    """Start a special procedure whose time is not counted (特别程序, Art. 45)."""

    command: ClassVar[type[Command]] = commands.Suspend

    kind: Name
    legal_basis: Name
    notified_at: AwareDatetime | None = Field(
        None, description="when the Art. 45 written notice of the time needed was given"
    )
    notice_method: NoticeMethod = ""
    expected_days: Annotated[StrictInt, Field(ge=0, le=250)] = 0


class ResumeCreate(Timed):
    """End the special procedure (特别程序结束)."""

    command: ClassVar[type[Command]] = commands.Resume

    result: Text


class ExtendCreate(Timed):
    """Extend the statutory limit once (延长审批)."""

    command: ClassVar[type[Command]] = commands.Extend

    days: Annotated[StrictInt, Field(ge=1, le=15)]
    reason: Name
    applicant_told_at: AwareDatetime | None = Field(
        None, description="when the reason was told to the applicant (Art. 42)"
    )
    told_how: NoticeMethod = ""


class DecideCreate(Timed):
    """Approve, or deny with reasons and the applicant's remedies (决定)."""

    command: ClassVar[type[Command]] = commands.Decide

    outcome: Outcome
    reasons: Annotated[list[Name], Field(max_length=200)] = []
    remedies: Text = ""


class SealCreate(Timed):
    """Apply the approval seal (盖章)."""

    command: ClassVar[type[Command]] = commands.Seal

    seal_id: Name
    document_no: Name
    certificate_no: Text = ""
    valid_until: date | None = None
    document_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class DeliverCreate(Timed):
    """Deliver the sealed result (送达)."""

    command: ClassVar[type[Command]] = commands.Deliver

    method: DeliveryMethod
    recipient: Name
    tracking_no: Text = ""


class EvaluateCreate(Timed):
    """The applicant's evaluation (好差评, GB/T 39046: 1 非常满意 … 5 非常不满意)."""

    command: ClassVar[type[Command]] = commands.Evaluate

    level: Annotated[StrictInt, Field(ge=1, le=5)]
    channel: Name
    comment: Text = ""


class PublicEvaluateCreate(Strict):
    """An applicant's own evaluation through the public view (channel ``online``)."""

    command: ClassVar[type[Command]] = commands.Evaluate

    level: Annotated[StrictInt, Field(ge=1, le=5)]
    comment: Text = ""


class BadReviewCreate(Timed):
    """Verify and rectify a bad review (差评核实整改)."""

    command: ClassVar[type[Command]] = commands.HandleBadReview

    verification: Name
    rectification: Name


class FollowUpCreate(Timed):
    """A follow-up call (回访)."""

    command: ClassVar[type[Command]] = commands.RecordFollowUp

    satisfied: StrictBool
    notes: Text = ""


class ServiceCreate(Timed):
    """A 惠民服务 given with the case (免费刻章, 免费邮寄, 限价复印): what it cost the
    applicant and the bureau, in fen (分). A charge above the bureau's declared price is
    recorded as it happened and flagged (S19)."""

    command: ClassVar[type[Command]] = commands.ProvideService

    service: Literal["seal_engraving", "mailing", "copying"]
    units: Annotated[StrictInt, Field(ge=1, le=MAX_SERVICE_UNITS)] = 1
    charged_fen: Annotated[StrictInt, Field(ge=0, le=MAX_SERVICE_FEN)] = 0
    bureau_cost_fen: Annotated[StrictInt, Field(ge=0, le=MAX_SERVICE_FEN)] = 0
    note: Text = ""


class CorrectCreate(Strict):
    """Correct an earlier event by a new one (更正); the earlier event never changes."""

    command: ClassVar[type[Command]] = commands.Correct

    corrects_version: Annotated[StrictInt, Field(ge=1)]
    fact: Annotated[
        Name,
        Field(
            validation_alias=AliasChoices("fact", "field"),
            description="the fact corrected, e.g. applicant.phone (``field`` is the old name)",
        ),
    ]
    wrong_value: Text
    correct_value: Text
    reason: Name


#: ``POST /cases/{id}/{action}`` -> its body schema (the order is the SPEC's).
COMMANDS: dict[str, type[Strict]] = {
    schema.command.action: schema
    for schema in (
        SupplementRequestCreate,
        SupplementCreate,
        AcceptCreate,
        RejectCreate,
        WithdrawCreate,
        ReviewCreate,
        SurveyScheduleCreate,
        SurveyResultCreate,
        SuspendCreate,
        ResumeCreate,
        ExtendCreate,
        DecideCreate,
        SealCreate,
        DeliverCreate,
        EvaluateCreate,
        BadReviewCreate,
        FollowUpCreate,
        ServiceCreate,
        CorrectCreate,
    )
}
#: Nested request shapes -> the domain values they become.
_VALUES: dict[type[BaseModel], type[Any]] = {
    PartyCreate: Party,
    AgentCreate: Party,
    ParticipantCreate: SurveyParticipant,
}


def _value(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return _VALUES[type(value)](**value.model_dump())
    if isinstance(value, list):
        return [_value(v) for v in value]
    return value


def to_command(body: Strict, **context: Any) -> Command:
    """The command a request body asks for: the body's fields (nested shapes as domain
    values) plus what the path and headers say (``actor``, ``case_id``,
    ``expected_version``, ``idempotency_key``)."""
    fields = {name: _value(getattr(body, name)) for name in type(body).model_fields}
    return body.command(**fields, **context)


class CommandPublic(BaseModel):
    """What a command did (``duplicate``: an idempotent replay of the first response)."""

    case_id: UUID
    version: int
    position: int
    duplicate: bool = False


class BundleChildPublic(BaseModel):
    """One child case of a new bundle; ``query_code`` is shown once (null on a replay)."""

    case_id: UUID
    case_no: str
    query_code: str | None = None


class BundleSubmissionPublic(BaseModel):
    """A new bundle: its id, the log position of the intake and each child by item code."""

    bundle_id: UUID
    position: int
    duplicate: bool = False
    children: dict[str, BundleChildPublic]


class BundleCommandPublic(BaseModel):
    """What a command on a bundle did."""

    bundle_id: UUID
    version: int
    position: int
    duplicate: bool = False


class SubmissionPublic(CommandPublic):
    """A new case. ``query_code`` is shown once (it is stored only as a hash); a replayed
    submission returns ``null`` for it."""

    case_no: str
    query_code: str | None = None
