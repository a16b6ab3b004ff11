"""Keeping per-case (or per-item) facts in a projection's own table, one batch at a time.

With ``cache=N`` the facts of the N most recently changed ids stay in the worker's memo
between batches (no SELECT and no JSON parse for a case the worker itself wrote last;
sound only while every write to the table goes through this fold, and the runtime
empties the memo whenever it cannot vouch for it). During a bulk build of a scratch
target (write-behind, :data:`~casestore.projections.engine.sql.WRITE_BEHIND`) a changed
case is not written at every batch: it stays in the cache and its row (and whatever
``then`` writes beside it) is written once, when it leaves the cache or when the build
ends, and its facts are folded in place meanwhile (``CaseFacts.absorb``: the same fold
as ``apply``, without a new value per event). A case's derived columns are a function
of its final facts and of the context its last batch saw (e.g. the catalogue limits
then in force), which is kept with it, so the rows are the same whichever way the log
was batched.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from typing import Any

import orjson

from casestore.domain.values import ItemLimits

from ..engine.base import WRITE_BEHIND, Table, Tx
from ..engine.sql import on_write_behind_flush
from .itemfacts import ItemFacts

Derive = Callable[[Any], dict[str, Any]]
#: Called after rows were written: (tx, the facts written, ids whose row is new).
Then = Callable[[Tx, list[Any], set[str]], None]
_Pending = tuple[Derive, Then | None, bool]  # derive, then, the row is new

#: Facts kept between batches: many during a bulk build (a case's events span many
#: batches; memory stays bounded by this, not by the log), a few in a live worker.
#: 20,000 like case_status' row cache: a 1M-event log fills it within its first
#: quarter, so a rebuild's peak memory is the same for a quarter and for the whole.
BUILD_CACHE = 20_000
LIVE_CACHE = 2_000


def cache_size(tx: Tx) -> int:
    """How many facts a fold keeps between batches in this transaction's worker."""
    return BUILD_CACHE if tx.memo.get(WRITE_BEHIND) else LIVE_CACHE


