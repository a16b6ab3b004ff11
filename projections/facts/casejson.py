"""The JSON form of :class:`~casestore.projections.facts.casefacts.CaseFacts`, field by field.

``DUMPERS`` gives each field that is not JSON as it stands its compact form (stamps as
lists); ``NATIVE_DUMPERS`` the same with a stamp's times left as datetimes, for
``orjson.dumps``, which writes them as ``isoformat()`` does (``CaseFacts.to_json``, the
facts column a fold writes once per case). ``load`` is the inverse.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

from casestore.domain.values import ItemLimits

from .evidence import (
    Claim,
    Correction,
    Grant,
    Inversion,
    Pause,
    Stamp,
    SurveyPlan,
    SurveyRecord,
)


def load_limits(raw: Mapping[str, Any]) -> ItemLimits:
    """The item limits copied at acceptance, from their JSON form."""
    return ItemLimits(**{**raw, "pause_kinds": tuple(raw.get("pause_kinds") or ())})


_STAMPS = {
    "submitted",
    "supplement_received",
    "accepted",
    "rejected",
    "withdrawn",
    "decided",
    "sealed",
    "delivered",
    "evaluated",
    "bad_review_handled",
    "last",
}


StampDump = Callable[[Stamp], list[Any]]


def _native_stamp(s: Stamp) -> list[Any]:
    """:meth:`Stamp.to_list` with its times left as datetimes, for ``orjson.dumps``,
    which writes an aware datetime exactly as ``isoformat()`` does (the same text),
    in C rather than one Python call per time."""
    if s.imported:
        return s.to_list()
    return [s.position, s.version, s.recorded_at, s.occurred_at, s.staff, s.role, s.window]


def _dumpers(st: StampDump) -> dict[str, Callable[[Any], Any]]:
    """key -> its JSON form, for every field that is not JSON as it stands (one dict
    lookup per field: ``to_dict`` runs once per case written, over every field)."""

    def pauses(value: Any) -> Any:
        return [
            [
                p.kind,
                st(p.start),
                st(p.end) if p.end else None,
                p.notified_at.isoformat() if p.notified_at else None,
            ]
            for p in value
        ]

    def stamps(value: Any) -> Any:
        return [st(s) for s in value]

    def plans(value: Any) -> Any:
        return [[st(g.stamp), g.days] for g in value]

    return {
        **{key: st for key in _STAMPS},
        "supplement_requests": stamps,
        "reviews": stamps,
        "limits": lambda lim: {**lim.__dict__, "pause_kinds": list(lim.pause_kinds)},
        "promised_completion": date.isoformat,
        "suspensions": pauses,
        "extensions": plans,
        "surveys_scheduled": plans,
        "surveys_conducted": lambda value: [
            [st(r.stamp), r.conclusion, [list(p) for p in r.participants]] for r in value
        ],
        "follow_ups": lambda value: [[st(s), ok] for s, ok in value],
        "services": lambda value: [[st(s), *rest] for s, *rest in value],
        "corrections": lambda value: [[st(c.stamp), c.corrects_version, c.field] for c in value],
        "claims": lambda value: [[c.name, st(c.stamp)] for c in value],
        "inversions": lambda value: [
            [i.name, st(i.stamp), i.previous_name, st(i.previous)] for i in value
        ],
        "latest": lambda value: [value[0], st(value[1])],
    }


DUMPERS = _dumpers(Stamp.to_list)
NATIVE_DUMPERS = _dumpers(_native_stamp)


def dump(key: str, value: Any) -> Any:
    """A field of :meth:`CaseFacts.to_dict` in its JSON form."""
    dump = DUMPERS.get(key)
    return value if dump is None else dump(value)


def load(key: str, raw: Any) -> Any:
    """A field of :meth:`CaseFacts.from_dict` from its JSON form (inverse of ``DUMPERS``)."""
    st = Stamp.from_list
    if key in _STAMPS:
        return st(raw)
    if key in ("supplement_requests", "reviews"):
        return tuple(st(s) for s in raw)
    if key == "limits":
        return load_limits(raw)
    if key == "promised_completion":
        return date.fromisoformat(raw)
    if key == "suspensions":
        return tuple(
            Pause(
                p[0],
                st(p[1]),
                st(p[2]) if p[2] else None,
                datetime.fromisoformat(p[3]) if len(p) > 3 and p[3] else None,
            )
            for p in raw
        )
    if key == "extensions":
        return tuple(Grant(st(s), d) for s, d in raw)
    if key == "surveys_scheduled":
        return tuple(SurveyPlan(st(s), d) for s, d in raw)
    if key == "surveys_conducted":
        return tuple(SurveyRecord(st(s), c, tuple(tuple(p) for p in ps)) for s, c, ps in raw)
    if key == "follow_ups":
        return tuple((st(s), ok) for s, ok in raw)
    if key == "services":
        return tuple((st(s), svc, units, charged, cost) for s, svc, units, charged, cost in raw)
    if key == "corrections":
        return tuple(Correction(st(s), v, fld) for s, v, fld in raw)
    if key == "claims":
        return tuple(Claim(n, st(s)) for n, s in raw)
    if key == "inversions":
        return tuple(Inversion(n, st(s), pn, st(p)) for n, s, pn, p in raw)
    if key == "latest":
        return (raw[0], st(raw[1]))
    return raw
