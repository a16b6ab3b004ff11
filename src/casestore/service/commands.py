"""Commands: what a caller asks the write side to do, one frozen dataclass each.

Every command carries who asks (``actor``) and, optionally, an idempotency key; a
command on an existing case or bundle names it and may state the version it was
based on (HTTP ``If-Match``). ``action`` is the command's name in the role matrix
(:mod:`casestore.domain.roles`) and its HTTP path segment. Field names and defaults
are those of the aggregate method the handler calls; ``api/schemas.py`` has exactly
one request schema per command with the same fields. A field that does not exist is
a ``TypeError`` when the command is built — a bug in the caller, never a 422.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar, Final
from uuid import UUID

from casestore.domain.values import Actor, Party, SurveyParticipant


@dataclass(frozen=True, kw_only=True)
class Command:
    """Base of every command."""

    action: ClassVar[str]
    actor: Actor
    idempotency_key: str | None = None


# -- intake ----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SubmitCase(Command):
    """Take in an application (收件)."""

    action = "submit"
    item_code: str
    applicant: Party
    agent: Party | None = None
    channel: str = "window"
    extended_hours: bool = False
    appointment_id: str = ""
    receiving_region: str = ""
    handling_region: str = ""
    materials: Sequence[str] = ()
    priority: bool = False
    """A green-channel (招商引资绿色通道) case, marked at intake."""
    occurred_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class SubmitBundle(Command):
    """One intake for a 一件事 bundle: the bundle and a child case per item."""

    action = "submit-bundle"
    bundle_code: str
    applicant: Party
    channel: str = "window"
    materials: Sequence[str] = ()


@dataclass(frozen=True, kw_only=True)
class LoadCatalogue(Command):
    """Publish new items and bundles and revise changed ones (``catalogue load FILE``)."""

    action = "catalogue"
    items: Sequence[Mapping[str, Any]]
    bundles: Sequence[Mapping[str, Any]] = ()
    reason: str = "catalogue file"


# -- commands on an existing aggregate ---------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Update(Command):
    """A command on an existing aggregate, optionally based on a stated version."""

    expected_version: int | None = None

    @property
    def target(self) -> UUID:
        """The id of the aggregate the command changes."""
        raise NotImplementedError


@dataclass(frozen=True, kw_only=True)
class ExtendBundle(Update):
    """Extend a bundle's joint clock by 15 working days, once (Art. 42 ¶2), with the
    approval of 本级人民政府负责人 (who, and the approval's document reference), before
    the joint deadline; the reason told to the applicant (when, how)."""

    action = "bundle-extend"
    bundle_id: UUID
    reason: str
    approved_by: str
    approval_document: str
    applicant_told_at: datetime | None = None
    told_how: str = ""
    occurred_at: datetime | None = None

    @property
    def target(self) -> UUID:
        return self.bundle_id


@dataclass(frozen=True, kw_only=True)
class CaseCommand(Update):
    """A command on one case."""

    case_id: UUID

    @property
    def target(self) -> UUID:
        return self.case_id


@dataclass(frozen=True, kw_only=True)
class TimedCommand(CaseCommand):
    """A case command that may state when the fact happened (never ``recorded_at``)."""

    occurred_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class RequestSupplement(TimedCommand):
    """One complete supplement notice (一次性告知)."""

    action = "supplement-request"
    missing: Sequence[str]


@dataclass(frozen=True, kw_only=True)
class ReceiveSupplement(TimedCommand):
    """The supplements are complete (补正材料收齐)."""

    action = "supplement"
    materials: Sequence[str]


@dataclass(frozen=True, kw_only=True)
class Accept(TimedCommand):
    """Accept (受理); the notice number defaults to ``SL-<case number>``."""

    action = "accept"
    notice_no: str | None = None


@dataclass(frozen=True, kw_only=True)
class Reject(TimedCommand):
    """Refuse to accept (不予受理)."""

    action = "reject"
    reasons: Sequence[str]
    legal_basis: str
    apply_instead: str = ""


@dataclass(frozen=True, kw_only=True)
class Withdraw(TimedCommand):
    """The applicant withdraws (撤回)."""

    action = "withdraw"
    reason: str


@dataclass(frozen=True, kw_only=True)
class Review(TimedCommand):
    """A review or approval opinion (审查/审核意见)."""

    action = "review"
    stage_name: str
    opinion: str
    comment: str = ""


@dataclass(frozen=True, kw_only=True)
class ScheduleSurvey(TimedCommand):
    """Schedule a site survey with its requirements and time limit (踏勘安排)."""

    action = "survey-schedule"
    requirements: Sequence[str]
    survey_days: int
    parties: Sequence[str] | None = None
    notified_at: datetime | None = None
    notice_method: str = ""


@dataclass(frozen=True, kw_only=True)
class RecordSurvey(TimedCommand):
    """The one joint conclusion of a three-party survey (联合踏勘结论)."""

    action = "survey-result"
    participants: Sequence[SurveyParticipant]
    conclusion: str
    findings: str = ""
    cost_fen: int = 0


@dataclass(frozen=True, kw_only=True)
class Suspend(TimedCommand):
    """Start a special procedure whose time is not counted (Art. 45)."""

    action = "suspend"
    kind: str
    legal_basis: str
    notified_at: datetime | None = None
    notice_method: str = ""
    expected_days: int = 0


@dataclass(frozen=True, kw_only=True)
class Resume(TimedCommand):
    """End the special procedure."""

    action = "resume"
    result: str


@dataclass(frozen=True, kw_only=True)
class Extend(TimedCommand):
    """Extend the statutory limit once (延长审批)."""

    action = "extend"
    days: int
    reason: str
    applicant_told_at: datetime | None = None
    told_how: str = ""


@dataclass(frozen=True, kw_only=True)
class Decide(TimedCommand):
    """Approve, or deny with reasons and the applicant's remedies (决定)."""

    action = "decide"
    outcome: str
    reasons: Sequence[str] = ()
    remedies: str = ""


@dataclass(frozen=True, kw_only=True)
class Seal(TimedCommand):
    """Apply the approval seal (盖章)."""

    action = "seal"
    seal_id: str
    document_no: str
    document_sha256: str
    certificate_no: str = ""
    valid_until: date | None = None


@dataclass(frozen=True, kw_only=True)
class Deliver(TimedCommand):
    """Deliver the sealed result (送达)."""

    action = "deliver"
    method: str
    recipient: str
    tracking_no: str = ""


@dataclass(frozen=True, kw_only=True)
class Evaluate(TimedCommand):
    """The applicant's evaluation (好差评, GB/T 39046 levels 1–5)."""

    action = "evaluate"
    level: int
    channel: str
    comment: str = ""


@dataclass(frozen=True, kw_only=True)
class HandleBadReview(TimedCommand):
    """Verify and rectify a bad review (差评核实整改)."""

    action = "bad-review"
    verification: str
    rectification: str


@dataclass(frozen=True, kw_only=True)
class RecordFollowUp(TimedCommand):
    """A follow-up call (回访)."""

    action = "follow-up"
    satisfied: bool
    notes: str = ""


@dataclass(frozen=True, kw_only=True)
class ProvideService(TimedCommand):
    """A 惠民服务 with the case (免费刻章, 免费邮寄, 限价复印) and its costs in fen."""

    action = "service"
    service: str
    units: int = 1
    charged_fen: int = 0
    bureau_cost_fen: int = 0
    note: str = ""


@dataclass(frozen=True, kw_only=True)
class Correct(CaseCommand):
    """Correct an earlier event by a new one (更正); the earlier event never changes."""

    action = "correct"
    corrects_version: int
    fact: str
    wrong_value: str
    correct_value: str
    reason: str


#: ``POST /cases/{id}/{action}``: every command on a case, in the SPEC's order.
CASE_COMMANDS: Final[dict[str, type[CaseCommand]]] = {
    cls.action: cls
    for cls in (
        RequestSupplement,
        ReceiveSupplement,
        Accept,
        Reject,
        Withdraw,
        Review,
        ScheduleSurvey,
        RecordSurvey,
        Suspend,
        Resume,
        Extend,
        Decide,
        Seal,
        Deliver,
        Evaluate,
        HandleBadReview,
        RecordFollowUp,
        ProvideService,
        Correct,
    )
}