class FactsFold:
    """The facts of the cases (or items) one batch touches: loaded once from the
    projection's own table (a ``facts`` JSON column beside the derived columns),
    folded in memory event by event, and written back with the derived columns
    recomputed from the final facts (so the rows never depend on batching)."""

    def __init__(
        self,
        tx: Tx,
        table: Table,
        empty: Callable[[str], Any],
        load: Callable[[Mapping[str, Any]], Any],
        *,
        cache: int = 0,
    ) -> None:
        self.tx = tx
        self.table = table
        self.key = table.primary_key[0]
        self.empty = empty
        self.load = load
        self.facts: dict[str, Any] = {}
        self.changed: dict[str, None] = {}
        self._new: set[str] = set()  # ids looked up and not in the table
        self._limit = cache
        self._lru: OrderedDict[str, Any] | None = (
            tx.memo.setdefault(("facts", table.name), OrderedDict()) if cache else None
        )
        self._behind = bool(cache and tx.memo.get(WRITE_BEHIND))
        # A write-behind build folds each case's facts in place (``absorb``): they are
        # this fold's alone until written, and a failed batch empties the memo whole.
        self._in_place = self._behind and hasattr(empty(""), "absorb")

    def _pending(self) -> dict[str, _Pending]:
        pending: dict[str, _Pending] = self.tx.memo.setdefault(
            ("facts_pending", self.table.name), {}
        )
        return pending

    def prefetch(self, ids: Iterable[str]) -> None:
        """Load the rows of these ids in one or a few queries."""
        lru: Mapping[str, Any] = self._lru or {}
        wanted = [i for i in dict.fromkeys(ids) if i not in self.facts and i not in lru]
        found = self.tx.select_keys(self.table, [(i,) for i in wanted])
        for i in wanted:
            row = found.get((i,))
            if row is None:
                self.facts[i] = self.empty(i)
                self._new.add(i)
            else:
                self.facts[i] = self.load(orjson.loads(row["facts"]))

    def get(self, key: str) -> Any:
        """The facts of one id (empty facts when it has no row yet)."""
        facts = self.facts.get(key)
        if facts is None:
            lru = self._lru
            facts = lru.get(key) if lru is not None else None
            if facts is None:
                self.prefetch([key])
                return self.facts[key]
            self.facts[key] = facts
        return facts

    def apply(self, event: Any) -> Any:
        """Fold one runtime event into the facts of its aggregate."""
        key = str(event.aggregate_id)
        if self._in_place:
            facts = self.get(key).absorb(event)  # get() put it in self.facts
        else:
            facts = self.facts[key] = self.get(key).apply(event)
        self.changed[key] = None
        return facts

    def write(self, derive: Derive, then: Then | None = None) -> list[Any]:
        """Write the changed rows: facts JSON plus ``derive(facts)``, then ``then``.

        Returns the facts written now: every changed one, except in a write-behind build,
        where a changed case is held (with ``derive`` and ``then``) until it leaves the
        cache or the build ends, and what is returned is the cases leaving the cache.
        """
        changed = list(self.changed)
        self.changed.clear()
        lru = self._lru
        if lru is None:
            out: list[tuple[str, Any, _Pending]] = [
                (k, self.facts[k], (derive, then, k in self._new)) for k in changed
            ]
            _write(self.tx, self.table, self.key, out)
            self._new.difference_update(changed)
            return [f for _, f, _ in out]
        for key in changed:
            lru[key] = self.facts[key]
            lru.move_to_end(key)
        if not self._behind:
            out = [(k, self.facts[k], (derive, then, k in self._new)) for k in changed]
        else:
            pending = self._pending()
            for key in changed:
                held = pending.get(key)
                pending[key] = (derive, then, held[2] if held else key in self._new)
            flush = partial(_flush_held, self.table, self.key)
            on_write_behind_flush(self.tx, ("facts", self.table.name), flush)
            out = []
            while len(lru) > self._limit:
                key, facts = lru.popitem(last=False)
                held = pending.pop(key, None)
                if held is not None:
                    out.append((key, facts, held))
        while len(lru) > self._limit:
            lru.popitem(last=False)
        _write(self.tx, self.table, self.key, out)
        self._new.difference_update(changed)
        return [f for _, f, _ in out]


def _flush_held(table: Table, key_column: str, tx: Tx) -> None:
    """Write every case a write-behind build still holds (at the end of the bulk)."""
    pending: dict[str, _Pending] = tx.memo.get(("facts_pending", table.name), {})
    lru: Mapping[str, Any] = tx.memo.get(("facts", table.name), {})
    _write(tx, table, key_column, [(k, lru[k], held) for k, held in pending.items()])
    pending.clear()


def _write(tx: Tx, table: Table, key_column: str, out: Sequence[tuple[str, Any, _Pending]]) -> None:
    """Insert (new) or upsert the rows of ``out``, then run each group's ``then``."""
    if not out:
        return
    new: list[dict[str, Any]] = []
    old: list[dict[str, Any]] = []
    groups: dict[int, tuple[Then, list[Any], set[str]]] = {}
    for key, facts, (derive, then, fresh) in out:
        to_json = getattr(facts, "to_json", None)  # CaseFacts: the same text, faster
        text = to_json() if to_json is not None else orjson.dumps(facts.to_dict()).decode()
        row = {key_column: key, "facts": text, **derive(facts)}
        (new if fresh else old).append(row)
        if then is not None:
            group = groups.setdefault(id(then), (then, [], set()))
            group[1].append(facts)
            if fresh:
                group[2].add(key)
    tx.insert(table, new)
    tx.upsert(table, old)
    for then, facts_list, fresh_ids in groups.values():
        then(tx, facts_list, fresh_ids)


def catalogue_limits(tx: Tx, table: str) -> dict[str, ItemLimits]:
    """Item code -> limits in force, from a projection's items table (a small catalogue)."""
    out: dict[str, ItemLimits] = {}
    for (raw,) in tx.execute(f"SELECT facts FROM {table}"):
        item = ItemFacts.from_dict(orjson.loads(raw))
        limits = item.limits()
        if limits is not None:
            out[item.code] = limits
    return out
