"""``supervision``: flags S01–S15, S17–S19 (SPEC §5) for 纪检监察 inspectors, and the flags view.

The rules are pure functions (:mod:`~casestore.projections.readmodels.supervision.rules`).
The projection
evaluates a case with ``today`` = the business date of the case's latest event
(deterministic on rebuild), stores its flags, and keeps the case's running deadlines
not yet passed (``supervision_watch``); queries add the overdue flags of the deadlines
that passed since. A deadline paused by an open suspension is not watched: it cannot
pass while the clock is stopped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, ClassVar

import orjson

from casestore.domain import Case, InvalidCommand
from casestore.domain.values import ART45_PAUSE_KINDS, BUREAU_TZ, ItemLimits, local_date
from casestore.settings import load_settings
from casestore.timelimits import ClockConfig, WorkingCalendar, default_calendar
from casestore.timelimits.legaltime import notice_clock
from casestore.timelimits.supervision_config import SupervisionConfig
from casestore.timeutil import to_micros

from ...engine.base import Column, Index, LogEvent, Projection, Table, Tx
from ...engine.db import View
from ...facts.caseclocks import case_clocks, deemed_decision_clocks
from ...facts.casefacts import CaseFacts, FactsFold, ItemFacts
from ...facts.clockstate import bureau_today
from ...facts.factsfold import cache_size, catalogue_limits
from .rules import CLOCK_RULES, RULES, Flag, case_flags, clock_flag, item_flags
from .wording import RULE_TITLES_ZH, clock_detail, render

__all__ = [
    "CLOCK_RULES",
    "PROJECTION",
    "RULES",
    "SUPERVISION_CASES",
    "SUPERVISION_FLAGS",
    "SUPERVISION_ITEMS",
    "SUPERVISION_WATCH",
    "Flag",
    "SupervisionProjection",
    "SupervisionView",
    "case_flags",
    "clock_flag",
    "item_flags",
]

SUPERVISION_CASES = Table(
    "supervision_cases",
    (Column("case_id", not_null=True), Column("facts"), Column("last_position", "int")),
    ("case_id",),
)
SUPERVISION_ITEMS = Table(
    "supervision_items",
    (Column("item_id", not_null=True), Column("facts"), Column("code")),
    ("item_id",),
)
_FLAG_COLUMNS = (
    Column("flag_id", not_null=True),
    Column("rule"),
    Column("severity"),
    Column("case_id"),
    Column("item_code"),
    Column("evidence"),
    Column("raised_at"),
    Column("raised_at_us", "int"),
    Column("cleared_at"),
    Column("cleared_at_us", "int"),
    Column("detail"),
)
SUPERVISION_FLAGS = Table(
    "supervision_flags",
    _FLAG_COLUMNS,
    ("flag_id",),
    (Index("case", ("case_id",), bulk=True), Index("rule", ("rule", "raised_at_us"))),
)
SUPERVISION_WATCH = Table(
    "supervision_watch",
    (*_FLAG_COLUMNS[:6], Column("due"), Column("kind"), Column("days", "int"), Column("start")),
    ("flag_id",),
    (Index("case", ("case_id",), bulk=True), Index("due", ("due",))),
)
"""Running deadlines not yet passed on the case's latest event: an overdue flag each once
``today`` is past ``due`` (added at query time)."""


@dataclass
class _Batch:
    cases: FactsFold
    items: FactsFold


class SupervisionProjection(Projection[_Batch]):
    """Flags per case recomputed from the case's facts whenever it has a new event."""

    name = "supervision"
    version = 5  # 2: a clock paused after its deadline passed stays flagged; 3: deemed-
    # acceptance decision clocks are watched before the acceptance clock runs out; 4: the
    # legal-time rules of issue 19 (Art. 203, last-day suspensions, S17, S18, office hours);
    # 5: ``detail`` holds the finding's key and facts, rendered in Chinese and English on
    # reading (``wording.py``)
    tables = (SUPERVISION_CASES, SUPERVISION_ITEMS, SUPERVISION_FLAGS, SUPERVISION_WATCH)
    handlers: ClassVar[dict[str, Callable[[Any, LogEvent], None]]] = {
        **{f"Case.{k}": lambda b, e: b.cases.apply(e) for k in Case.EVENT_NAMES},
        "Item.Published": lambda b, e: b.items.apply(e),
        "Item.Revised": lambda b, e: b.items.apply(e),
    }

    def __init__(
        self,
        calendar: WorkingCalendar | None = None,
        clock_config: ClockConfig | None = None,
        config: SupervisionConfig | None = None,
    ) -> None:
        self._calendar = calendar
        self._clock_config = clock_config
        self._config = config

    @property
    def calendar(self) -> WorkingCalendar:
        """The working-day calendar (loaded on first use)."""
        if self._calendar is None:
            self._calendar = default_calendar()
        return self._calendar

    @property
    def configs(self) -> tuple[ClockConfig, SupervisionConfig]:
        """Clock and supervision thresholds from the environment (loaded on first use)."""
        if self._clock_config is None:
            self._clock_config = load_settings().clock()
        if self._config is None:
            self._config = load_settings().supervision()
        return self._clock_config, self._config

    def begin(self, tx: Tx, events: Sequence[LogEvent]) -> _Batch:
        batch = _Batch(
            FactsFold(
                tx, SUPERVISION_CASES, CaseFacts.blank, CaseFacts.from_dict, cache=cache_size(tx)
            ),
            FactsFold(tx, SUPERVISION_ITEMS, lambda _: ItemFacts(), ItemFacts.from_dict),
        )
        batch.cases.prefetch(e.aggregate_id for e in events if e.aggregate == "Case")
        return batch

    def finish(self, tx: Tx, state: _Batch) -> None:
        items: list[ItemFacts] = state.items.write(lambda i: {"code": i.code})
        _replace(
            tx, "item_code", [i.code for i in items], [f for i in items for f in item_flags(i)]
        )
        if not state.cases.changed:
            return
        fallback = catalogue_limits(tx, "{supervision_items}")
        state.cases.write(
            lambda f: {"last_position": f.last.position if f.last else 0},
            lambda tx, cases, new: self._write_flags(tx, cases, new, fallback),
        )

    def _write_flags(
        self, tx: Tx, cases: list[CaseFacts], new: set[str], fallback: dict[str, ItemLimits]
    ) -> None:
        """Replace the flags and watched deadlines of cases whose rows were just written
        (a case whose row is new has none stored yet)."""
        flags: list[Flag] = []
        watch: list[dict[str, Any]] = []
        for f in cases:
            found, waiting = self.evaluate(f, fallback.get(f.item_code))
            flags += found
            watch += waiting
        ids = [f.case_id for f in cases if f.case_id not in new]
        _replace(tx, "case_id", ids, flags)
        _delete(tx, "{supervision_watch}", "case_id", ids)
        tx.insert(SUPERVISION_WATCH, watch)

    def evaluate(
        self, f: CaseFacts, fallback: ItemLimits | None = None
    ) -> tuple[list[Flag], list[dict[str, Any]]]:
        """The case's flags as of its latest event, and its running deadlines to watch."""
        today = local_date(f.last.recorded_at) if f.last else date.min
        ccfg, cfg = self.configs
        clocks = case_clocks(f, self.calendar, today, ccfg, fallback)
        flags = case_flags(f, self.calendar, today, ccfg, cfg, fallback, clocks)
        watch = []
        running = [(rule, getattr(clocks, name), False) for rule, name in CLOCK_RULES.items()]
        promised, statutory = deemed_decision_clocks(f, self.calendar, clocks, ccfg, fallback)
        running += [("S01", promised, True), ("S02", statutory, True)]
        for rule, clock, deemed in running:
            if clock is None or clock.done is not None or clock.paused:
                continue
            if clock.late and not deemed:
                continue  # already a stored flag
            row = _flag_row(clock_flag(rule, f, clock))
            del row["raised_at"], row["raised_at_us"], row["cleared_at"], row["cleared_at_us"]
            row.pop("detail")
            watch.append(
                {
                    **row,
                    "due": clock.due.isoformat(),
                    "kind": clock.kind,
                    "days": clock.days,
                    "start": clock.start.isoformat(),
                }
            )
        watch += _notice_watch(f, self.calendar, today, cfg)
        return flags, watch


