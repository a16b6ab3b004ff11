"""Per-case facts: a pure, incremental fold of one case's events.

``CaseFacts`` is the small, serialisable state the compliance, supervision and
evaluation projections keep per case. ``facts.apply(event, position)`` returns a new
value and never mutates; applying a position already folded returns the same value,
so a replayed event is never counted twice. Every fact keeps its evidence: a
:class:`~casestore.projections.facts.evidence.Stamp` with the log position, version,
``recorded_at`` (server clock), ``occurred_at`` (claimed business time, or None), and
who did it.

Business time is ``occurred_at or recorded_at``; business dates are the bureau's local
dates (UTC+8). Clocks are computed from facts by the pure functions of
:mod:`casestore.projections.facts.caseclocks`, flags by
:mod:`casestore.projections.readmodels.supervision.rules`;
nothing here reads a clock or a database. Catalogue items fold in
:mod:`~casestore.projections.facts.itemfacts`; :class:`FactsFold` keeps either in a table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

import orjson

from casestore.domain.stages import CLOSED, STAGE_EVENTS, next_stage
from casestore.domain.values import ItemLimits

from .casejson import DUMPERS, NATIVE_DUMPERS, load, load_limits
from .evidence import (
    Claim,
    Correction,
    Getter,
    Grant,
    Inversion,
    Pause,
    Stamp,
    SurveyPlan,
    SurveyRecord,
    read_event,
)
from .factsfold import FactsFold
from .itemfacts import ItemBreach, ItemFacts

__all__ = [
    "CaseFacts",
    "Claim",
    "Correction",
    "FactsFold",
    "Getter",
    "Grant",
    "Inversion",
    "ItemBreach",
    "ItemFacts",
    "Pause",
    "Stamp",
    "SurveyPlan",
    "SurveyRecord",
    "read_event",
]


@dataclass(frozen=True)
class CaseFacts:
    """What the read side knows about one case, each fact with its evidence."""

    case_id: str
    case_no: str = ""
    item_code: str = ""
    bundle_id: str | None = None
    channel: str = ""
    window: str = ""
    """The intake window (窗口) of the case."""
    priority: bool = False
    """Marked green-channel (招商引资绿色通道) at intake."""
    staff: str = ""
    """The responsible staff member: who accepted the case (受理人), else who took it in."""
    stage: str = "received"
    submitted: Stamp | None = None
    supplement_requests: tuple[Stamp, ...] = ()
    supplement_received: Stamp | None = None
    accepted: Stamp | None = None
    limits: ItemLimits | None = None
    promised_completion: date | None = None
    rejected: Stamp | None = None
    withdrawn: Stamp | None = None
    reviews: tuple[Stamp, ...] = ()
    surveys_scheduled: tuple[SurveyPlan, ...] = ()
    surveys_conducted: tuple[SurveyRecord, ...] = ()
    suspensions: tuple[Pause, ...] = ()
    extensions: tuple[Grant, ...] = ()
    decided: Stamp | None = None
    outcome: str | None = None
    sealed: Stamp | None = None
    delivered: Stamp | None = None
    delivery_method: str = ""
    evaluated: Stamp | None = None
    evaluation_level: int | None = None
    evaluation_channel: str = ""
    bad_review_handled: Stamp | None = None
    follow_ups: tuple[tuple[Stamp, bool], ...] = ()
    services: tuple[tuple[Stamp, str, int, int, int], ...] = ()
    """惠民服务 given: (stamp, service, units, charged_fen, bureau_cost_fen)."""
    corrections: tuple[Correction, ...] = ()
    claims: tuple[Claim, ...] = ()
    inversions: tuple[Inversion, ...] = ()
    latest: tuple[str, Stamp] | None = None
    """The event with the latest business time so far (the predecessor for S07)."""
    last: Stamp | None = None
    """The last event folded (its position makes ``apply`` idempotent)."""
    events: int = 0

    # -- the fold ------------------------------------------------------------------------

    def apply(self, event: Any, position: int | None = None) -> CaseFacts:
        """The facts after one more event of this case: a domain event found at
        ``position``, or a runtime ``LogEvent`` (which knows its position)."""
        name, stamp, get = read_event(event, position)
        if self.last is not None and stamp.position <= self.last.position:
            return self
        handler = _HANDLERS.get(name)
        changes: dict[str, Any] = handler(self, get, stamp) if handler else {}
        if name in STAGE_EVENTS:
            changes["stage"] = next_stage(self.stage, name, changes.get("outcome"))
        if stamp.occurred_at is not None and stamp.backdated_seconds > 0:
            changes["claims"] = (*self.claims, Claim(name, stamp))
        if self.latest is not None and stamp.at < self.latest[1].at:
            inversion = Inversion(name, stamp, self.latest[0], self.latest[1])
            changes["inversions"] = (*self.inversions, inversion)
        else:
            changes["latest"] = (name, stamp)
        changes["last"], changes["events"] = stamp, self.events + 1
        return self._evolve(changes)

    def _evolve(self, changes: dict[str, Any]) -> CaseFacts:
        # dataclasses.replace re-runs __init__ over every field (half of a rebuild's time);
        # a shallow copy of the instance dict gives the same new, never-mutated value.
        # dict.copy() copies the table whole (about 3x faster than updating an empty
        # instance dict key by key); the frozen class's __setattr__ is bypassed for it.
        new = object.__new__(CaseFacts)
        state = self.__dict__.copy()
        state.update(changes)
        _setattr(new, "__dict__", state)
        return new

    @classmethod
    def blank(cls, case_id: str) -> CaseFacts:
        """``CaseFacts(case_id)``, copied from one kept blank (a fold starts a case's
        facts this way once per case: ``__init__`` would set every field)."""
        new = object.__new__(CaseFacts)
        state = _BLANK.copy()
        state["case_id"] = case_id
        _setattr(new, "__dict__", state)
        return new

    @classmethod
    def fold(cls, case_id: str, events: list[tuple[Any, int]]) -> CaseFacts:
        """Fold (event, position) pairs from nothing."""
        facts = cls(case_id)
        for event, position in events:
            facts = facts.apply(event, position)
        return facts

    # -- derived ----------------------------------------------------------------------

    @property
    def completed(self) -> bool:
        """办结: a decision was made (approved or denied)."""
        return self.decided is not None

    @property
    def closed(self) -> bool:
        """Nothing more to decide or deliver: delivered, denied, rejected or withdrawn."""
        return self.stage in CLOSED

    @property
    def instant(self) -> bool:
        """A 即办件 (instant item) by the limits copied at acceptance."""
        return self.limits is not None and (
            self.limits.case_type == "instant" or self.limits.promised_days == 0
        )

    @property
    def bad_review(self) -> bool:
        """The evaluation is a 差评 (level 4 or 5)."""
        return self.evaluation_level is not None and self.evaluation_level >= 4

    # -- serialisation ----------------------------------------------------------------

    def to_dict(self, *, _dumpers: dict[str, Callable[[Any], Any]] | None = None) -> dict[str, Any]:
        """JSON-ready form (round-trips through :meth:`from_dict`)."""
        out: dict[str, Any] = {}
        dumpers = DUMPERS if _dumpers is None else _dumpers
        for key, value in self.__dict__.items():
            # Empty tuples and texts are left out; tested by type, not ``value == ()``,
            # which for a Stamp or a limits value runs its dataclass ``__eq__`` twice
            # (once per case per facts rebuild, for each of ~40 fields).
            if value is None or (isinstance(value, tuple | str) and not value):
                continue
            if key == "events" and not value:
                continue
            if key == "priority" and not value:  # absent unless marked: old rows unchanged
                continue
            dump = dumpers.get(key)
            out[key] = value if dump is None else dump(value)
        return out

    def to_json(self) -> str:
        """``orjson.dumps(self.to_dict())`` as text, the same text, made faster (times
        written by orjson itself): the facts column a fold writes once per case."""
        return orjson.dumps(self.to_dict(_dumpers=NATIVE_DUMPERS)).decode()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CaseFacts:
        """Inverse of :meth:`to_dict`."""
        return cls(**{key: load(key, value) for key, value in data.items()})


_setattr = object.__setattr__
_BLANK = CaseFacts("").__dict__

# -- event handlers: (facts, field getter, stamp) -> changed fields --------------------


def _submitted(f: CaseFacts, get: Getter, s: Stamp) -> dict[str, Any]:
    bundle = get("bundle_id")
    return {
        "case_no": get("case_no"),
        "item_code": get("item_code"),
        "bundle_id": str(bundle) if bundle else None,
        "channel": get("channel"),
        "priority": bool(get("priority") or False),
        "window": s.window,
        "staff": f.staff or s.staff,
        "submitted": s,
    }


def _accepted(f: CaseFacts, get: Getter, s: Stamp) -> dict[str, Any]:
    promised = get("promised_completion")
    return {
        "accepted": s,
        "limits": load_limits(get("limits")),
        "promised_completion": date.fromisoformat(promised) if promised else None,
        "staff": s.staff or f.staff,
        "window": f.window or s.window,
    }


def _suspended(f: CaseFacts, get: Getter, s: Stamp) -> dict[str, Any]:
    notified = get("notified_at")
    told = datetime.fromisoformat(notified) if notified else None
    return {"suspensions": (*f.suspensions, Pause(str(get("kind")), s, None, told))}


def _resumed(f: CaseFacts, get: Getter, s: Stamp) -> dict[str, Any]:
    if not f.suspensions or f.suspensions[-1].end is not None:
        return {}
    return {"suspensions": (*f.suspensions[:-1], replace(f.suspensions[-1], end=s))}


def _survey(f: CaseFacts, get: Getter, s: Stamp) -> dict[str, Any]:
    people = tuple(
        (str(p.get("name", "")), str(p.get("party", "")), str(p.get("staff_id") or ""))
        for p in get("participants") or ()
    )
    record = SurveyRecord(s, str(get("conclusion")), people)
    return {"surveys_conducted": (*f.surveys_conducted, record)}


def _decided(f: CaseFacts, get: Getter, s: Stamp) -> dict[str, Any]:
    return {"decided": s, "outcome": get("outcome")}


def _evaluated(f: CaseFacts, get: Getter, s: Stamp) -> dict[str, Any]:
    level, channel = int(get("level")), str(get("channel"))
    return {"evaluated": s, "evaluation_level": level, "evaluation_channel": channel}


def _corrected(f: CaseFacts, get: Getter, s: Stamp) -> dict[str, Any]:
    fix = Correction(s, int(get("corrects_version")), str(get("fact")))
    return {"corrections": (*f.corrections, fix)}


def _reviewed(f: CaseFacts, get: Getter, s: Stamp) -> dict[str, Any]:
    return {"reviews": (*f.reviews, s)}


_Handler = Callable[[CaseFacts, Getter, Stamp], dict[str, Any]]
_HANDLERS: dict[str, _Handler] = {
    "Submitted": _submitted,
    "SupplementRequested": lambda f, g, s: {"supplement_requests": (*f.supplement_requests, s)},
    "SupplementReceived": lambda f, g, s: {"supplement_received": s},
    "Accepted": _accepted,
    "Rejected": lambda f, g, s: {"rejected": s},
    "Withdrawn": lambda f, g, s: {"withdrawn": s},
    "ReviewRecorded": _reviewed,
    "SurveyScheduled": lambda f, g, s: {
        "surveys_scheduled": (*f.surveys_scheduled, SurveyPlan(s, int(g("survey_days"))))
    },
    "SurveyConducted": _survey,
    "ClockSuspended": _suspended,
    "ClockResumed": _resumed,
    "ExtensionGranted": lambda f, g, s: {"extensions": (*f.extensions, Grant(s, int(g("days"))))},
    "Decided": _decided,
    "Sealed": lambda f, g, s: {"sealed": s},
    "Delivered": lambda f, g, s: {"delivered": s, "delivery_method": str(g("method"))},
    "Evaluated": _evaluated,
    "BadReviewHandled": lambda f, g, s: {"bad_review_handled": s},
    "FollowUpRecorded": lambda f, g, s: {"follow_ups": (*f.follow_ups, (s, bool(g("satisfied"))))},
    "Corrected": _corrected,
    "ServiceProvided": lambda f, g, s: {
        "services": (
            *f.services,
            (
                s,
                str(g("service")),
                int(g("units")),
                int(g("charged_fen")),
                int(g("bureau_cost_fen")),
            ),
        )
    },
}
