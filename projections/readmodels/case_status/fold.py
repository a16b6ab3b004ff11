"""The case_status fold: how each case event changes a case's status row (pure functions).

Stages move by the domain's one stage machine (:func:`casestore.domain.stages.next_stage`,
a pure function the ``Case`` aggregate uses too), over plain row dicts, so rebuilding
never needs the aggregate classes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson

from casestore.domain.personal import ERASED, PLACEHOLDERS
from casestore.domain.stages import PRE_ACCEPTANCE, STAGE_EVENTS, next_stage

from ...engine.events import LogEvent, local_day
from ...engine.sql import RowFold

CLOSED_STATUS = {"delivered": "completed", "rejected": "rejected", "withdrawn": "withdrawn"}
CLOSED_STATUS["denied"] = "denied"

RowHook = Callable[[dict[str, Any], LogEvent], None]


def mask_name(name: str, kind: str = "person") -> str:
    """A person's name with all but the first character hidden; organisations unmasked."""
    if kind == "organisation" or name in PLACEHOLDERS:
        return name
    name = name.strip()
    return name[:1] + "".join(" " if ch == " " else "*" for ch in name[1:])


def derive_status(stage: str, suspended: bool) -> str:
    """pending | in_progress | suspended | completed | rejected | withdrawn | denied."""
    if stage in CLOSED_STATUS:
        return CLOSED_STATUS[stage]
    if suspended:
        return "suspended"
    return "pending" if stage in PRE_ACCEPTANCE else "in_progress"


@dataclass
class CaseBatch:
    rows: RowFold
    items: RowFold
    names: dict[str, str | None]  # item code -> name, the whole (small) catalogue
    hooks: Sequence[RowHook]


def item_published(b: CaseBatch, ev: LogEvent) -> None:
    code = str(ev.raw.get("code", ""))
    name = (ev.raw.get("spec") or {}).get("name")
    row = {"item_id": ev.aggregate_id, "code": code, "name": name, "version": ev.version}
    b.items.put((ev.aggregate_id,), row)
    b.names[code] = name


def item_revised(b: CaseBatch, ev: LogEvent) -> None:
    row = b.items.get((ev.aggregate_id,))
    if row is None:
        return
    changes = ev.raw.get("changes") or {}
    if "name" in changes:
        row["name"] = b.names[row["code"]] = changes["name"]
    row["version"] = ev.version
    b.items.touch((ev.aggregate_id,))


def subject_forgotten(b: CaseBatch, ev: LogEvent) -> None:
    """``SubjectForgotten``: the subject's cases show 〔已删除〕 for the applicant (a
    rebuild reads the same from the destroyed key's tokens)."""
    for case_id in ev.plain("case_ids") or ():
        key = (str(case_id),)
        row = b.rows.get(key)
        if row is not None:
            row["applicant_masked"] = ERASED
            b.rows.put(key, row)


def fold_case(b: CaseBatch, ev: LogEvent) -> None:
    key = (ev.aggregate_id,)
    kind = ev.type
    if kind == "Submitted":
        row = new_row(b, ev)
    else:
        existing = b.rows.get(key)
        if existing is None:
            return  # its Submitted lies outside this build (cannot happen in a full log)
        row = existing
        fold_row(row, ev)
        if kind == "Corrected" and ev.raw.get("fact") == "item_code":
            row["item_name"] = b.names.get(str(row["item_code"]))
    actor = ev.actor()
    row["actor_staff"] = actor["staff_id"]
    row["actor_role"] = actor["role"]
    row["actor_window"] = actor["window"]
    row["status"] = derive_status(row["stage"], bool(row["suspended"]))
    row["updated_at_us"] = ev.recorded_at_us
    row["version"] = ev.version
    row["last_position"] = ev.position
    for hook in b.hooks:
        hook(row, ev)
    b.rows.put(key, row)


