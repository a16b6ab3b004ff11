"""Supervision flags S01–S15 (SPEC §5) for 纪检监察 inspectors: rules and the flags view.

Each flag has a stable rule id, a severity, its subject (a case, or for S14 a catalogue
item), the log positions of its evidence events, when it was raised and when it was
cleared (None while open), and a detail line.

Time and "today": the rules are pure functions of the facts and a business date
``today``. A flag whose condition became true in the past carries the instant it did:
an overdue-type flag (S01 S02 S03 S12 S13) is raised at the start of the day after the
due date (the deadline ends with its last working day) and cleared when the stopping
event finally happened (decision, acceptance, delivery, handling), so a late decision
leaves a cleared flag behind as history. Event flags (S04–S11, S14, S15) are raised at
the offending event's business time (S06/S07 at its ``recorded_at``, when the claim was
made); S06 and S07 are cleared by a ``Corrected`` event naming the offending version,
S14 by a catalogue revision that brings the promised limit back within the statutory
one; the others stay open as a record. The projection evaluates a case with ``today``
= the business date of the case's latest event (deterministic on rebuild) and keeps the
case's running deadlines; queries add the overdue flags of deadlines that passed since.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, ClassVar

import orjson

from casestore.domain import Case, InvalidCommand
from casestore.domain.values import (
    ART45_PAUSE_KINDS,
    BUREAU_TZ,
    SURVEY_PARTIES,
    ItemLimits,
    local_date,
)
from casestore.store.batch import to_micros
from casestore.timelimits import ClockConfig, WorkingCalendar, compute_clock, default_calendar
from casestore.timelimits.supervision_config import SupervisionConfig

from .base import Column, Index, LogEvent, Projection, Table, Tx
from .casefacts import CaseFacts, FactsFold, ItemFacts, Stamp
from .compliance import (
    CaseClocks,
    Clock,
    bureau_today,
    case_clocks,
    catalogue_limits,
    decision_start,
    extension_problems,
)
from .compliance import valid_pauses as _valid_pauses
from .db import ViewDB

#: rule id -> (severity, what it means)
RULES: dict[str, tuple[str, str]] = {
    "S01": ("medium", "overdue against the promised limit (服务承诺超期)"),
    "S02": ("high", "overdue against the statutory limit (超法定时限, unlawful)"),
    "S03": ("high", "not accepted, rejected or told to supplement within 5 working days"),
    "S04": ("medium", "more than one supplement notice (一次性告知 broken)"),
    "S05": ("medium", "supplement notice later than 5 working days after receipt"),
    "S06": ("medium", "back-dated entry (recorded long after the time it claims)"),
    "S07": ("high", "timestamp inversion (a later step claims an earlier time)"),
    "S08": ("high", "decision without the required site survey"),
    "S09": ("high", "survey conclusion without three parties or two staff"),
    "S10": ("high", "extension after expiry, without an approver, repeated or over the cap"),
    "S11": ("high", "clock paused for a kind the law and the item do not allow"),
    "S12": ("medium", "delivery later than 10 working days after approval"),
    "S13": ("medium", "bad review (差评) not verified and rectified in time"),
    "S14": ("medium", "catalogue promises more days than the statutory limit"),
    "S15": ("high", "acceptance and completion seconds apart on a non-instant item"),
}
#: Rules whose truth for a running deadline changes with the passing of days.
CLOCK_RULES: dict[str, str] = {
    "S01": "promised",
    "S02": "statutory",
    "S03": "acceptance",
    "S12": "delivery",
    "S13": "bad_review",
}


@dataclass(frozen=True)
class Flag:
    """One supervision finding with its evidence."""

    rule: str
    case_id: str | None
    item_code: str
    evidence: tuple[int, ...]
    raised_at: datetime
    cleared_at: datetime | None
    detail: str
    anchor: str = ""
    """Tells apart several flags of one rule on one subject (the offending position)."""

    @property
    def severity(self) -> str:
        """``high`` (unlawful or integrity) or ``medium`` (service failure)."""
        return RULES[self.rule][0]

    @property
    def flag_id(self) -> str:
        """Stable identity: rule, subject and anchor (the same on every rebuild)."""
        subject = self.case_id or f"item:{self.item_code}"
        return f"{self.rule}:{subject}:{self.anchor}" if self.anchor else f"{self.rule}:{subject}"

    @property
    def open(self) -> bool:
        """Not cleared yet."""
        return self.cleared_at is None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "id": self.flag_id,
            "rule": self.rule,
            "severity": self.severity,
            "title": RULES[self.rule][1],
            "case_id": self.case_id,
            "item_code": self.item_code,
            "evidence": list(self.evidence),
            "raised_at": self.raised_at.isoformat(),
            "cleared_at": self.cleared_at.isoformat() if self.cleared_at else None,
            "detail": self.detail,
        }


def clock_flag(rule: str, f: CaseFacts, clock: Clock) -> Flag:
    """The overdue flag of a late clock (S01 S02 S03 S12 S13)."""
    if clock.done is not None:
        how = f"{clock.stopped_by} on {clock.done.on}"
    else:
        how = f"still open on {clock.today}"
    detail = f"{clock.kind} due {clock.due} ({clock.days} working days from {clock.start}); {how}"
    return Flag(
        rule,
        f.case_id,
        f.item_code,
        clock.evidence,
        clock.late_since,
        clock.done.at if clock.done else None,
        detail,
    )


def case_flags(
    f: CaseFacts,
    cal: WorkingCalendar,
    today: date,
    clock_config: ClockConfig | None = None,
    config: SupervisionConfig | None = None,
    fallback: ItemLimits | None = None,
    clocks: CaseClocks | None = None,
) -> list[Flag]:
    """Every supervision flag of one case as of ``today`` (S01–S13, S15)."""
    ccfg = clock_config or ClockConfig()
    cfg = config or SupervisionConfig()
    clocks = clocks or case_clocks(f, cal, today, ccfg, fallback)
    flags: list[Flag] = []
    for rule, name in CLOCK_RULES.items():
        clock = getattr(clocks, name)
        if clock is not None and clock.late:
            flags.append(clock_flag(rule, f, clock))
    limits = f.limits or fallback
    flags += _supplement_flags(f, cal, ccfg, cfg)
    flags += _entry_flags(f, cfg)
    flags += _survey_flags(f, limits)
    flags += _extension_flags(f, cal, today, ccfg, fallback)
    flags += _pause_flags(f, limits)
    flags += _completion_flags(f, cfg)
    return sorted(flags, key=lambda fl: (fl.rule, fl.raised_at, fl.anchor))


def _flag(rule: str, f: CaseFacts, stamp: Stamp, evidence: tuple[int, ...], detail: str) -> Flag:
    positions = tuple(sorted({*evidence, stamp.position}))
    return Flag(
        rule, f.case_id, f.item_code, positions, stamp.at, None, detail, str(stamp.position)
    )


def _supplement_flags(
    f: CaseFacts, cal: WorkingCalendar, ccfg: ClockConfig, cfg: SupervisionConfig
) -> list[Flag]:
    flags: list[Flag] = []
    notices = f.supplement_requests
    allowed = cfg.supplement_notices_allowed
    if len(notices) > allowed:
        detail = f"{len(notices)} supplement notices (allowed {allowed})"
        flags.append(_flag("S04", f, notices[allowed], tuple(n.position for n in notices), detail))
    if notices and f.submitted is not None:
        due = compute_clock(f.submitted.on, ccfg.acceptance_days, cal).due
        if notices[0].on > due:
            detail = f"received {f.submitted.on}, notice due {due}, issued {notices[0].on}"
            flags.append(_flag("S05", f, notices[0], (f.submitted.position,), detail))
    return flags


def _corrected_at(f: CaseFacts, version: int) -> datetime | None:
    fixes = [c.stamp.recorded_at for c in f.corrections if c.corrects_version == version]
    return min(fixes) if fixes else None


def _entry_flags(f: CaseFacts, cfg: SupervisionConfig) -> list[Flag]:
    flags: list[Flag] = []
    for claim in f.claims:
        s = claim.stamp
        gap = s.backdated_seconds
        if gap > cfg.backdate_seconds:
            detail = (
                f"{claim.name} recorded {s.recorded_at.isoformat()} claims "
                f"{s.at.isoformat()} ({gap / 3600:.1f} h earlier; threshold "
                f"{cfg.backdate_seconds / 3600:.1f} h)"
            )
            cleared = _corrected_at(f, s.version)
            flags.append(
                Flag(
                    "S06",
                    f.case_id,
                    f.item_code,
                    (s.position,),
                    s.recorded_at,
                    cleared,
                    detail,
                    str(s.position),
                )
            )
    for inv in f.inversions:
        s = inv.stamp
        detail = (
            f"{inv.name} claims {s.at.isoformat()}, before {inv.previous_name} "
            f"at {inv.previous.at.isoformat()}"
        )
        evidence = (inv.previous.position, s.position)
        cleared = _corrected_at(f, s.version)
        flags.append(
            Flag(
                "S07",
                f.case_id,
                f.item_code,
                evidence,
                s.recorded_at,
                cleared,
                detail,
                str(s.position),
            )
        )
    return flags


def _survey_flags(f: CaseFacts, limits: ItemLimits | None) -> list[Flag]:
    flags: list[Flag] = []
    if f.decided is not None and limits is not None and limits.needs_survey:
        decided = f.decided
        before = [r for r in f.surveys_conducted if r.stamp.position < decided.position]
        if not before:
            detail = f"item {f.item_code} needs a site survey; none concluded before the decision"
            plans = tuple(p.stamp.position for p in f.surveys_scheduled)
            flags.append(_flag("S08", f, decided, plans, detail))
    for record in f.surveys_conducted:
        missing = sorted(SURVEY_PARTIES - record.parties)
        if record.staff_count < 2 or missing:
            detail = f"{record.staff_count} staff present" + (
                f", parties missing {missing}" if missing else ""
            )
            flags.append(_flag("S09", f, record.stamp, (), detail))
    return flags


def _extension_flags(
    f: CaseFacts,
    cal: WorkingCalendar,
    today: date,
    ccfg: ClockConfig,
    fallback: ItemLimits | None,
) -> list[Flag]:
    if not f.extensions:
        return []
    begin = decision_start(f, cal, today, ccfg, fallback)
    if begin is None:
        return [
            _flag("S10", f, g.stamp, (), "extension recorded while no decision clock runs")
            for g in f.extensions
        ]
    pauses = _valid_pauses(f, begin.limits)
    problems = extension_problems(f, begin.limits, begin.start, pauses, cal)
    return [_flag("S10", f, g.stamp, begin.evidence, why) for g, why in problems]


def _pause_flags(f: CaseFacts, limits: ItemLimits | None) -> list[Flag]:
    allowed = ART45_PAUSE_KINDS | set(limits.pause_kinds if limits else ())
    return [
        _flag("S11", f, p.start, (), f"pause kind {p.kind!r} is not allowed for {f.item_code}")
        for p in f.suspensions
        if p.kind not in allowed
    ]


def _completion_flags(f: CaseFacts, cfg: SupervisionConfig) -> list[Flag]:
    if f.accepted is None or f.decided is None or f.limits is None or f.instant:
        return []
    gap = abs((f.decided.at - f.accepted.at).total_seconds())
    if gap >= cfg.completion_gap_seconds:
        return []
    detail = (
        f"accepted {f.accepted.at.isoformat()} and decided {f.decided.at.isoformat()}: "
        f"{gap:.0f} s apart on a {f.limits.promised_days}-day item"
    )
    return [_flag("S15", f, f.decided, (f.accepted.position,), detail)]


def item_flags(item: ItemFacts) -> list[Flag]:
    """S14: each period an item promised more working days than its statutory limit."""
    return [
        Flag(
            "S14",
            None,
            item.code,
            tuple(sorted({b.raised.position, *((b.cleared.position,) if b.cleared else ())})),
            b.raised.at,
            b.cleared.at if b.cleared else None,
            f"promised {b.promised_days} > statutory {b.statutory_days} working days",
            str(b.raised.position),
        )
        for b in item.breaches
    ]


# -- the supervision projection ---------------------------------------------------------------

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
    (Index("case", ("case_id",)), Index("rule", ("rule", "raised_at_us"))),
)
SUPERVISION_WATCH = Table(
    "supervision_watch",
    (*_FLAG_COLUMNS[:6], Column("due"), Column("kind"), Column("days", "int"), Column("start")),
    ("flag_id",),
    (Index("case", ("case_id",)), Index("due", ("due",))),
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
    version = 1
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
            self._clock_config = ClockConfig.load()
        if self._config is None:
            self._config = SupervisionConfig.load()
        return self._clock_config, self._config

    def begin(self, tx: Tx, events: Sequence[LogEvent]) -> _Batch:
        batch = _Batch(
            FactsFold(tx, SUPERVISION_CASES, CaseFacts, CaseFacts.from_dict),
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
        cases: list[CaseFacts] = state.cases.write(
            lambda f: {"last_position": f.last.position if f.last else 0}
        )
        flags: list[Flag] = []
        watch: list[dict[str, Any]] = []
        for f in cases:
            found, waiting = self.evaluate(f, fallback.get(f.item_code))
            flags += found
            watch += waiting
        ids = [f.case_id for f in cases]
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
        for rule, name in CLOCK_RULES.items():
            clock: Clock | None = getattr(clocks, name)
            if clock is None or clock.done is not None or clock.paused or clock.late:
                continue
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
        return flags, watch


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
        "detail": flag.detail,
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


class SupervisionView:
    """Queries over the supervision flags: the live view, or a named target."""

    def __init__(self, db: ViewDB, target: str = "") -> None:
        self.db = db
        self.names = PROJECTION.table_names(target)

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
        stored = self.db.rows(
            "SELECT * FROM {supervision_flags}"
            + clause
            + (" AND" if where else " WHERE")
            + (" cleared_at_us IS NULL" if open_only else " 1 = 1"),
            params,
            self.names,
        )
        due = self.db.rows(
            "SELECT * FROM {supervision_watch}"
            + clause
            + (" AND" if where else " WHERE")
            + " due < %s",
            [*params, day.isoformat()],
            self.names,
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
        "case_id": r["case_id"],
        "item_code": r["item_code"] or "",
        "evidence": orjson.loads(r["evidence"]),
        "raised_at": r["raised_at"],
        "cleared_at": r["cleared_at"],
        "detail": r["detail"],
        "raised_at_us": r["raised_at_us"],
    }


def _overdue(r: Mapping[str, Any], day: date) -> dict[str, Any]:
    due = date.fromisoformat(r["due"])
    since = datetime.combine(due + timedelta(days=1), time(0), BUREAU_TZ)
    detail = (
        f"{r['kind']} due {due} ({r['days']} working days from {r['start']}); still open on {day}"
    )
    return _public(
        {
            **r,
            "raised_at": since.isoformat(),
            "raised_at_us": to_micros(since),
            "cleared_at": None,
            "detail": detail,
        }
    )
