"""One handler per command on an existing aggregate: decide, on the loaded aggregate.

A handler turns its command into one aggregate method call: it supplies what the
server decides (``recorded_at`` from the clock, the limits in force, the legal dates
a command needs, the approval seal) and leaves every rule to the aggregate, which
raises a domain error and records nothing when it refuses. Handlers neither load nor
save: the message loop in :mod:`casestore.service.bus` does, the simulator applies
them to cases it keeps in memory (:meth:`CaseService.decide`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any, Final, Protocol, TypeVar

from eventsourcing.domain import Aggregate

from casestore.domain import Bundle, Case, Item
from casestore.domain.clocks import bundle_due, extension_in_time
from casestore.domain.errors import InvalidCommand
from casestore.domain.values import check_business_time, local_date
from casestore.service.commands import (
    Accept,
    Correct,
    Decide,
    Deliver,
    Evaluate,
    Extend,
    ExtendBundle,
    HandleBadReview,
    ProvideService,
    ReceiveSupplement,
    RecordFollowUp,
    RecordSurvey,
    Reject,
    RequestSupplement,
    Resume,
    Review,
    ScheduleSurvey,
    Seal,
    Suspend,
    Update,
    Withdraw,
)
from casestore.timelimits.calendar import WorkingCalendar
from casestore.timelimits.config import ClockConfig
from casestore.timelimits.legaltime import on_time
from casestore.timelimits.rules import decision_clock


class Context(Protocol):
    """What handlers need from the service."""

    calendar: WorkingCalendar
    clock_config: ClockConfig
    seal_id: str

    def clock(self) -> datetime: ...

    def item(self, code: str, *, fresh: bool = False) -> Item: ...

    def bundle_children(self, bundle: Bundle) -> list[Case]: ...

    def visit_rated_by(self, case: Case) -> str: ...


C = TypeVar("C", bound=Update)
Handler = Callable[[Any, Any, Context], None]
#: command class -> (aggregate class it changes, its handler)
HANDLERS: Final[dict[type[Update], tuple[type[Aggregate], Handler]]] = {}


def handles(
    command: type[C], aggregate: type[Aggregate] = Case
) -> Callable[[Callable[[C, Any, Context], None]], Callable[[C, Any, Context], None]]:
    """Register the decorated function as the one handler of ``command``."""

    def register(fn: Callable[[C, Any, Context], None]) -> Callable[[C, Any, Context], None]:
        if command in HANDLERS:
            raise RuntimeError(f"{command.__name__} has two handlers")
        HANDLERS[command] = (aggregate, fn)
        return fn

    return register


@handles(RequestSupplement)
def request_supplement(cmd: RequestSupplement, case: Case, ctx: Context) -> None:
    case.request_supplement(
        list(cmd.missing), actor=cmd.actor, at=ctx.clock(), occurred_at=cmd.occurred_at
    )


@handles(ReceiveSupplement)
def receive_supplement(cmd: ReceiveSupplement, case: Case, ctx: Context) -> None:
    case.receive_supplement(
        list(cmd.materials), actor=cmd.actor, at=ctx.clock(), occurred_at=cmd.occurred_at
    )


@handles(Accept)
def accept(cmd: Accept, case: Case, ctx: Context) -> None:
    """Copies the limits in force (read fresh: another process may have revised the item)
    and states the promised completion date on the acceptance notice."""
    at = ctx.clock()
    limits = ctx.item(case.item_code, fresh=True).limits()
    clocks = decision_clock(
        local_date(cmd.occurred_at or at),
        limits.statutory_days,
        limits.promised_days,
        [],
        0,
        ctx.calendar,
        joint=limits.joint,
    )
    case.accept(
        notice_no=cmd.notice_no or f"SL-{case.case_no}",
        limits=limits,
        promised_completion=clocks.promised.due,
        actor=cmd.actor,
        at=at,
        occurred_at=cmd.occurred_at,
    )


@handles(Reject)
def reject(cmd: Reject, case: Case, ctx: Context) -> None:
    case.reject(
        reasons=list(cmd.reasons),
        legal_basis=cmd.legal_basis,
        apply_instead=cmd.apply_instead,
        actor=cmd.actor,
        at=ctx.clock(),
        occurred_at=cmd.occurred_at,
    )


@handles(Withdraw)
def withdraw(cmd: Withdraw, case: Case, ctx: Context) -> None:
    case.withdraw(reason=cmd.reason, actor=cmd.actor, at=ctx.clock(), occurred_at=cmd.occurred_at)


@handles(Review)
def review(cmd: Review, case: Case, ctx: Context) -> None:
    case.record_review(
        stage_name=cmd.stage_name,
        opinion=cmd.opinion,
        comment=cmd.comment,
        actor=cmd.actor,
        at=ctx.clock(),
        occurred_at=cmd.occurred_at,
    )


@handles(ScheduleSurvey)
def schedule_survey(cmd: ScheduleSurvey, case: Case, ctx: Context) -> None:
    case.schedule_survey(
        requirements=list(cmd.requirements),
        survey_days=cmd.survey_days,
        parties=None if cmd.parties is None else list(cmd.parties),
        notified_at=cmd.notified_at,
        notice_method=cmd.notice_method,
        actor=cmd.actor,
        at=ctx.clock(),
        occurred_at=cmd.occurred_at,
    )


@handles(RecordSurvey)
def record_survey(cmd: RecordSurvey, case: Case, ctx: Context) -> None:
    case.record_survey(
        participants=list(cmd.participants),
        conclusion=cmd.conclusion,
        findings=cmd.findings,
        cost_fen=cmd.cost_fen,
        actor=cmd.actor,
        at=ctx.clock(),
        occurred_at=cmd.occurred_at,
    )


@handles(Suspend)
def suspend(cmd: Suspend, case: Case, ctx: Context) -> None:
    case.suspend(
        kind=cmd.kind,
        legal_basis=cmd.legal_basis,
        notified_at=cmd.notified_at,
        notice_method=cmd.notice_method,
        expected_days=cmd.expected_days,
        actor=cmd.actor,
        at=ctx.clock(),
        occurred_at=cmd.occurred_at,
    )


@handles(Resume)
def resume(cmd: Resume, case: Case, ctx: Context) -> None:
    case.resume(result=cmd.result, actor=cmd.actor, at=ctx.clock(), occurred_at=cmd.occurred_at)


@handles(Extend)
def extend(cmd: Extend, case: Case, ctx: Context) -> None:
    """In time when the act falls on or before the statutory deadline as it stands on
    its day — from acceptance or deemed acceptance (Art. 32), open and closed Art. 45
    suspensions not counted, the close-of-business rule applied — the judgement the read
    side's S10 makes (:func:`casestore.domain.clocks.extension_in_time`)."""
    at = ctx.clock()
    due, in_time = date.max, True  # not accepted: the aggregate refuses it
    if case.limits is not None:
        if cmd.occurred_at is not None:
            check_business_time(cmd.occurred_at, at)
        due, in_time = extension_in_time(
            case, cmd.occurred_at or at, ctx.calendar, ctx.clock_config
        )
    case.extend(
        days=cmd.days,
        reason=cmd.reason,
        statutory_due=due,
        in_time=in_time,
        applicant_told_at=cmd.applicant_told_at,
        told_how=cmd.told_how,
        actor=cmd.actor,
        at=at,
        occurred_at=cmd.occurred_at,
    )


