"""Per-case facts: a pure, incremental fold of one case's events.

``CaseFacts`` is the small, serialisable state the compliance, supervision and
evaluation projections keep per case. ``facts.apply(event, position)`` returns a new
value and never mutates; applying a position already folded returns the same value,
so a replayed event is never counted twice. ``facts.absorb(event)`` is the same fold in
place, for the per-case accumulators of a bulk build (nobody else holds them). Every
fact keeps its evidence: a :class:`~casestore.projections.facts.evidence.Stamp` with
the log position, version, ``recorded_at`` (server clock), ``occurred_at`` (claimed
business time, or None), and who did it.

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
from typing import Any, Final

import orjson

from casestore.domain.stages import CLOSED, STAGE_EVENTS, next_stage
from casestore.domain.values import ItemLimits

from ..engine.events import narrow_decoder
from .casejson import DUMPERS, NATIVE_DUMPERS, load, load_limits
from .evidence import (
    STAMP_FIELDS,
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
        name, stamp, get = read_event(event, position, _NARROW)
        last = self.last
        if last is not None and stamp.position <= last.position:
            return self
        # A shallow copy of the instance dict, folded into: the same new, never-mutated
        # value as ``dataclasses.replace`` (which re-runs ``__init__`` over every field).
        new = object.__new__(CaseFacts)
        state = self.__dict__.copy()
        _fold(state, name, stamp, get)
        _setattr(new, "__dict__", state)
        return new

    def absorb(self, event: Any, position: int | None = None) -> CaseFacts:
        """:meth:`apply` IN PLACE, returning ``self``: the same fold, without a new value
        per event. Only for facts their owner alone holds and can throw away whole on a
        failure: a write-behind bulk build's per-case accumulators (``FactsFold``), whose
        memo the runtime empties whenever a batch fails."""
        name, stamp, get = read_event(event, position, _NARROW)
        last = self.last
        if last is None or stamp.position > last.position:
            _fold(self.__dict__, name, stamp, get)
        return self

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
            # Left out: None, empty tuples and texts, no ``events``, an unmarked
            # ``priority`` (absent unless marked: old rows unchanged); a level of 0 is
            # kept. Tested by truth first, not ``value == ()``, which for a Stamp or a
            # limits value runs its dataclass ``__eq__`` (~40 fields per case written).
            if not value and (
                value is None or isinstance(value, tuple | str) or key in _OMITTED_WHEN_FALSE
            ):
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

# -- the fold of one event, into a case's field table ------------------------------


def _fold(state: dict[str, Any], name: str, stamp: Stamp, get: Getter) -> None:
    """Fold one event (name, evidence, field getter) into ``state``, a ``CaseFacts``
    instance dict: the one fold behind :meth:`CaseFacts.apply` and :meth:`CaseFacts.absorb`."""
    handler = _HANDLERS.get(name)
    if handler is not None:
        handler(state, get, stamp)
    if name in STAGE_EVENTS:
        # ``outcome`` is read by the stage machine for a Decided event only (its own).
        state["stage"] = next_stage(state["stage"], name, state["outcome"])
    occurred = stamp.occurred_at
    if occurred is not None and stamp.backdated_seconds > 0:
        state["claims"] = (*state["claims"], Claim(name, stamp))
    latest = state["latest"]
    if latest is not None and (occurred or stamp.recorded_at) < latest[1].at:
        state["inversions"] = (*state["inversions"], Inversion(name, stamp, *latest))
    else:
        state["latest"] = (name, stamp)
    state["last"] = stamp
    state["events"] += 1


# -- event handlers: (field table, field getter, stamp) -> None, setting what changed --

_State = dict[str, Any]


def _submitted(f: _State, get: Getter, s: Stamp) -> None:
    bundle = get("bundle_id")
    f["case_no"] = get("case_no")
    f["item_code"] = get("item_code")
    f["bundle_id"] = str(bundle) if bundle else None
    f["channel"] = get("channel")
    f["priority"] = bool(get("priority") or False)
    f["window"] = s.window
    f["staff"] = f["staff"] or s.staff
    f["submitted"] = s


def _accepted(f: _State, get: Getter, s: Stamp) -> None:
    promised = get("promised_completion")
    f["accepted"] = s
    f["limits"] = load_limits(get("limits"))
    f["promised_completion"] = date.fromisoformat(promised) if promised else None
    f["staff"] = s.staff or f["staff"]
    f["window"] = f["window"] or s.window


def _suspended(f: _State, get: Getter, s: Stamp) -> None:
    notified = get("notified_at")
    told = datetime.fromisoformat(notified) if notified else None
    f["suspensions"] = (*f["suspensions"], Pause(str(get("kind")), s, None, told))


def _resumed(f: _State, get: Getter, s: Stamp) -> None:
    pauses = f["suspensions"]
    if pauses and pauses[-1].end is None:
        f["suspensions"] = (*pauses[:-1], replace(pauses[-1], end=s))


def _survey(f: _State, get: Getter, s: Stamp) -> None:
    people = tuple(
        (str(p.get("name", "")), str(p.get("party", "")), str(p.get("staff_id") or ""))
        for p in get("participants") or ()
    )
    record = SurveyRecord(s, str(get("conclusion")), people)
    f["surveys_conducted"] = (*f["surveys_conducted"], record)


def _decided(f: _State, get: Getter, s: Stamp) -> None:
    f["decided"] = s
    f["outcome"] = get("outcome")


def _evaluated(f: _State, get: Getter, s: Stamp) -> None:
    level, channel = int(get("level")), str(get("channel"))
    f["evaluated"] = s
    f["evaluation_level"] = level
    f["evaluation_channel"] = channel


def _corrected(f: _State, get: Getter, s: Stamp) -> None:
    fix = Correction(s, int(get("corrects_version")), str(get("fact")))
    f["corrections"] = (*f["corrections"], fix)


def _delivered(f: _State, get: Getter, s: Stamp) -> None:
    f["delivered"] = s
    f["delivery_method"] = str(get("method"))


def _service(f: _State, get: Getter, s: Stamp) -> None:
    given = (
        s,
        str(get("service")),
        int(get("units")),
        int(get("charged_fen")),
        int(get("bureau_cost_fen")),
    )
    f["services"] = (*f["services"], given)


def _stamp_in(field: str) -> _Handler:
    """The handler of an event whose stamp is the fact: ``field`` = its stamp."""

    def handler(f: _State, get: Getter, s: Stamp) -> None:
        f[field] = s

    return handler


def _stamp_added(field: str) -> _Handler:
    """The handler of an event whose stamp is added to a tuple of them."""

    def handler(f: _State, get: Getter, s: Stamp) -> None:
        f[field] = (*f[field], s)

    return handler


def _scheduled(f: _State, get: Getter, s: Stamp) -> None:
    plan = SurveyPlan(s, int(get("survey_days")))
    f["surveys_scheduled"] = (*f["surveys_scheduled"], plan)


def _extended(f: _State, get: Getter, s: Stamp) -> None:
    f["extensions"] = (*f["extensions"], Grant(s, int(get("days"))))


def _followed_up(f: _State, get: Getter, s: Stamp) -> None:
    f["follow_ups"] = (*f["follow_ups"], (s, bool(get("satisfied"))))


#: The fields each handler reads of its event (``get``): a stored case event is decoded
#: for these and :data:`~.evidence.STAMP_FIELDS` only (``read_event``), the rest of its
#: state skipped unbuilt. A name missing here is still read right, from the whole decode.
_READS: dict[str, tuple[str, ...]] = {
    "Submitted": ("bundle_id", "case_no", "item_code", "channel", "priority"),
    "Accepted": ("promised_completion", "limits"),
    "SurveyScheduled": ("survey_days",),
    "SurveyConducted": ("participants", "conclusion"),
    "ClockSuspended": ("notified_at", "kind"),
    "ExtensionGranted": ("days",),
    "Decided": ("outcome",),
    "Delivered": ("method",),
    "Evaluated": ("level", "channel"),
    "FollowUpRecorded": ("satisfied",),
    "Corrected": ("corrects_version", "fact"),
    "ServiceProvided": ("service", "units", "charged_fen", "bureau_cost_fen"),
}

_OMITTED_WHEN_FALSE: Final = frozenset({"events", "priority"})  # see ``to_dict``
_Handler = Callable[[_State, Getter, Stamp], None]
_HANDLERS: dict[str, _Handler] = {
    "Submitted": _submitted,
    "SupplementRequested": _stamp_added("supplement_requests"),
    "SupplementReceived": _stamp_in("supplement_received"),
    "Accepted": _accepted,
    "Rejected": _stamp_in("rejected"),
    "Withdrawn": _stamp_in("withdrawn"),
    "ReviewRecorded": _stamp_added("reviews"),
    "SurveyScheduled": _scheduled,
    "SurveyConducted": _survey,
    "ClockSuspended": _suspended,
    "ClockResumed": _resumed,
    "ExtensionGranted": _extended,
    "Decided": _decided,
    "Sealed": _stamp_in("sealed"),
    "Delivered": _delivered,
    "Evaluated": _evaluated,
    "BadReviewHandled": _stamp_in("bad_review_handled"),
    "FollowUpRecorded": _followed_up,
    "Corrected": _corrected,
    "ServiceProvided": _service,
}

_NARROW = {name: narrow_decoder((*STAMP_FIELDS, *_READS.get(name, ()))) for name in _HANDLERS}