def new_row(b: CaseBatch, ev: LogEvent) -> dict[str, Any]:
    raw = ev.raw
    applicant = ev.plain("applicant") or {}
    kind = str(applicant.get("kind", "person"))
    item_code = str(raw.get("item_code", ""))
    return {
        "case_id": ev.aggregate_id,
        "case_no": raw.get("case_no"),
        "item_code": item_code,
        "item_name": b.names.get(item_code),
        "bundle_id": ev.plain("bundle_id"),
        "channel": raw.get("channel"),
        "applicant_masked": mask_name(str(applicant.get("name", "")), kind),
        "applicant_kind": kind,
        "stage": "received",
        "outcome": None,
        "intake_window": ev.actor()["window"],
        "submitted_at_us": ev.business_at_us,
        "accepted_on": None,
        "promised_completion": None,
        "decided_at_us": None,
        "closed_at_us": None,
        "supplement_requests": 0,
        "suspended": 0,
        "extended": 0,
        "evaluation_level": None,
        "promised_due": None,
        "statutory_due": None,
        "remaining_days": None,
        "warning": None,
        "corrected": None,
    }


#: Facts (dotted paths of the case view, docs/events.md) the status row shows, and the
#: column each one fills. A correction of any other fact is still marked in ``corrected``.
CORRECTABLE: Final = {
    "applicant.name": "applicant_masked",
    "channel": "channel",
    "window": "intake_window",
    "item_code": "item_code",
    "promised_completion": "promised_completion",
}


def correct_row(row: dict[str, Any], ev: LogEvent) -> None:
    """A ``Corrected`` event: the fact's column at its corrected value (a name masked as
    ever), and the fact marked in ``corrected`` (JSON: fact -> the correction's version and
    whether this row shows it). Bitemporal by construction: a row folded up to a moment
    before the correction (``project rebuild --until``) has neither."""
    fact = str(ev.raw.get("fact", ""))
    value = ev.raw.get("correct_value")
    column = CORRECTABLE.get(fact)
    if column == "applicant_masked":
        row[column] = mask_name(str(value or ""), str(row.get("applicant_kind") or "person"))
    elif column is not None:
        row[column] = value
    marks = orjson.loads(row["corrected"]) if row.get("corrected") else {}
    marks[fact] = {"version": ev.version, "shown": column is not None}
    row["corrected"] = orjson.dumps(marks, option=orjson.OPT_SORT_KEYS).decode()


def fold_row(row: dict[str, Any], ev: LogEvent) -> None:
    """The stage by the domain's one stage machine, and the facts of the row."""
    kind = ev.type
    # The stored state is decoded whole only for the kinds below that read a field of
    # their own: every other event needs only its actor and time (``LogEvent.actor``'s
    # narrow decode), and the stage machine reads the outcome of a ``Decided`` only.
    if kind in STAGE_EVENTS:
        outcome = ev.raw.get("outcome") if kind == "Decided" else None
        row["stage"] = next_stage(row["stage"], kind, outcome)
    if kind == "SupplementRequested":
        row["supplement_requests"] = (row["supplement_requests"] or 0) + 1
    elif kind == "Accepted":
        row["accepted_on"] = local_day(ev.business_at_us).isoformat()
        row["promised_completion"] = ev.plain("promised_completion")
    elif kind == "ClockSuspended":
        row["suspended"] = 1
    elif kind == "ClockResumed":
        row["suspended"] = 0
    elif kind == "ExtensionGranted":
        row["extended"] = 1
    elif kind == "Decided":
        approve = ev.raw.get("outcome") == "approve"
        row["outcome"] = "approved" if approve else "denied"
        row["decided_at_us"] = ev.business_at_us
    elif kind == "Evaluated":
        row["evaluation_level"] = ev.raw.get("level")
    elif kind in ("Rejected", "Withdrawn"):
        row["outcome"] = row["stage"]
    elif kind == "Corrected":
        correct_row(row, ev)
    if row["stage"] in CLOSED_STATUS and row["closed_at_us"] is None:
        row["closed_at_us"] = ev.business_at_us