@handles(Decide)
def decide(cmd: Decide, case: Case, ctx: Context) -> None:
    case.decide(
        outcome=cmd.outcome,
        reasons=list(cmd.reasons),
        remedies=cmd.remedies,
        actor=cmd.actor,
        at=ctx.clock(),
        occurred_at=cmd.occurred_at,
    )


@handles(Seal)
def seal(cmd: Seal, case: Case, ctx: Context) -> None:
    case.seal(
        seal_id=cmd.seal_id,
        document_no=cmd.document_no,
        certificate_no=cmd.certificate_no,
        valid_until=cmd.valid_until,
        document_sha256=cmd.document_sha256,
        approval_seal_id=ctx.seal_id,
        actor=cmd.actor,
        at=ctx.clock(),
        occurred_at=cmd.occurred_at,
    )


@handles(Deliver)
def deliver(cmd: Deliver, case: Case, ctx: Context) -> None:
    case.deliver(
        method=cmd.method,
        recipient=cmd.recipient,
        tracking_no=cmd.tracking_no,
        actor=cmd.actor,
        at=ctx.clock(),
        occurred_at=cmd.occurred_at,
    )


@handles(Evaluate)
def evaluate(cmd: Evaluate, case: Case, ctx: Context) -> None:
    case.evaluate(
        level=cmd.level,
        channel=cmd.channel,
        comment=cmd.comment,
        actor=cmd.actor,
        at=ctx.clock(),
        occurred_at=cmd.occurred_at,
        visit_rated_by=ctx.visit_rated_by(case),
    )


