"""The Case aggregate (办件): every step of an approval as an immutable event.

Commands (imperative methods) check the rules of SPEC §3.2 and then trigger one
event; events (past tense) only evolve state and never refuse, so history imported
from a legacy system replays even where it broke a rule (the supervision flags are
how such breaches surface).

Over 400 lines (about 1,040): the events are classes nested in ``Case`` because their
stored topics (``casestore.domain.case:Case.Accepted``) name them there and are in every
log; the aggregate and its events stay one class rather than moving the events out
behind topic aliases that every reader of an old log would then depend on.
"""

from __future__ import annotations

import re
from dataclasses import field
from datetime import date, datetime
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from casestore.domain.errors import (
    AlreadyDone,
    DeadlinePassed,
    Forbidden,
    InvalidCommand,
    OutOfOrder,
)
from casestore.domain.stages import CLOSED, DECIDING, INITIAL, PRE_ACCEPTANCE, next_stage
from casestore.domain.values import (
    ART45_PAUSE_KINDS,
    BAD_REVIEW_LEVELS,
    CASE_SERVICES,
    CHANNELS,
    DELIVERY_METHODS,
    EVALUATION_LEVELS,
    MAX_SERVICE_FEN,
    MAX_SERVICE_UNITS,
    NOTICE_METHODS,
    OPINIONS,
    OUTCOMES,
    SURVEY_CONCLUSIONS,
    SURVEY_PARTIES,
    Actor,
    ItemLimits,
    Party,
    SurveyParticipant,
    check_business_time,
    check_valid_until,
    local_date,
    require,
    require_choice,
    require_text,
)

#: Upper bound of an Art. 45 procedure's stated duration, in working days.
MAX_PROCEDURE_DAYS = 250
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


def check_service(
    service: Any, units: Any, charged_fen: Any, bureau_cost_fen: Any, note: Any
) -> None:
    """A 惠民服务 record's values, bounded as the log keeps them forever (commands and
    imported history alike): a known service, 1..10000 units, 0..100000000 fen each, and a
    note of at most 2000 characters."""
    require_choice(service, CASE_SERVICES, "service")
    for name, value, top in (
        ("units", units, MAX_SERVICE_UNITS),
        ("charged_fen", charged_fen, MAX_SERVICE_FEN),
        ("bureau_cost_fen", bureau_cost_fen, MAX_SERVICE_FEN),
    ):
        require(
            isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= top,
            f"{name} must be an integer 0..{top}",
        )
    require(units >= 1, "units must be at least 1")
    require(
        isinstance(note, str) and len(note) <= 2000,
        "note must be text of 2000 characters or fewer",
    )


