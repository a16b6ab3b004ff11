"""Renderings of the write side for the query endpoints: events, a case, the public view.

These read one case's own events (a handful of rows), so they are exact and cheap
without a projection: time travel (``as_of`` / ``at_position``) comes for free by
reading fewer events. Personal data is masked by the caller (see ``masking``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from casestore.projections.facts.corrections import apply_corrections

from casestore.domain import Case
from casestore.domain.values import local_date
from casestore.plain import to_plain
from casestore.service import LogRow

_ENVELOPE = (
    "originator_id",
    "originator_version",
    "timestamp",
    "actor",
    "occurred_at",
    "claimed_recorded_at",
    "import_batch",
)


def event_name(event: Any) -> str:
    """``Accepted``, ``Submitted`` ... (the class name, the contract of SPEC §3.2)."""
    return type(event).__name__


def event_view(event: Any, row: LogRow | None = None) -> dict[str, Any]:
    """One event as JSON: envelope (who, when recorded, when it happened; for imported
    history also the legacy system's own entry time and the import batch) and its fields."""
    data = {k: v for k, v in vars(event).items() if k not in _ENVELOPE}
    occurred = getattr(event, "occurred_at", None)  # staff and access events have none
    view: dict[str, Any] = {
        "type": event_name(event),
        "case_id": str(event.originator_id),
        "version": event.originator_version,
        "recorded_at": event.timestamp.isoformat(),
        "occurred_at": occurred.isoformat() if occurred else None,
        "actor": to_plain(getattr(event, "actor", None)),
        "data": to_plain(data),
    }
    batch = getattr(event, "import_batch", None)
    if batch is not None:  # imported history: the legacy entry time and the batch
        claimed = getattr(event, "claimed_recorded_at", None)
        view["claimed_recorded_at"] = claimed.isoformat() if claimed else None
        view["import_batch"] = str(batch)
    if row is not None:
        view["position"] = row.position
        view["event_hash"] = row.event_hash.hex()
        view["chain_hash"] = row.chain_hash.hex()
    return view


def _business_date(event: Any) -> date:
    moment: datetime = event.occurred_at or event.timestamp
    return local_date(moment)


def case_view(case: Case, events: Sequence[Any]) -> dict[str, Any]:
    """A case as it stands after ``events`` (all of them, or up to a past version), with
    every fact corrected among them at its corrected value (see :func:`apply_corrections`)."""
    first, last = events[0], events[-1]
    view = {
        "case_id": str(case.id),
        "case_no": case.case_no,
        "version": case.version,
        "item_code": case.item_code,
        "stage": case.stage,
        "closed": case.closed,
        "bundle_id": str(case.bundle_id) if case.bundle_id else None,
        "channel": first.channel,
        "window": first.actor.window,
        "applicant": to_plain(first.applicant),
        "agent": to_plain(first.agent),
        "materials": list(first.materials),
        "extended_hours": first.extended_hours,
        "appointment_id": first.appointment_id,
        "receiving_region": first.receiving_region,
        "handling_region": first.handling_region,
        "received_at": first.timestamp.isoformat(),
        "received_on": _business_date(first).isoformat(),
        "accepted_on": case.accepted_on.isoformat() if case.accepted_on else None,
        "limits": to_plain(case.limits),
        "promised_completion": next(
            (e.promised_completion.isoformat() for e in events if event_name(e) == "Accepted"),
            None,
        ),
        "supplement_requests": case.supplement_requests,
        "survey_open": case.survey_open,
        "surveys_conducted": case.surveys_conducted,
        "suspended": case.suspended,
        "extensions": case.extensions,
        "outcome": case.outcome,
        "evaluation_level": case.evaluation_level,
        "bad_review_handled": case.bad_review_handled,
        "follow_ups": case.follow_ups,
        "corrections": case.corrections,
        "last_event": event_name(last),
        "updated_at": last.timestamp.isoformat(),
    }
    return apply_corrections(view, events)


#: What the applicant does or waits for next, by stage (the ``/query`` page shows it).
NEXT_STEP: dict[str, str] = {
    "received": "窗口正在审查申请材料，将在受理时限内作出受理或不予受理决定",
    "supplementing": "请按一次性告知书一次补齐下列材料，提交窗口或网上补正",
    "accepted": "已受理，正在审查，请等待审批决定",
    "under_review": "正在审查，请等待审批决定",
    "decided": "已准予许可，正在盖章制证",
    "sealed": "证照已制作，等待送达或到窗口领取",
    "delivered": "已办结送达，欢迎对本次服务作出评价",
    "denied": "不予许可，决定书载明理由和申请复议、提起诉讼的途径",
    "rejected": "不予受理，决定书载明理由，可按其所述向有关机关申请",
    "withdrawn": "申请已撤回，办理终止",
}
#: The clock the applicant waits on at each open stage (``/cases/{id}/clock`` names).
_WAITING_ON = {
    "received": "acceptance",
    "accepted": "promised",
    "under_review": "promised",
    "decided": "delivery",
    "sealed": "delivery",
}


def _deadline(stage: str, clocks: dict[str, Any] | None) -> dict[str, Any] | None:
    """The due date the applicant waits on now, and the working days left (``None``
    once nothing is pending, or while the clock stands still in a supplement)."""
    name = _WAITING_ON.get(stage)
    clock = (clocks or {}).get(name) if name else None
    if not clock or clock.get("done_on"):
        return None
    return {
        "kind": clock["kind"],
        "due": clock["due"],
        "remaining_working_days": clock.get("remaining"),
        "paused": bool(clock.get("paused")),
        "late": bool(clock.get("late")),
    }


def _missing(events: Sequence[Any]) -> list[str]:
    """Materials of the last one-time supplement notice not yet supplied."""
    missing: list[str] = []
    for e in events:
        if event_name(e) == "SupplementRequested":
            missing = list(e.missing)
        elif event_name(e) == "SupplementReceived":
            missing = []
    return missing


def public_case_view(
    case: Case,
    events: Sequence[Any],
    clocks: dict[str, Any] | None = None,
    item_name: str = "",
    visit_rated: bool = False,
) -> dict[str, Any]:
    """The applicant's view: progress and dates only, no personal data and no staff.

    With ``clocks`` (``ReadSide.clocks``): the due date waited on and the working days
    left; ``next_step`` and ``missing`` say what happens or is needed next.
    ``evaluated`` is true once the visit is rated (一次一评: ``visit_rated`` when another
    child of the same 一件事 bundle carries the visit's rating)."""
    first = events[0]
    return {
        "case_no": case.case_no,
        "item_code": case.item_code,
        "stage": case.stage,
        "closed": case.closed,
        "received_on": _business_date(first).isoformat(),
        "accepted_on": case.accepted_on.isoformat() if case.accepted_on else None,
        "promised_completion": next(
            (e.promised_completion.isoformat() for e in events if event_name(e) == "Accepted"),
            None,
        ),
        "outcome": case.outcome,
        "evaluated": case.evaluation_level is not None or visit_rated,
        "steps": [
            {"type": event_name(e), "on": _business_date(e).isoformat()}
            for e in events
            if event_name(e) not in ("Corrected", "BadReviewHandled")
        ],
        "updated_at": events[-1].timestamp.isoformat(),
        "item_name": item_name,
        "bundle": case.bundle_id is not None,
        "deadline": _deadline(case.stage, clocks),
        "missing": _missing(events) if case.stage == "supplementing" else [],
        "next_step": NEXT_STEP.get(case.stage, ""),
    }
