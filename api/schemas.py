"""Request (``XCreate``) and response (``XPublic``) schemas of the command endpoints.

Validation is strict where a lax reading would hide a client bug: integers and
booleans are not coerced from strings, unknown fields are refused, strings must be
valid Unicode without lone surrogates and are length-bounded. Business rules (stage,
one decision, three parties ...) stay in the domain, which answers with its own
problem types; these schemas only guarantee the shapes the domain expects.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
)


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

# These literals restate the domain vocabularies for OpenAPI; tests/api/test_schemas.py
# keeps them in step with casestore.domain.values.


class Strict(BaseModel):
    """Base of every request body: unknown fields are an error."""

    model_config = ConfigDict(extra="forbid")


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

    item_code: Name
    applicant: PartyCreate
    agent: AgentCreate | None = None
    channel: Channel = "window"
    extended_hours: StrictBool = False
    appointment_id: Text = ""
    receiving_region: Text = ""
    handling_region: Text = ""
    materials: Annotated[list[Name], Field(max_length=200)] = []


class BundleCreate(Strict):
    """``POST /bundles``: one intake for a 一件事 bundle (a child case per item)."""

    bundle_code: Name
    applicant: PartyCreate
    channel: Channel = "window"
    materials: Annotated[list[Name], Field(max_length=200)] = []


class BundleExtensionCreate(Strict):
    """Extend a bundle's joint clock by 15 working days, once (approver; Art. 42 ¶2)."""

    reason: Name


class SupplementRequestCreate(Timed):
    """One complete supplement notice (一次性告知)."""

    missing: Items


class SupplementCreate(Timed):
    """The supplements are complete (补正材料收齐)."""

    materials: Items


class AcceptCreate(Timed):
    """Accept (受理); the notice number defaults to ``SL-<case number>``."""

    notice_no: Name | None = None


class RejectCreate(Timed):
    """Refuse to accept (不予受理)."""

    reasons: Items
    legal_basis: Name
    apply_instead: Text = ""


class WithdrawCreate(Timed):
    """The applicant withdraws (撤回)."""

    reason: Name


class ReviewCreate(Timed):
    """A review or approval opinion (审查/审核意见)."""

    stage_name: Name
    opinion: Opinion
    comment: Text = ""


class SurveyScheduleCreate(Timed):
    """Schedule a site survey with its requirements and time limit (踏勘安排)."""

    requirements: Items
    survey_days: Annotated[StrictInt, Field(ge=1, le=60)]
    parties: list[SurveyParty] | None = None


class ParticipantCreate(Strict):
    """One person at a joint site survey."""

    name: Name
    party: SurveyParty
    staff_id: Annotated[str, Field(max_length=64), AfterValidator(_unicode)] = ""


class SurveyResultCreate(Timed):
    """The one joint conclusion of a three-party survey (联合踏勘结论)."""

    participants: Annotated[list[ParticipantCreate], Field(min_length=1, max_length=50)]
    conclusion: Conclusion
    findings: Text = ""


class SuspendCreate(Timed):
    """Start a special procedure whose time is not counted (特别程序, Art. 45)."""

    kind: Name
    legal_basis: Name
    notified_at: AwareDatetime | None = None


class ResumeCreate(Timed):
    """End the special procedure (特别程序结束)."""

    result: Text


class ExtendCreate(Timed):
    """Extend the statutory limit once (延长审批)."""

    days: Annotated[StrictInt, Field(ge=1, le=15)]
    reason: Name


class DecideCreate(Timed):
    """Approve, or deny with reasons and the applicant's remedies (决定)."""

    outcome: Outcome
    reasons: Annotated[list[Name], Field(max_length=200)] = []
    remedies: Text = ""


class SealCreate(Timed):
    """Apply the approval seal (盖章)."""

    seal_id: Name
    document_no: Name
    certificate_no: Text = ""
    valid_until: date | None = None
    document_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class DeliverCreate(Timed):
    """Deliver the sealed result (送达)."""

    method: DeliveryMethod
    recipient: Name
    tracking_no: Text = ""


class EvaluateCreate(Timed):
    """The applicant's evaluation (好差评, GB/T 39046: 1 非常满意 … 5 非常不满意)."""

    level: Annotated[StrictInt, Field(ge=1, le=5)]
    channel: Name
    comment: Text = ""


class PublicEvaluateCreate(Strict):
    """An applicant's own evaluation through the public view (channel ``online``)."""

    level: Annotated[StrictInt, Field(ge=1, le=5)]
    comment: Text = ""


class BadReviewCreate(Timed):
    """Verify and rectify a bad review (差评核实整改)."""

    verification: Name
    rectification: Name


class FollowUpCreate(Timed):
    """A follow-up call (回访)."""

    satisfied: StrictBool
    notes: Text = ""


class CorrectCreate(Strict):
    """Correct an earlier event by a new one (更正); the earlier event never changes."""

    corrects_version: Annotated[StrictInt, Field(ge=1)]
    field: Name
    wrong_value: Text
    correct_value: Text
    reason: Name


#: ``POST /cases/{id}/{action}`` -> its body schema (the order is the SPEC's).
COMMANDS: dict[str, type[Strict]] = {
    "supplement-request": SupplementRequestCreate,
    "supplement": SupplementCreate,
    "accept": AcceptCreate,
    "reject": RejectCreate,
    "withdraw": WithdrawCreate,
    "review": ReviewCreate,
    "survey-schedule": SurveyScheduleCreate,
    "survey-result": SurveyResultCreate,
    "suspend": SuspendCreate,
    "resume": ResumeCreate,
    "extend": ExtendCreate,
    "decide": DecideCreate,
    "seal": SealCreate,
    "deliver": DeliverCreate,
    "evaluate": EvaluateCreate,
    "bad-review": BadReviewCreate,
    "follow-up": FollowUpCreate,
    "correct": CorrectCreate,
}


def payload_of(body: Strict) -> tuple[dict[str, Any], Any]:
    """The service payload of a body, and its ``occurred_at`` (None when not stated)."""
    data = body.model_dump()
    occurred_at = data.pop("occurred_at", None)
    return data, occurred_at


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
