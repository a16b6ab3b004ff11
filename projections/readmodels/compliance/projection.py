"""``compliance``: per-case clocks (SPEC §4) stored as due dates; on-time rates and overdue lists.

The clocks themselves are pure functions of a case's facts
(:mod:`~casestore.projections.facts.caseclocks`); each row holds them as of the case's latest
event (:mod:`~casestore.projections.readmodels.compliance.rows`), and "overdue now" or "remaining
days today" are queries reading the stored rows on the caller's today
(:class:`ComplianceView`). A decision clock paused by an open suspension is never
overdue for the time it stays paused: read on a later day its due date moves by the
working days suspended since, and its remaining working days stay frozen.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, ClassVar

import orjson

from casestore.domain import Case, InvalidCommand
from casestore.domain.values import ItemLimits
from casestore.settings import load_settings
from casestore.timelimits import ClockConfig, WorkingCalendar, default_calendar

from ...engine.base import Column, Index, LogEvent, Projection, Table, Tx
from ...engine.db import View, ViewDB
from ...facts.caseclocks import (
    CaseClocks,
    DecisionStart,
    acceptance_clock_of,
    case_clocks,
    decision_start,
    extension_problems,
    valid_pauses,
)
from ...facts.casefacts import CaseFacts, FactsFold, ItemFacts
from ...facts.clockstate import Clock, bureau_today
from ...facts.factsfold import cache_size, catalogue_limits
from .rows import OVERDUE, compliance_row, overdue_days, read_deadline, summary_group

__all__ = [
    "COMPLIANCE_CASES",
    "COMPLIANCE_ITEMS",
    "PROJECTION",
    "CaseClocks",
    "Clock",
    "ComplianceProjection",
    "ComplianceView",
    "DecisionStart",
    "acceptance_clock_of",
    "bureau_today",
    "case_clocks",
    "catalogue_limits",
    "decision_start",
    "extension_problems",
    "valid_pauses",
]

COMPLIANCE_CASES = Table(
    "compliance_cases",
    (
        Column("case_id", not_null=True),
        Column("facts"),
        Column("case_no"),
        Column("item_code"),
        Column("service_window"),
        Column("priority", "int"),
        Column("staff"),
        Column("stage"),
        Column("received_on"),
        Column("decision_start"),
        Column("deemed", "int"),
        Column("promised_due"),
        Column("statutory_due"),
        Column("paused", "int"),
        Column("paused_since"),
        Column("decision_open", "int"),
        Column("decided_on"),
        Column("month"),
        Column("outcome"),
        Column("promised_on_time", "int"),
        Column("statutory_on_time", "int"),
        Column("used_days", "int"),
        Column("acceptance_due"),
        Column("acceptance_open", "int"),
        Column("deemed_promised_due"),
        Column("deemed_statutory_due"),
        Column("delivery_due"),
        Column("delivery_open", "int"),
        Column("current_kind"),
        Column("current_due"),
        Column("provisional", "int"),
        Column("as_of"),
        Column("last_position", "int"),
    ),
    ("case_id",),
    (
        Index("decided", ("decided_on",)),
        Index("open", ("decision_open", "promised_due")),
        Index("item", ("item_code",)),
    ),
)
COMPLIANCE_ITEMS = Table(
    "compliance_items",
    (Column("item_id", not_null=True), Column("facts"), Column("code")),
    ("item_id",),
)
GROUPS = {
    "item": "item_code",
    "window": "service_window",
    "staff": "staff",
    "month": "month",
    # green-channel cases (招商引资绿色通道, marked at intake) measured apart from the rest
    "priority": "CASE WHEN priority = 1 THEN 'green_channel' ELSE 'regular' END",
}


@dataclass
class _Batch:
    cases: FactsFold
    items: FactsFold


class ComplianceProjection(Projection[_Batch]):
    """Per-case clocks as of each case's latest event; aggregates are queries over them."""

    name = "compliance"
    version = 6  # 2: paused_since, and clocks paused after their deadline stay late;
    # 3: deemed_*_due, the decision clocks a deemed acceptance would start
    # 4: stages by the domain's one stage machine (imported histories)
    # 5: legal time of issue 19 (Art. 203 rest days, last-day suspensions, office hours,
    # extension timeliness with suspensions and deemed acceptance)
    # 6: priority, green-channel cases measured apart
    tables = (COMPLIANCE_CASES, COMPLIANCE_ITEMS)
    handlers: ClassVar[dict[str, Callable[[Any, LogEvent], None]]] = {
        **{f"Case.{k}": lambda b, e: b.cases.apply(e) for k in Case.EVENT_NAMES},
        "Item.Published": lambda b, e: b.items.apply(e),
        "Item.Revised": lambda b, e: b.items.apply(e),
    }

    def __init__(
        self, calendar: WorkingCalendar | None = None, config: ClockConfig | None = None
    ) -> None:
        self._calendar = calendar
        self._config = config

    @property
    def calendar(self) -> WorkingCalendar:
        """The working-day calendar (loaded on first use)."""
        if self._calendar is None:
            self._calendar = default_calendar()
        return self._calendar

    @property
    def config(self) -> ClockConfig:
        """Clock settings from the environment (loaded on first use)."""
        if self._config is None:
            self._config = load_settings().clock()
        return self._config

    def begin(self, tx: Tx, events: Sequence[LogEvent]) -> _Batch:
        batch = _Batch(
            FactsFold(
                tx, COMPLIANCE_CASES, CaseFacts.blank, CaseFacts.from_dict, cache=cache_size(tx)
            ),
            FactsFold(tx, COMPLIANCE_ITEMS, lambda _: ItemFacts(), ItemFacts.from_dict),
        )
        batch.cases.prefetch(e.aggregate_id for e in events if e.aggregate == "Case")
        return batch

    def finish(self, tx: Tx, state: _Batch) -> None:
        state.items.write(lambda item: {"code": item.code})
        fallback = catalogue_limits(tx, "{compliance_items}") if state.cases.changed else {}
        state.cases.write(lambda f: self.row(f, fallback.get(f.item_code)))

    def row(self, f: CaseFacts, fallback: ItemLimits | None = None) -> dict[str, Any]:
        """The derived columns of one case (see :func:`compliance_row`)."""
        return compliance_row(f, self.calendar, self.config, fallback)


