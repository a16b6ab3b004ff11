"""Catalogue item facts: the limits in force and the history of S14 breaches, as a pure fold.

``ItemFacts.apply(event, position)`` folds an item's ``Published``/``Revised`` events
like :class:`~casestore.projections.facts.casefacts.CaseFacts` folds a case's: a new value
each time, a position already folded changes nothing. The limits in force are what an
acceptance now would copy (and what a case deemed accepted, never accepted, runs on).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from casestore.domain.values import ItemLimits

from .evidence import Stamp, read_event, stamp_from, stamp_list


@dataclass(frozen=True, slots=True)
class ItemBreach:
    """A period during which an item promised more days than the statute allows (S14)."""

    raised: Stamp
    promised_days: int
    statutory_days: int
    cleared: Stamp | None = None


@dataclass(frozen=True)
class ItemFacts:
    """A catalogue item's limits in force and the history of its S14 breaches."""

    code: str = ""
    spec: Mapping[str, Any] = field(default_factory=dict)
    breaches: tuple[ItemBreach, ...] = ()
    last: Stamp | None = None

    def apply(self, event: Any, position: int | None = None) -> ItemFacts:
        """The item after one of its ``Published``/``Revised`` events."""
        name, stamp, get = read_event(event, position)
        if self.last is not None and stamp.position <= self.last.position:
            return self
        if name == "Published":
            code, spec = str(get("code")), dict(get("spec"))
        elif name == "Revised":
            code, spec = self.code, {**self.spec, **get("changes")}
        else:
            return replace(self, last=stamp)
        promised, statutory = int(spec["promised_days"]), int(spec["statutory_days"])
        breaches = self.breaches
        open_breach = bool(breaches) and breaches[-1].cleared is None
        if promised > statutory and not open_breach:
            breaches = (*breaches, ItemBreach(stamp, promised, statutory))
        elif promised <= statutory and open_breach:
            breaches = (*breaches[:-1], replace(breaches[-1], cleared=stamp))
        return replace(self, code=code, spec=spec, breaches=breaches, last=stamp)

    def limits(self) -> ItemLimits | None:
        """The limits in force (what an acceptance now would copy), None before publishing."""
        if not self.spec:
            return None
        return ItemLimits.from_spec(self.spec, self.last.version if self.last else 0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (round-trips through :meth:`from_dict`)."""
        breaches = [
            [b.raised.to_list(), b.promised_days, b.statutory_days, stamp_list(b.cleared)]
            for b in self.breaches
        ]
        return {
            "code": self.code,
            "spec": dict(self.spec),
            "breaches": breaches,
            "last": stamp_list(self.last),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ItemFacts:
        """Inverse of :meth:`to_dict`."""
        breaches = tuple(
            ItemBreach(Stamp.from_list(r), p, s, stamp_from(c))
            for r, p, s, c in data.get("breaches", [])
        )
        return cls(data["code"], dict(data["spec"]), breaches, stamp_from(data.get("last")))
