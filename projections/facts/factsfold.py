"""Keeping per-case (or per-item) facts in a projection's own table, one batch at a time."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson

from casestore.domain.values import ItemLimits

from ..engine.base import RowFold, Table, Tx
from .itemfacts import ItemFacts


class FactsFold:
    """The facts of the cases (or items) one batch touches: loaded once from the
    projection's own table (a ``facts`` JSON column beside the derived columns),
    folded in memory event by event, and written back once per batch with the derived
    columns recomputed from the final facts (so the rows never depend on batching)."""

    def __init__(
        self,
        tx: Tx,
        table: Table,
        empty: Callable[[str], Any],
        load: Callable[[Mapping[str, Any]], Any],
    ) -> None:
        self.rows = RowFold(tx, table)
        self.key = table.primary_key[0]
        self.empty = empty
        self.load = load
        self.facts: dict[str, Any] = {}
        self.changed: dict[str, None] = {}

    def prefetch(self, ids: Iterable[str]) -> None:
        """Load the rows of these ids in one or a few queries."""
        self.rows.prefetch((i,) for i in ids if i not in self.facts)

    def get(self, key: str) -> Any:
        """The facts of one id (empty facts when it has no row yet)."""
        facts = self.facts.get(key)
        if facts is None:
            row = self.rows.get((key,))
            facts = self.load(orjson.loads(row["facts"])) if row else self.empty(key)
            self.facts[key] = facts
        return facts

    def apply(self, event: Any) -> Any:
        """Fold one runtime event into the facts of its aggregate."""
        key = str(event.aggregate_id)
        facts = self.get(key).apply(event)
        self.facts[key] = facts
        self.changed[key] = None
        return facts

    def write(self, derive: Callable[[Any], dict[str, Any]]) -> list[Any]:
        """Write every changed row: facts JSON plus ``derive(facts)``; the changed facts."""
        changed = [self.facts[k] for k in self.changed]
        for key, facts in zip(self.changed, changed, strict=True):
            row = {self.key: key, "facts": orjson.dumps(facts.to_dict()).decode()}
            self.rows.put((key,), {**row, **derive(facts)})
        self.rows.flush()
        self.changed.clear()
        return changed


def catalogue_limits(tx: Tx, table: str) -> dict[str, ItemLimits]:
    """Item code -> limits in force, from a projection's items table (a small catalogue)."""
    out: dict[str, ItemLimits] = {}
    for (raw,) in tx.execute(f"SELECT facts FROM {table}"):
        item = ItemFacts.from_dict(orjson.loads(raw))
        limits = item.limits()
        if limits is not None:
            out[item.code] = limits
    return out