class Case(Aggregate):
    """One application for one catalogue item, from intake to delivery and evaluation."""

    class Event(Aggregate.Event):
        actor: Actor
        occurred_at: datetime | None
        #: Imported history only: when the legacy system says it recorded the fact (its
        #: own entry time, beside ``occurred_at`` and casestore's ``recorded_at``), and the
        #: import batch (``ImportBatch``) that brought it in. Added with defaults
        #: (docs/events.md): older events read None.
        claimed_recorded_at: datetime | None = field(default=None, kw_only=True)
        import_batch: UUID | None = field(default=None, kw_only=True)

        @property
        def recorded_at(self) -> datetime:
            """The server's clock when the event was recorded (never client-supplied)."""
            return self.timestamp

        def mutate(self, aggregate: Any) -> Any:
            """Apply the event, then move the stage by the one stage machine
            (:func:`casestore.domain.stages.next_stage`)."""
            case = super().mutate(aggregate)
            assert case is not None
            case.stage = next_stage(case.stage, type(self).__name__, getattr(self, "outcome", None))
            return case

    class Submitted(Event, Aggregate.Created):
        case_no: str
        query_code_hash: str
        item_code: str
        applicant: Party
        agent: Party | None
        channel: str
        extended_hours: bool
        appointment_id: str
        receiving_region: str
        handling_region: str
        materials: list[str]
        bundle_id: UUID | None
        priority: bool = False
        """Green-channel (招商引资绿色通道) case: handled first, measured separately."""

        def apply(self, case: Case) -> None:
            case.case_no = self.case_no
            case.item_code = self.item_code
            case.bundle_id = self.bundle_id
            case.received_at = self.occurred_at or self.timestamp

    class SupplementRequested(Event):
        missing: list[str]

        def apply(self, case: Case) -> None:
            case.supplement_requests += 1
            case.first_answer = case.first_answer or (
                "SupplementRequested",
                self.occurred_at or self.timestamp,
            )

    class SupplementReceived(Event):
        materials: list[str]

        def apply(self, case: Case) -> None:
            case.supplements_at = self.occurred_at or self.timestamp  # the last, complete one

    class Accepted(Event):
        notice_no: str
        limits: ItemLimits
        promised_completion: date

        def apply(self, case: Case) -> None:
            case.limits = self.limits
            case.accepted_at = self.occurred_at or self.timestamp
            case.accepted_on = local_date(case.accepted_at)
            case.answered("Accepted", case.accepted_at)

    class Rejected(Event):
        reasons: list[str]
        legal_basis: str
        apply_instead: str

        def apply(self, case: Case) -> None:
            case.rejected = True
            case.answered("Rejected", self.occurred_at or self.timestamp)

    class Withdrawn(Event):
        reason: str

        def apply(self, case: Case) -> None:
            case.answered("Withdrawn", self.occurred_at or self.timestamp)

    class ReviewRecorded(Event):
        stage_name: str
        opinion: str
        comment: str

    class SurveyScheduled(Event):
        requirements: list[str]
        survey_days: int
        parties: list[str]
        # Added with issue 17 (optional: older events decode with these defaults): when
        # and how the one-time survey notice (踏勘需求和时限一次性告知) reached the applicant.
        notified_at: datetime | None = None
        notice_method: str = ""

        def apply(self, case: Case) -> None:
            case.survey_open = True
            case.surveys.append((local_date(self.occurred_at or self.timestamp), None))

    class SurveyConducted(Event):
        participants: list[SurveyParticipant]
        conclusion: str
        findings: str
        # Added with issue 17 (optional): what the joint survey cost the bureau, in fen.
        cost_fen: int = 0

        def apply(self, case: Case) -> None:
            case.survey_open = False
            case.surveys_conducted += 1
            if case.surveys and case.surveys[-1][1] is None:
                case.surveys[-1] = (
                    case.surveys[-1][0],
                    local_date(self.occurred_at or self.timestamp),
                )

    class ClockSuspended(Event):
        kind: str
        legal_basis: str
        notified_at: datetime | None
        # Added with issue 19 (optional: events stored before decode with these defaults):
        # how the Art. 45 written notice reached the applicant, and the duration it stated.
        notice_method: str = ""
        expected_days: int = 0

        def apply(self, case: Case) -> None:
            case.suspended = True
            case.suspensions.append(
                (local_date(self.occurred_at or self.timestamp), None, self.kind)
            )

    class ClockResumed(Event):
        result: str

        def apply(self, case: Case) -> None:
            case.suspended = False
            if case.suspensions and case.suspensions[-1][1] is None:
                start, _, kind = case.suspensions[-1]
                case.suspensions[-1] = (start, local_date(self.occurred_at or self.timestamp), kind)

    class ExtensionGranted(Event):
        days: int
        reason: str
        # Added with issue 19 (optional): when and how the reason was told to the
        # applicant (行政许可法第四十二条: 应当将延长期限的理由告知申请人).
        applicant_told_at: datetime | None = None
        told_how: str = ""

        def apply(self, case: Case) -> None:
            case.extensions += 1

    class Decided(Event):
        outcome: str
        reasons: list[str]
        remedies: str

        def apply(self, case: Case) -> None:
            case.outcome = self.outcome

    class Sealed(Event):
        seal_id: str
        document_no: str
        certificate_no: str
        valid_until: date | None
        document_sha256: str

    class Delivered(Event):
        method: str
        tracking_no: str
        recipient: str

    class Evaluated(Event):
        level: int
        channel: str
        comment: str

        def apply(self, case: Case) -> None:
            case.evaluation_level = self.level

    class BadReviewHandled(Event):
        verification: str
        rectification: str
        handler: str

        def apply(self, case: Case) -> None:
            case.bad_review_handled = True

    class FollowUpRecorded(Event):
        satisfied: bool
        notes: str

        def apply(self, case: Case) -> None:
            case.follow_ups += 1

    class ServiceProvided(Event):
        """A 惠民服务 beside the case (issue 17): ``service`` (``seal_engraving`` 刻章,
        ``mailing`` 邮寄, ``copying`` 复印), how many ``units`` (seals, parcels, pages),
        what the applicant was charged and what it cost the bureau, in fen (分)."""

        service: str
        units: int
        charged_fen: int
        bureau_cost_fen: int
        note: str

    class Corrected(Event):
        """v2 (docs/events.md): ``fact`` names the corrected fact; v1 called it ``field``."""

        class_version: ClassVar[int] = 2
        corrects_version: int
        fact: str
        wrong_value: str
        correct_value: str
        reason: str

        def apply(self, case: Case) -> None:
            case.corrections += 1

    #: Event class names as they appear in the log (the contract of SPEC §3.2).
    EVENT_NAMES: ClassVar[tuple[str, ...]] = (
        "Submitted",
        "SupplementRequested",
        "SupplementReceived",
        "Accepted",
        "Rejected",
        "Withdrawn",
        "ReviewRecorded",
        "SurveyScheduled",
        "SurveyConducted",
        "ClockSuspended",
        "ClockResumed",
        "ExtensionGranted",
        "Decided",
        "Sealed",
        "Delivered",
        "Evaluated",
        "BadReviewHandled",
        "FollowUpRecorded",
        "Corrected",
        "ServiceProvided",
    )

    def __init__(self) -> None:
        self.case_no = ""
        self.item_code = ""
        self.bundle_id: UUID | None = None
        self.stage = INITIAL
        #: Art. 32 facts (business times): receipt, the first answer (补正 notice,
        #: acceptance, rejection or withdrawal), complete supplements, the first of
        #: acceptance / rejection / withdrawal, acceptance itself.
        self.received_at: datetime | None = None
        self.first_answer: tuple[str, datetime] | None = None
        self.supplements_at: datetime | None = None
        self.answer: tuple[str, datetime] | None = None
        self.accepted_at: datetime | None = None
        self.rejected = False
        #: (scheduled on, concluded on or None) of each site survey, local dates.
        self.surveys: list[tuple[date, date | None]] = []
        self.limits: ItemLimits | None = None
        self.accepted_on: date | None = None
        self.supplement_requests = 0
        self.survey_open = False
        self.surveys_conducted = 0
        self.suspended = False
        #: (suspended on, resumed on or None, kind) in the bureau's local dates.
        self.suspensions: list[tuple[date, date | None, str]] = []
        self.extensions = 0
        self.outcome: str | None = None
        self.evaluation_level: int | None = None
        self.bad_review_handled = False
        self.follow_ups = 0
        self.corrections = 0

    def __deepcopy__(self, memo: dict[int, Any]) -> Case:
        """A fast independent copy (the repository copies a cached case for every command).

        Every attribute is immutable (str, int, UUID, date, frozen ItemLimits, tuples
        or a frozen event) except the suspensions and pending-events lists, which are copied.
        """
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone.suspensions = list(self.suspensions)
        clone.surveys = list(self.surveys)
        clone._pending_events = list(self._pending_events)
        return clone

    def answered(self, name: str, at: datetime) -> None:
        """Record the first Art. 32 answer and the first of acceptance / rejection /
        withdrawal (what the legal-time module reads)."""
        self.first_answer = self.first_answer or (name, at)
        self.answer = self.answer or (name, at)

    # -- creation ---------------------------------------------------------------------

    @classmethod
    def submit(
        cls,
        *,
        case_id: UUID,
        case_no: str,
        query_code_hash: str,
        item_code: str,
        applicant: Party,
        actor: Actor,
        at: datetime,
        channel: str = "window",
        agent: Party | None = None,
        extended_hours: bool = False,
        appointment_id: str = "",
        receiving_region: str = "",
        handling_region: str = "",
        materials: list[str] | None = None,
        bundle_id: UUID | None = None,
        priority: bool = False,
        occurred_at: datetime | None = None,
        claimed_recorded_at: datetime | None = None,
        import_batch: UUID | None = None,
    ) -> Case:
        """Take in an application (收件); the last two only for imported history."""
        require_text(case_no, "case_no")
        require_text(item_code, "item_code")
        require_choice(channel, CHANNELS, "channel")
        if channel == "cross_province":
            require_text(receiving_region, "receiving_region")
            require_text(handling_region, "handling_region")
        if agent is not None:
            require_text(agent.mandate, "agent.mandate (授权委托书)")
        _check_times(at, occurred_at)
        return cls._create(
            cls.Submitted,
            id=case_id,
            timestamp=at,
            actor=actor,
            occurred_at=occurred_at,
            case_no=case_no,
            query_code_hash=query_code_hash,
            item_code=item_code,
            applicant=applicant,
            agent=agent,
            channel=channel,
            extended_hours=extended_hours,
            appointment_id=appointment_id,
            receiving_region=receiving_region,
            handling_region=handling_region,
            materials=list(materials or []),
            bundle_id=bundle_id,
            priority=bool(priority),
            claimed_recorded_at=claimed_recorded_at,
            import_batch=import_batch,
        )

    # -- commands -----------------------------------------------------------------------

    def request_supplement(
        self, missing: list[str], *, actor: Actor, at: datetime, occurred_at: datetime | None = None
    ) -> None:
        """Issue the one complete supplement notice (一次性告知)."""
        self._require_stage(PRE_ACCEPTANCE, "a supplement notice")
        require(
            bool(missing) and all(m.strip() for m in missing),
            "a supplement notice must list every missing material",
        )
        self._emit(self.SupplementRequested, actor, at, occurred_at, missing=list(missing))

    def receive_supplement(
        self,
        materials: list[str],
        *,
        actor: Actor,
        at: datetime,
        occurred_at: datetime | None = None,
    ) -> None:
        """Record that the supplements are complete (补正材料收齐)."""
        self._require_stage({"supplementing"}, "receiving supplements")
        require(bool(materials), "materials must not be empty")
        self._emit(self.SupplementReceived, actor, at, occurred_at, materials=list(materials))

    def accept(
        self,
        *,
        notice_no: str,
        limits: ItemLimits,
        promised_completion: date,
        actor: Actor,
        at: datetime,
        occurred_at: datetime | None = None,
    ) -> None:
        """Accept the application (受理), copying the limits in force."""
        self._require_stage({"received"}, "acceptance")
        require_text(notice_no, "notice_no")
        require(
            0 <= limits.promised_days <= limits.statutory_days,
            "promised_days must be between 0 and statutory_days",
        )
        self._emit(
            self.Accepted,
            actor,
            at,
            occurred_at,
            notice_no=notice_no,
            limits=limits,
            promised_completion=promised_completion,
        )

    def reject(
        self,
        *,
        reasons: list[str],
        legal_basis: str,
        apply_instead: str = "",
        actor: Actor,
        at: datetime,
        occurred_at: datetime | None = None,
    ) -> None:
        """Refuse to accept (不予受理), with reasons and the legal basis."""
        self._require_stage(PRE_ACCEPTANCE, "rejection")
        require(bool(reasons), "a rejection needs reasons")
        require_text(legal_basis, "legal_basis")
        self._emit(
            self.Rejected,
            actor,
            at,
            occurred_at,
            reasons=list(reasons),
            legal_basis=legal_basis,
            apply_instead=apply_instead,
        )

    def withdraw(
        self, *, reason: str, actor: Actor, at: datetime, occurred_at: datetime | None = None
    ) -> None:
        """The applicant withdraws (撤回) before a decision."""
        self._require_stage(PRE_ACCEPTANCE | DECIDING, "withdrawal")
        self._emit(self.Withdrawn, actor, at, occurred_at, reason=require_text(reason, "reason"))

    def record_review(
        self,
        *,
        stage_name: str,
        opinion: str,
        comment: str = "",
        actor: Actor,
        at: datetime,
        occurred_at: datetime | None = None,
    ) -> None:
        """Record a review or approval opinion (审查/审核意见)."""
        self._require_open_decision("a review")
        require_choice(opinion, OPINIONS, "opinion")
        self._emit(
            self.ReviewRecorded,
            actor,
            at,
            occurred_at,
            stage_name=require_text(stage_name, "stage_name"),
            opinion=opinion,
            comment=comment,
        )

    def schedule_survey(
        self,
        *,
        requirements: list[str],
        survey_days: int,
        parties: list[str] | None = None,
        notified_at: datetime | None = None,
        notice_method: str = "",
        actor: Actor,
        at: datetime,
        occurred_at: datetime | None = None,
    ) -> None:
        """Schedule a site survey, notifying requirements and time limit at once (一次性告知);
        ``notified_at``/``notice_method``: when and how that notice reached the applicant."""
        self._require_open_decision("a survey")
        if self.survey_open:
            raise AlreadyDone("a survey is already scheduled and not yet conducted")
        require(bool(requirements), "the survey notice must list its requirements")
        require(
            isinstance(survey_days, int) and 1 <= survey_days <= 60,
            "survey_days must be 1..60 working days",
        )
        _check_notice(notified_at, notice_method, occurred_at or at, at)
        chosen = sorted(parties or SURVEY_PARTIES)
        require(  # each once: a list repeating a party would be kept in the log for ever
            len(chosen) == len(SURVEY_PARTIES) and set(chosen) == set(SURVEY_PARTIES),
            f"a joint survey involves all three parties {sorted(SURVEY_PARTIES)}, each once",
        )
        self._emit(
            self.SurveyScheduled,
            actor,
            at,
            occurred_at,
            requirements=list(requirements),
            survey_days=survey_days,
            parties=chosen,
            notified_at=notified_at,
            notice_method=notice_method,
        )

    def record_survey(
        self,
        *,
        participants: list[SurveyParticipant],
        conclusion: str,
        findings: str = "",
        cost_fen: int = 0,
        actor: Actor,
        at: datetime,
        occurred_at: datetime | None = None,
    ) -> None:
        """Record the one joint conclusion of a three-party survey (联合踏勘结论) and what
        the survey cost the bureau (``cost_fen``)."""
        self._require_open_decision("a survey conclusion")
        if not self.survey_open:
            raise OutOfOrder("no survey is scheduled")
        require_choice(conclusion, SURVEY_CONCLUSIONS, "conclusion")
        require(
            isinstance(cost_fen, int)
            and not isinstance(cost_fen, bool)
            and 0 <= cost_fen <= MAX_SERVICE_FEN,
            f"cost_fen must be an integer 0..{MAX_SERVICE_FEN}",
        )
        staff = {p.staff_id for p in participants if p.staff_id}
        require(len(staff) >= 2, "a survey conclusion needs at least two staff")
        present = {p.party for p in participants}
        require(
            present == set(SURVEY_PARTIES),
            f"all three parties must take part, missing {sorted(SURVEY_PARTIES - present)}",
        )
        self._emit(
            self.SurveyConducted,
            actor,
            at,
            occurred_at,
            participants=list(participants),
            conclusion=conclusion,
            findings=findings,
            cost_fen=cost_fen,
        )

    def suspend(
        self,
        *,
        kind: str,
        legal_basis: str,
        notified_at: datetime | None = None,
        notice_method: str = "",
        expected_days: int = 0,
        actor: Actor,
        at: datetime,
        occurred_at: datetime | None = None,
    ) -> None:
        """Start a special procedure whose time is not counted (Art. 45).

        The written notice Art. 45 requires (所需时间书面告知申请人) is recorded with it:
        when (``notified_at``), how (``notice_method``) and the duration it stated
        (``expected_days``, working days). A suspension without one is flagged (S17)."""
        self._require_open_decision("a suspension")
        _check_notice(notified_at, notice_method, occurred_at or at, at)
        require(
            isinstance(expected_days, int)
            and not isinstance(expected_days, bool)
            and 0 <= expected_days <= MAX_PROCEDURE_DAYS,
            f"expected_days must be 0..{MAX_PROCEDURE_DAYS} working days",
        )
        require(
            notified_at is not None or (not notice_method and not expected_days),
            "notice_method and expected_days describe a notice: give notified_at too",
        )
        if self.suspended:
            raise OutOfOrder("the clock is already suspended; resume it first")
        allowed = ART45_PAUSE_KINDS | set(self.limits.pause_kinds if self.limits else ())
        require_choice(kind, frozenset(allowed), "kind")
        self._emit(
            self.ClockSuspended,
            actor,
            at,
            occurred_at,
            kind=kind,
            legal_basis=require_text(legal_basis, "legal_basis"),
            notified_at=notified_at,
            notice_method=notice_method,
            expected_days=expected_days,
        )

    def resume(
        self, *, result: str, actor: Actor, at: datetime, occurred_at: datetime | None = None
    ) -> None:
        """End the special procedure and restart the clock."""
        if not self.suspended:
            raise OutOfOrder("the clock is not suspended")
        self._emit(self.ClockResumed, actor, at, occurred_at, result=result)

    def extend(
        self,
        *,
        days: int,
        reason: str,
        statutory_due: date,
        in_time: bool | None = None,
        applicant_told_at: datetime | None = None,
        told_how: str = "",
        actor: Actor,
        at: datetime,
        occurred_at: datetime | None = None,
    ) -> None:
        """Extend the statutory limit once (延长审批), approver only, before it expires.

        ``statutory_due`` is the deadline as it stands on the command's day and
        ``in_time`` the legal-time module's judgement of the command against it (the
        close-of-business rule may make an act on the last day late); when not given,
        the command's business date is compared with ``statutory_due``. The reason must
        be told to the applicant (Art. 42): ``applicant_told_at`` and ``told_how``."""
        if actor.role != "approver":
            raise Forbidden("only an approver may grant an extension")
        self._require_open_decision("an extension")
        if self.extensions:
            raise AlreadyDone("a case may be extended once")
        cap = 15 if self.limits and self.limits.joint else 10
        require(
            isinstance(days, int) and 1 <= days <= cap, f"an extension is 1..{cap} working days"
        )
        _check_notice(applicant_told_at, told_how, occurred_at or at, at)
        today = local_date(occurred_at or at)
        if not (in_time if in_time is not None else today <= statutory_due):
            raise DeadlinePassed(f"the statutory deadline {statutory_due} has passed")
        self._emit(
            self.ExtensionGranted,
            actor,
            at,
            occurred_at,
            days=days,
            reason=require_text(reason, "reason"),
            applicant_told_at=applicant_told_at,
            told_how=told_how,
        )

    def decide(
        self,
        *,
        outcome: str,
        reasons: list[str] | None = None,
        remedies: str = "",
        actor: Actor,
        at: datetime,
        occurred_at: datetime | None = None,
    ) -> None:
        """Decide (决定): approve, or deny with reasons and the applicant's remedies."""
        self._require_open_decision("a decision")
        if self.suspended:
            raise OutOfOrder("the clock is suspended; resume it before deciding")
        require_choice(outcome, OUTCOMES, "outcome")
        if outcome == "deny":
            require(bool(reasons), "a denial needs reasons")
            require_text(remedies, "remedies (复议/诉讼)")
        self._emit(
            self.Decided,
            actor,
            at,
            occurred_at,
            outcome=outcome,
            reasons=list(reasons or []),
            remedies=remedies,
        )

    def seal(
        self,
        *,
        seal_id: str,
        document_no: str,
        certificate_no: str,
        valid_until: date | None,
        document_sha256: str,
        approval_seal_id: str,
        actor: Actor,
        at: datetime,
        occurred_at: datetime | None = None,
    ) -> None:
        """Apply the one approval seal (一枚印章管审批) to the approving decision."""
        if self.stage == "sealed":
            raise AlreadyDone("the decision is already sealed")
        self._require_stage({"decided"}, "sealing (needs an approving decision)")
        if seal_id != approval_seal_id:
            raise InvalidCommand(f"only the approval seal {approval_seal_id} may be applied")
        require(
            bool(SHA256_HEX.match(document_sha256)),
            "document_sha256 must be 64 lowercase hex digits",
        )
        if valid_until is not None:
            check_valid_until(valid_until, local_date(occurred_at or at))
        self._emit(
            self.Sealed,
            actor,
            at,
            occurred_at,
            seal_id=seal_id,
            document_no=require_text(document_no, "document_no"),
            certificate_no=certificate_no,
            valid_until=valid_until,
            document_sha256=document_sha256,
        )

    def deliver(
        self,
        *,
        method: str,
        recipient: str,
        tracking_no: str = "",
        actor: Actor,
        at: datetime,
        occurred_at: datetime | None = None,
    ) -> None:
        """Deliver the sealed result (送达); mailing is free and needs a tracking number."""
        if self.stage == "delivered":
            raise AlreadyDone("the result is already delivered")
        self._require_stage({"sealed"}, "delivery (needs the seal)")
        require_choice(method, DELIVERY_METHODS, "method")
        if method == "mail":
            require_text(tracking_no, "tracking_no")
        self._emit(
            self.Delivered,
            actor,
            at,
            occurred_at,
            method=method,
            tracking_no=tracking_no,
            recipient=require_text(recipient, "recipient"),
        )

    def evaluate(
        self,
        *,
        level: int,
        channel: str,
        comment: str = "",
        actor: Actor,
        at: datetime,
        occurred_at: datetime | None = None,
        visit_rated_by: str = "",
    ) -> None:
        """Record the applicant's evaluation (好差评, GB/T 39046 levels 1–5).

        一次一评: the applicant rates a visit once. A child of a 一件事 bundle is one
        visit with its siblings; ``visit_rated_by`` names the sibling case (its number)
        that already carries the visit's rating, and the rating is refused."""
        if self.evaluation_level is not None:
            raise AlreadyDone("the case is already evaluated (本件已评价)")
        if visit_rated_by:
            raise AlreadyDone(
                f"this visit is already rated on case {visit_rated_by[:40]} of the same "
                "一件事 bundle: one rating per visit "
                f"(一次一评：本次办事已在办件 {visit_rated_by[:40]} 评价)"
            )
        require(isinstance(level, int) and level in EVALUATION_LEVELS, "level must be 1..5")
        self._emit(
            self.Evaluated,
            actor,
            at,
            occurred_at,
            level=level,
            channel=require_text(channel, "channel"),
            comment=comment,
        )

    def handle_bad_review(
        self,
        *,
        verification: str,
        rectification: str,
        actor: Actor,
        at: datetime,
        occurred_at: datetime | None = None,
    ) -> None:
        """Verify and rectify a bad review (差评核实整改)."""
        if self.evaluation_level not in BAD_REVIEW_LEVELS:
            raise OutOfOrder("there is no bad review (level 4–5) to handle")
        if self.bad_review_handled:
            raise AlreadyDone("the bad review is already handled")
        self._emit(
            self.BadReviewHandled,
            actor,
            at,
            occurred_at,
            verification=require_text(verification, "verification"),
            rectification=require_text(rectification, "rectification"),
            handler=actor.staff_id,
        )

    def record_follow_up(
        self,
        *,
        satisfied: bool,
        notes: str = "",
        actor: Actor,
        at: datetime,
        occurred_at: datetime | None = None,
    ) -> None:
        """Record a follow-up call (回访) once the case is closed, or after a 差评 at any
        stage (国办发〔2019〕51号: every bad review is called back)."""
        if self.stage not in CLOSED and self.evaluation_level not in BAD_REVIEW_LEVELS:
            raise OutOfOrder("a follow-up comes after the case is closed or a bad review")
        self._emit(
            self.FollowUpRecorded, actor, at, occurred_at, satisfied=bool(satisfied), notes=notes
        )

    def provide_service(
        self,
        *,
        service: str,
        units: int,
        charged_fen: int,
        bureau_cost_fen: int,
        note: str = "",
        actor: Actor,
        at: datetime,
        occurred_at: datetime | None = None,
    ) -> None:
        """Record a 惠民服务 given with this case (at any stage: a seal is engraved at
        intake, a result mailed at delivery) and what it cost the applicant and the bureau.
        A charge above the bureau's declared price is recorded as it happened (S19 flags
        it): the record is evidence, not a permission."""
        check_service(service, units, charged_fen, bureau_cost_fen, note)
        self._emit(
            self.ServiceProvided,
            actor,
            at,
            occurred_at,
            service=service,
            units=units,
            charged_fen=charged_fen,
            bureau_cost_fen=bureau_cost_fen,
            note=note,
        )

    def correct(
        self,
        *,
        corrects_version: int,
        fact: str,
        wrong_value: str,
        correct_value: str,
        reason: str,
        actor: Actor,
        at: datetime,
    ) -> None:
        """Correct an earlier event (更正) by a new event; the earlier one never changes."""
        require(
            isinstance(corrects_version, int) and 1 <= corrects_version <= self.version,
            f"corrects_version must name an event 1..{self.version}",
        )
        self._emit(
            self.Corrected,
            actor,
            at,
            None,
            corrects_version=corrects_version,
            fact=require_text(fact, "fact"),
            wrong_value=wrong_value,
            correct_value=correct_value,
            reason=require_text(reason, "reason"),
        )

    # -- import of legacy history (no rules: history is evidence) -----------------------

    def record_imported(
        self,
        event_name: str,
        *,
        actor: Actor,
        at: datetime,
        occurred_at: datetime | None,
        fields: dict[str, Any],
        claimed_recorded_at: datetime | None = None,
        import_batch: UUID | None = None,
    ) -> None:
        """Append a historical event exactly as it happened, even where it broke a rule."""
        if event_name not in self.EVENT_NAMES or event_name == "Submitted":
            raise InvalidCommand(f"unknown or misplaced event {event_name!r}")
        event_class = getattr(self, event_name)
        _check_times(at, occurred_at)
        if event_name == "ServiceProvided":  # history may break rules, never value bounds
            given = {k: fields.get(k) for k in ("service", "units", "charged_fen")}
            check_service(**given, bureau_cost_fen=fields.get("bureau_cost_fen", 0),
                          note=fields.get("note", ""))  # fmt: skip
        try:
            self.trigger_event(
                event_class,
                timestamp=at,
                actor=actor,
                occurred_at=occurred_at,
                claimed_recorded_at=claimed_recorded_at,
                import_batch=import_batch,
                **fields,
            )
        except TypeError as e:
            raise InvalidCommand(f"{event_name}: {e}") from None

    # -- guards -------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Delivered, rejected, withdrawn or denied: the approval itself is over."""
        return self.stage in CLOSED

    def _require_stage(self, allowed: set[str] | frozenset[str], what: str) -> None:
        if self.stage not in allowed:
            raise OutOfOrder(f"{what} is not allowed at stage {self.stage!r}", stage=self.stage)

    def _require_open_decision(self, what: str) -> None:
        self._require_stage(DECIDING, what)

    def _emit(
        self,
        event_class: type[Case.Event],
        actor: Actor,
        at: datetime,
        occurred_at: datetime | None,
        **fields: Any,
    ) -> None:
        _check_times(at, occurred_at)
        self.trigger_event(
            event_class, timestamp=at, actor=actor, occurred_at=occurred_at, **fields
        )


def _check_notice(
    notified_at: datetime | None, method: str, business: datetime, recorded: datetime
) -> None:
    """A written notice to the applicant: aware, not before the day of the act it tells of,
    not after the moment it is recorded, by a known method (or none stated)."""
    if notified_at is None:
        require(not method, "a notice method needs the time of the notice")
        return
    if not isinstance(notified_at, datetime) or notified_at.tzinfo is None:
        raise InvalidCommand("the notice time must be a timezone-aware date-time")
    require(
        local_date(notified_at) >= local_date(business),
        "the notice cannot precede the day of the act it tells of",
    )
    require(notified_at <= recorded, "the notice time may not be later than now")
    if method:
        require_choice(method, NOTICE_METHODS, "notice method")


def _check_times(at: datetime, occurred_at: datetime | None) -> None:
    if at.tzinfo is None:
        raise InvalidCommand("recorded_at must be timezone-aware")
    if occurred_at is not None:
        check_business_time(occurred_at, at)