PROJECTION = ComplianceProjection()


class ComplianceView(View):
    """Queries over the compliance projection: the live view, or a named target."""

    tables = PROJECTION.tables

    def __init__(
        self,
        db: ViewDB,
        target: str = "",
        *,
        calendar: WorkingCalendar | None = None,
        config: ClockConfig | None = None,
    ) -> None:
        super().__init__(db, target)
        self.calendar = calendar or PROJECTION.calendar
        self.config = config or PROJECTION.config

    def summary(
        self, group_by: str = "item", *, since: date | None = None, until: date | None = None
    ) -> dict[str, Any]:
        """On-time rates against promised and statutory limits, average working days used,
        by item, window, staff or month of decision, over cases decided in [since, until]."""
        column = GROUPS.get(group_by)
        if column is None:
            raise InvalidCommand(f"group_by must be one of {sorted(GROUPS)}, got {group_by!r}")
        bounds = ((since or date.min).isoformat(), (until or date.max).isoformat())
        decided = self.rows(
            f"SELECT {column} AS k, COUNT(*) AS n, SUM(promised_on_time) AS p, "
            "SUM(statutory_on_time) AS s, SUM(used_days) AS u, SUM(deemed) AS d "
            "FROM {compliance_cases} WHERE decided_on IS NOT NULL AND decided_on >= %s "
            f"AND decided_on <= %s GROUP BY {column}",
            bounds,
        )
        running = self.rows(
            f"SELECT {column} AS k, COUNT(*) AS n FROM {{compliance_cases}} "
            f"WHERE decision_open = 1 GROUP BY {column}"
        )
        open_by = {r["k"] or "": int(r["n"]) for r in running}
        groups = [summary_group(r["k"] or "", r, open_by.get(r["k"] or "", 0)) for r in decided]
        keys = {g["key"] for g in groups}
        groups += [summary_group(k, {}, n) for k, n in open_by.items() if k not in keys]
        groups.sort(key=lambda g: g["key"])
        total: dict[str, Any] = {
            f: sum(int(r[f] or 0) for r in decided) for f in ("n", "p", "s", "u", "d")
        }
        return {
            "group_by": group_by,
            "since": since.isoformat() if since else None,
            "until": until.isoformat() if until else None,
            "groups": groups,
            "total": summary_group("", total, sum(open_by.values())),
        }

    def overdue(
        self, today: date | None = None, *, kind: str | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]:
        """Cases whose running clock (acceptance, promised, statutory or delivery) is past
        its due date on ``today`` (default: the bureau's today), oldest first. A paused
        decision clock is listed only if it was already late when the pause began."""
        day = today or bureau_today()
        kinds = [kind] if kind else list(OVERDUE)
        if any(k not in OVERDUE for k in kinds):
            raise InvalidCommand(f"kind must be one of {sorted(OVERDUE)}, got {kind!r}")
        out: list[dict[str, Any]] = []
        for k in kinds:
            due_col, running = OVERDUE[k]
            rows = self.rows(
                f"SELECT case_id, case_no, item_code, service_window, staff, {due_col} AS due, "
                f"paused, paused_since FROM {{compliance_cases}} WHERE ({running}) "
                f"AND {due_col} < %s ORDER BY {due_col}, case_id LIMIT %s",
                (day.isoformat(), limit),
            )
            for r in rows:
                late = overdue_days({**r, "kind": k}, day, self.calendar)
                r["window"] = r.pop("service_window")
                del r["paused"], r["paused_since"]
                out.append({**r, "kind": k, "overdue_working_days": late})
        out.sort(key=lambda r: (r["due"], r["kind"], r["case_id"]))
        return out[:limit]

    def deadlines(self, case_ids: Sequence[str], today: date | None = None) -> dict[str, Any]:
        """Per case: due dates, the running clock, remaining working days and warning level
        on ``today`` (what ``case_status`` shows; kept here, keyed by case id)."""
        day = today or bureau_today()
        out: dict[str, Any] = {}
        for start in range(0, len(case_ids), 500):
            chunk = list(case_ids[start : start + 500])
            marks = ", ".join(["%s"] * len(chunk))
            rows = self.rows(
                "SELECT case_id, promised_due, statutory_due, acceptance_due, delivery_due, "
                "current_kind, current_due, paused, paused_since, decision_open, deemed, as_of "
                f"FROM {{compliance_cases}} WHERE case_id IN ({marks})",
                chunk,
            )
            for r in rows:
                out[r["case_id"]] = read_deadline(r, day, self.calendar, self.config)
        return out

    def clock(self, case_id: str, today: date | None = None) -> dict[str, Any] | None:
        """Every clock of one case on ``today``, explained (None for an unknown case)."""
        rows = self.rows("SELECT facts FROM {compliance_cases} WHERE case_id = %s", (case_id,))
        if not rows:
            return None
        facts = CaseFacts.from_dict(orjson.loads(rows[0]["facts"]))
        fallback = None
        if facts.limits is None:
            for raw in self.rows("SELECT facts FROM {compliance_items}"):
                item = ItemFacts.from_dict(orjson.loads(raw["facts"]))
                if item.code == facts.item_code:
                    fallback = item.limits()
        day = today or bureau_today()
        return case_clocks(facts, self.calendar, day, self.config, fallback).to_dict()
