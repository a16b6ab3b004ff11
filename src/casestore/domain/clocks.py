"""What the legal-time module needs of a case or a bundle, read from the aggregates.

The write side asks :mod:`casestore.timelimits.legaltime` the same questions as the read
side (which builds the same inputs from ``CaseFacts``), so a command refused here as late
is exactly one the supervision rules would flag, and the other way round.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from casestore.domain.case import Case
from casestore.domain.errors import InvalidCommand
from casestore.domain.values import ItemLimits, local_date
from casestore.timelimits.calendar import WorkingCalendar
from casestore.timelimits.config import ClockConfig
from casestore.timelimits.legaltime import (
    AcceptanceFacts,
    Start,
    bundle_clock,
    decision_start,
    on_time,
    statutory_due_on,
    valid_pauses,
)
from casestore.timelimits.rules import ClockResult, Suspension


def acceptance_facts(case: Case) -> AcceptanceFacts:
    """The Art. 32 facts of a case (its receipt and first answers)."""
    if case.received_at is None:
        raise InvalidCommand("the case has no receipt")
    return AcceptanceFacts(case.received_at, case.first_answer, case.supplements_at, case.answer)


def pauses_of(case: Case, limits: ItemLimits) -> list[Suspension]:
    """The suspensions that stop the case's decision clocks."""
    return valid_pauses(case.suspensions, case.surveys, limits.pause_kinds)


def start_of(
    case: Case, on: date, cal: WorkingCalendar, cfg: ClockConfig, fallback: ItemLimits | None
) -> tuple[Start, ItemLimits] | None:
    """Where the decision clocks start (acceptance, or deemed acceptance) and the limits
    they run under (copied at acceptance, else the catalogue's ``fallback``)."""
    limits = case.limits or fallback
    if limits is None or case.received_at is None:
        return None
    begin = decision_start(acceptance_facts(case), case.accepted_at, case.rejected, on, cal, cfg)
    return None if begin is None else (begin, limits)


def statutory_due(
    case: Case, on: date, cal: WorkingCalendar, cfg: ClockConfig, fallback: ItemLimits | None
) -> ClockResult:
    """The case's statutory deadline as it stands on ``on`` (no extension counted)."""
    found = start_of(case, on, cal, cfg, fallback)
    if found is None:
        raise InvalidCommand("no decision clock runs for this case yet")
    begin, limits = found
    return statutory_due_on(
        begin.day, limits.statutory_days, pauses_of(case, limits), on, cal, joint=limits.joint
    )


def extension_in_time(
    case: Case,
    at: datetime,
    cal: WorkingCalendar,
    cfg: ClockConfig,
    fallback: ItemLimits | None = None,
) -> tuple[date, bool]:
    """(statutory due on the command's day, whether an extension at ``at`` is in time):
    the same judgement as :func:`~casestore.timelimits.legaltime.extension_refusal`."""
    due = statutory_due(case, local_date(at), cal, cfg, fallback).due
    return due, on_time(at, due, cfg)


def bundle_due(
    opened: date,
    days: int,
    children: Iterable[Case],
    on: date,
    cal: WorkingCalendar,
) -> ClockResult:
    """The bundle's joint statutory deadline on ``on``: from its intake, its children's
    Art. 45 pauses not counted (only the Art. 45 kinds: the joint clock is the law's,
    not an item's own pause list; the read side's ``bundles`` view does the same)."""
    pauses = [p for child in children for p in valid_pauses(child.suspensions, (), ())]
    return bundle_clock(opened, days, pauses, cal, as_of=on)