@handles(HandleBadReview)
def handle_bad_review(cmd: HandleBadReview, case: Case, ctx: Context) -> None:
    case.handle_bad_review(
        verification=cmd.verification,
        rectification=cmd.rectification,
        actor=cmd.actor,
        at=ctx.clock(),
        occurred_at=cmd.occurred_at,
    )


@handles(ProvideService)
def provide_service(cmd: ProvideService, case: Case, ctx: Context) -> None:
    case.provide_service(
        service=cmd.service,
        units=cmd.units,
        charged_fen=cmd.charged_fen,
        bureau_cost_fen=cmd.bureau_cost_fen,
        note=cmd.note,
        actor=cmd.actor,
        at=ctx.clock(),
        occurred_at=cmd.occurred_at,
    )


@handles(RecordFollowUp)
def record_follow_up(cmd: RecordFollowUp, case: Case, ctx: Context) -> None:
    case.record_follow_up(
        satisfied=cmd.satisfied,
        notes=cmd.notes,
        actor=cmd.actor,
        at=ctx.clock(),
        occurred_at=cmd.occurred_at,
    )


@handles(Correct)
def correct(cmd: Correct, case: Case, ctx: Context) -> None:
    case.correct(
        corrects_version=cmd.corrects_version,
        fact=cmd.fact,
        wrong_value=cmd.wrong_value,
        correct_value=cmd.correct_value,
        reason=cmd.reason,
        actor=cmd.actor,
        at=ctx.clock(),
    )


@handles(ExtendBundle, Bundle)
def extend_bundle(cmd: ExtendBundle, bundle: Bundle, ctx: Context) -> None:
    """Judged against the joint deadline on the act's day: 45 working days from the
    bundle's intake, its children's Art. 45 pauses not counted (Art. 42 ¶2, Art. 45)."""
    at = ctx.clock()
    if cmd.occurred_at is not None:
        check_business_time(cmd.occurred_at, at)
    business = cmd.occurred_at or at
    if bundle.opened_on is None:  # pragma: no cover - every bundle is opened with a date
        raise InvalidCommand("the bundle has no intake date")
    due = bundle_due(
        bundle.opened_on,
        bundle.statutory_days,
        ctx.bundle_children(bundle),
        local_date(business),
        ctx.calendar,
    ).due
    bundle.extend(
        reason=cmd.reason,
        approved_by=cmd.approved_by,
        approval_document=cmd.approval_document,
        joint_due=due,
        in_time=on_time(business, due, ctx.clock_config),
        applicant_told_at=cmd.applicant_told_at,
        told_how=cmd.told_how,
        actor=cmd.actor,
        at=at,
        occurred_at=cmd.occurred_at,
    )
