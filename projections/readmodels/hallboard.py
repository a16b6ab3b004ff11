"""``hallboard``: the public hall status board's open cases (``GET /board/cases``).

An incremental in-memory read model, not a stored projection: the board shows only open
cases (a closed case is dropped for good) with clocks read on the server's today, so it
keeps :class:`~casestore.projections.facts.casefacts.CaseFacts` for open cases and the
items' :class:`~casestore.projections.facts.itemfacts.ItemFacts` in memory, folded from the
log after the last position it saw, and computes each row's clock with the compliance
rules (:func:`~casestore.projections.readmodels.compliance.projection.case_clocks`), the
same facts and clocks the ``compliance`` view stores. The edge (``api/routes/web.py``)
holds one per process and only renders :meth:`HallBoard.snapshot`.

It reads the log through :class:`DecodedLog` (the application service satisfies it),
never the write side's store. No row carries personal data: no applicant, agent, phone
or staff identity.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol
from uuid import UUID

from casestore.domain.values import ItemLimits
from casestore.store.integrity import LogRow
from casestore.timelimits import ClockConfig, WorkingCalendar

from ..facts.casefacts import CaseFacts, ItemFacts
from .compliance.projection import case_clocks

_CASE_TOPIC = "casestore.domain.case:Case."
_ITEM_TOPIC = "casestore.domain.catalogue:Item."
_CLOSING = (".Delivered", ".Rejected", ".Withdrawn")  # and a Decided that is not an approval


class DecodedLog(Protocol):
    """The log as the board reads it: stored rows by position, and their domain events."""

    def log_rows(self, after: int = 0) -> Iterable[LogRow]: ...

    def decode(self, row: LogRow) -> Any: ...


@dataclass(frozen=True)
class BoardRow:
    """One open case as the hall sees it: no personal data, no staff."""

    case_no: str
    item_code: str
    item_name: str
    window: str
    stage: str
    clock: str | None
    due: str | None
    remaining: int | None
    warning: str | None
    paused: bool
    updated_at: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class HallBoard:
    """Open cases and item names, folded incrementally from the log (thread-safe)."""

    def __init__(self, log: DecodedLog, calendar: WorkingCalendar, config: ClockConfig):
        self._store = log
        self._calendar = calendar
        self._config = config
        self._lock = threading.Lock()
        self.position = 0
        self._open: dict[UUID, CaseFacts] = {}
        self._items: dict[str, ItemFacts] = {}
        self._item_codes: dict[UUID, str] = {}
        self._row_cache: dict[str, tuple[tuple[int, int], date, BoardRow]] = {}

    def refresh(self) -> int:
        """Fold every event after the last one seen; returns the log position reached.

        A case's rows are only decoded if it is still open at the end of the scan (a
        closing event is recognised by its topic), so a cold start over a long log
        decodes little more than the open cases' events."""
        with self._lock:
            pending: dict[UUID, list[LogRow] | None] = {}  # None: closed during this scan
            for row in self._store.log_rows(self.position):
                self.position = row.position
                if row.topic.startswith(_CASE_TOPIC):
                    self._collect(pending, row)
                elif row.topic.startswith(_ITEM_TOPIC):
                    self._fold_item(row)
            for case_id, rows in pending.items():
                self._fold_case(case_id, rows)
            return self.position

    def _collect(self, pending: dict[UUID, list[LogRow] | None], row: LogRow) -> None:
        case_id = row.originator_id
        if case_id in pending:
            rows = pending[case_id]
            if rows is None:
                return  # closed for good
        elif case_id in self._open or row.topic.endswith(".Submitted"):
            rows = pending[case_id] = []
        else:
            return  # closed before this scan (dropped), or not a case this board knows
        if row.topic.endswith(_CLOSING) or (
            row.topic.endswith(".Decided") and self._store.decode(row).outcome != "approve"
        ):
            pending[case_id] = None
        else:
            rows.append(row)

    def _fold_item(self, row: LogRow) -> None:
        event = self._store.decode(row)
        code = getattr(event, "code", None) or self._item_codes.get(row.originator_id)
        if code is None:
            return
        self._item_codes[row.originator_id] = code
        self._items[code] = self._items.get(code, ItemFacts()).apply(event, row.position)

    def _fold_case(self, case_id: UUID, rows: list[LogRow] | None) -> None:
        facts = self._open.get(case_id) or CaseFacts(str(case_id))
        for row in rows or ():
            facts = facts.apply(self._store.decode(row), row.position)
        if rows is None or facts.closed:
            self._open.pop(case_id, None)
            self._row_cache.pop(str(case_id), None)
        else:
            self._open[case_id] = facts

    def rows(self, today: date, window: str | None = None) -> list[BoardRow]:
        """Open cases, most urgent first (red, yellow, fewest days left, oldest)."""
        with self._lock:
            facts = [f for f in self._open.values() if window is None or f.window == window]
            items = dict(self._items)
        rows = [self._cached_row(f, items.get(f.item_code), today) for f in facts]
        rank = {"red": 0, "yellow": 1}
        return sorted(
            rows,
            key=lambda r: (
                rank.get(r.warning or "", 2),
                r.remaining if r.remaining is not None else 10**6,
                r.case_no,
            ),
        )

    def _cached_row(self, f: CaseFacts, item: ItemFacts | None, today: date) -> BoardRow:
        # A row changes only with the case, its item or the day: recompute just those.
        key = (f.last.position if f.last else 0, item.last.position if item and item.last else 0)
        cached = self._row_cache.get(f.case_id)
        if cached is not None and cached[0] == key and cached[1] == today:
            return cached[2]
        row = self._row(f, item, today)
        self._row_cache[f.case_id] = (key, today, row)
        return row

    def _row(self, f: CaseFacts, item: ItemFacts | None, today: date) -> BoardRow:
        fallback: ItemLimits | None = item.limits() if item else None
        clocks = case_clocks(f, self._calendar, today, self._config, fallback)
        current = clocks.current
        suspended = bool(f.suspensions) and f.suspensions[-1].end is None
        return BoardRow(
            case_no=f.case_no,
            item_code=f.item_code,
            item_name=str(item.spec.get("name", f.item_code)) if item else f.item_code,
            window=f.window,
            stage=f.stage,
            clock=current.kind if current else None,
            due=current.due.isoformat() if current else None,
            remaining=clocks.remaining,
            warning=clocks.warning,
            paused=suspended or bool(current and current.paused),
            updated_at=f.last.recorded_at.isoformat() if f.last else "",
        )

    def item_names(self) -> dict[str, str]:
        with self._lock:
            return {c: str(f.spec.get("name", c)) for c, f in self._items.items()}

    def snapshot(self, today: date, window: str | None, limit: int) -> dict[str, Any]:
        """The body of ``GET /board/cases``: the log read up to now, the open cases of
        ``window`` (all when ``None``) most urgent first, at most ``limit`` of them, and
        counts over all of them."""
        position = self.refresh()
        rows = self.rows(today, window)
        return {
            "today": today.isoformat(),
            "position": position,
            "window": window,
            "counts": {
                "open": len(rows),
                "red": sum(r.warning == "red" for r in rows),
                "yellow": sum(r.warning == "yellow" for r in rows),
                "paused": sum(r.paused for r in rows),
            },
            "items": self.item_names(),
            "rows": [r.to_dict() for r in rows[:limit]],
        }