def _notice_watch(
    f: CaseFacts, cal: WorkingCalendar, today: date, cfg: SupervisionConfig
) -> list[dict[str, Any]]:
    """S17 deadlines still running: Art. 45 suspensions with no written notice yet."""
    rows = []
    for p in f.suspensions:
        if p.kind not in ART45_PAUSE_KINDS or p.notified_at is not None:
            continue
        due = notice_clock(p.start.on, cfg.suspension_notice_days, cal).due
        if today > due:
            continue  # already a stored flag
        rows.append(
            {
                "flag_id": f"S17:{f.case_id}:{p.start.position}",
                "rule": "S17",
                "severity": RULES["S17"][0],
                "case_id": f.case_id,
                "item_code": f.item_code,
                "evidence": orjson.dumps([p.start.position]).decode(),
                "due": due.isoformat(),
                "kind": "notice",
                "days": cfg.suspension_notice_days,
                "start": p.start.on.isoformat(),
            }
        )
    return rows


def _flag_row(flag: Flag) -> dict[str, Any]:
    return {
        "flag_id": flag.flag_id,
        "rule": flag.rule,
        "severity": flag.severity,
        "case_id": flag.case_id,
        "item_code": flag.item_code,
        "evidence": orjson.dumps(list(flag.evidence)).decode(),
        "raised_at": flag.raised_at.isoformat(),
        "raised_at_us": to_micros(flag.raised_at),
        "cleared_at": flag.cleared_at.isoformat() if flag.cleared_at else None,
        "cleared_at_us": to_micros(flag.cleared_at) if flag.cleared_at else None,
        "detail": flag.detail.to_json(),  # {key, facts}: both languages rendered on reading
    }


def _delete(tx: Tx, table: str, column: str, keys: Sequence[str]) -> None:
    for start in range(0, len(keys), 500):
        chunk = list(keys[start : start + 500])
        extra = " AND case_id IS NULL" if column == "item_code" else ""
        marks = ", ".join(["%s"] * len(chunk))
        tx.execute(f"DELETE FROM {table} WHERE {column} IN ({marks}){extra}", chunk)


def _replace(tx: Tx, column: str, keys: Sequence[str], flags: Sequence[Flag]) -> None:
    if keys:
        _delete(tx, "{supervision_flags}", column, keys)
    tx.insert(SUPERVISION_FLAGS, [_flag_row(f) for f in flags])


PROJECTION = SupervisionProjection()


class SupervisionView(View):
    """Queries over the supervision flags: the live view, or a named target."""

    tables = PROJECTION.tables

    def flags(
        self,
        rule: str | None = None,
        case: str | None = None,
        open_only: bool = False,
        *,
        today: date | None = None,
        severity: str | None = None,
        limit: int = 10_000,
    ) -> list[dict[str, Any]]:
        """Flags filtered by rule, case, openness and severity, oldest first. Running
        deadlines past due on ``today`` (default: the bureau's today) are included as
        open overdue flags."""
        if rule is not None and rule not in RULES:
            raise InvalidCommand(f"unknown rule {rule!r}; rules are {sorted(RULES)}")
        if severity is not None and severity not in ("high", "medium"):
            raise InvalidCommand("severity must be high or medium")
        day = today or bureau_today()
        where, params = [], []
        for column, value in (("rule", rule), ("case_id", case), ("severity", severity)):
            if value is not None:
                where.append(f"{column} = %s")
                params.append(value)
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        stored = self.rows(
            "SELECT * FROM {supervision_flags}"
            + clause
            + (" AND" if where else " WHERE")
            + (" cleared_at_us IS NULL" if open_only else " 1 = 1"),
            params,
        )
        due = self.rows(
            "SELECT * FROM {supervision_watch}"
            + clause
            + (" AND" if where else " WHERE")
            + " due < %s",
            [*params, day.isoformat()],
        )
        out = [_public(r) for r in stored] + [_overdue(r, day) for r in due]
        out.sort(key=lambda r: (r["raised_at_us"], r["id"]))
        for r in out:
            del r["raised_at_us"]
        return out[:limit]

    def counts(self, today: date | None = None) -> dict[str, dict[str, int]]:
        """Per rule: how many flags in total and how many open on ``today``."""
        out = {rule: {"total": 0, "open": 0} for rule in RULES}
        for flag in self.flags(today=today):
            out[flag["rule"]]["total"] += 1
            out[flag["rule"]]["open"] += flag["cleared_at"] is None
        return out


def _public(r: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": r["flag_id"],
        "rule": r["rule"],
        "severity": r["severity"],
        "title": RULES[r["rule"]][1],
        "title_zh": RULE_TITLES_ZH[r["rule"]],
        "case_id": r["case_id"],
        "item_code": r["item_code"] or "",
        "evidence": orjson.loads(r["evidence"]),
        "raised_at": r["raised_at"],
        "cleared_at": r["cleared_at"],
        **render(r["detail"]),
        "raised_at_us": r["raised_at_us"],
    }


def _overdue(r: Mapping[str, Any], day: date) -> dict[str, Any]:
    due = date.fromisoformat(r["due"])
    since = datetime.combine(due + timedelta(days=1), time(0), BUREAU_TZ)
    start = date.fromisoformat(r["start"])
    detail = clock_detail(r["kind"], due, int(r["days"]), start, today=day).to_json()
    return _public(
        {
            **r,
            "raised_at": since.isoformat(),
            "raised_at_us": to_micros(since),
            "cleared_at": None,
            "detail": detail,
        }
    )
