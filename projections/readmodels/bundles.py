"""``bundles``: progress of each 一件事一次办 bundle from its child cases, with its joint clock.

The bundle's own clock follows 行政许可法 Art. 42 ¶2: 45 working days from the joint
intake (the bundle's opening), + 15 once extended (with the approval of 本级人民政府负责人,
recorded with its document reference); its promised limit is the bundle's
``promised_days``. A working day on which any child is in an Art. 45 procedure is not
counted, and the joint clocks stop at the children's decisions (``decisions_on``: the day
the last child was decided, refused or withdrawn); delivery runs on each child's own
Art. 44 clock (see ``compliance``). :func:`casestore.timelimits.legaltime.bundle_clock`
computes the joint clock for this view and for the write side's extension check; the
view judges a stored joint extension as the write side judges the command (by the joint
due on its day, close of business applied): one made late — stored before that check
existed — extends nothing and shows ``extension.in_time: false``. A bundle is

- ``received`` while no child is accepted yet,
- ``in_progress`` once one is,
- ``decided`` when every child has a decision (or was refused / withdrawn) and some
  approved result is not delivered yet,
- ``completed`` when every child is closed (delivered, denied, refused or withdrawn);
  ``completed_on`` is the day the last child closed (delivery included).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, ClassVar

import orjson

from casestore.domain import Case, NotFound
from casestore.domain.stages import CLOSED, PRE_ACCEPTANCE, STAGE_EVENTS, next_stage
from casestore.domain.values import ART45_PAUSE_KINDS, BUREAU_TZ
from casestore.timelimits import ClockConfig, Suspension, WorkingCalendar, default_calendar
from casestore.timelimits.legaltime import bundle_clock, on_time
from casestore.timelimits.rules import remaining_working_days
from casestore.timeutil import from_micros

from ..engine.base import Column, Index, LogEvent, Projection, RowFold, Table, Tx, local_day
from ..engine.db import View, ViewDB
from ..facts.clockstate import bureau_today

BUNDLES = Table(
    "bundles",
    (
        Column("bundle_id", not_null=True),
        Column("code"),
        Column("name"),
        Column("opened_on"),
        Column("opened_position", "int"),
        Column("children"),
        Column("promised_days", "int"),
        Column("statutory_days", "int"),
        Column("extension_days", "int"),
        Column("extended_position", "int"),
        Column("extended_at_us", "int"),
        Column("approved_by"),
        Column("approval_document"),
        Column("last_position", "int"),
    ),
    ("bundle_id",),
)
BUNDLE_CHILDREN = Table(
    "bundle_children",
    (
        Column("case_id", not_null=True),
        Column("bundle_id"),
        Column("item_code"),
        Column("case_no"),
        Column("stage"),
        Column("outcome"),
        Column("accepted_on"),
        Column("decided_on"),
        Column("closed_on"),
        Column("pauses"),
        Column("last_position", "int"),
    ),
    ("case_id",),
    (Index("bundle", ("bundle_id",)),),
)


@dataclass
class _Batch:
    bundles: RowFold
    children: RowFold


def _opened(b: _Batch, ev: LogEvent) -> None:
    b.bundles.put(
        (ev.aggregate_id,),
        {
            "bundle_id": ev.aggregate_id,
            "code": ev.plain("code"),
            "name": ev.plain("name"),
            "opened_on": local_day(ev.business_at_us).isoformat(),
            "opened_position": ev.position,
            "children": orjson.dumps(ev.plain("children") or {}).decode(),
            "promised_days": int(ev.plain("promised_days") or 0),
            "statutory_days": int(ev.plain("statutory_days") or 45),
            "extension_days": 0,
            "extended_position": None,
            "extended_at_us": None,
            "approved_by": None,
            "approval_document": None,
            "last_position": ev.position,
        },
    )


def _extended(b: _Batch, ev: LogEvent) -> None:
    row = b.bundles.get((ev.aggregate_id,))
    if row is None or row["extended_position"] is not None:
        return  # extended once only; a second grant moves nothing
    row["extension_days"] = int(ev.plain("days") or 0)
    row["approved_by"] = ev.plain("approved_by") or None
    row["approval_document"] = ev.plain("approval_document") or None
    row["extended_at_us"] = ev.business_at_us
    row["extended_position"] = row["last_position"] = ev.position
    b.bundles.touch((ev.aggregate_id,))


def _child(b: _Batch, ev: LogEvent) -> None:
    key = (ev.aggregate_id,)
    if ev.type == "Submitted":
        bundle = ev.plain("bundle_id")
        if not bundle:
            return
        row = {
            "case_id": ev.aggregate_id,
            "bundle_id": bundle,
            "item_code": ev.plain("item_code"),
            "case_no": ev.plain("case_no"),
            "stage": "received",
            "outcome": None,
            "accepted_on": None,
            "decided_on": None,
            "closed_on": None,
            "pauses": "[]",
        }
    else:
        found = b.children.get(key)
        if found is None:
            return  # not a bundle's child
        row = found
        _fold(row, ev)
    row["last_position"] = ev.position
    b.children.put(key, row)


def _fold(row: dict[str, Any], ev: LogEvent) -> None:
    day = local_day(ev.business_at_us).isoformat()
    if ev.type in STAGE_EVENTS:
        row["stage"] = next_stage(row["stage"], ev.type, ev.plain("outcome"))
    if ev.type == "Decided":
        row["outcome"] = ev.plain("outcome")
        row["decided_on"] = day
    if ev.type == "Accepted":
        row["accepted_on"] = day
    if ev.type == "ClockSuspended" and ev.plain("kind") in ART45_PAUSE_KINDS:
        row["pauses"] = orjson.dumps([*orjson.loads(row["pauses"] or "[]"), [day, None]]).decode()
    elif ev.type == "ClockResumed":
        pauses = orjson.loads(row["pauses"] or "[]")
        if pauses and pauses[-1][1] is None:
            pauses[-1][1] = max(day, pauses[-1][0])
            row["pauses"] = orjson.dumps(pauses).decode()
    if row["stage"] in CLOSED and row["closed_on"] is None:
        row["closed_on"] = day


class BundlesProjection(Projection[_Batch]):
    """Bundles and their child cases' stages."""

    name = "bundles"
    # 2: child stages by the domain's one stage machine; 3: children's Art. 45 pauses,
    # the clock ends at the decisions, the joint extension's approving authority; 4: the
    # extension's business time (a late one extends nothing)
    version = 4
    tables = (BUNDLES, BUNDLE_CHILDREN)
    handlers: ClassVar[dict[str, Callable[[Any, LogEvent], None]]] = {
        **{f"Case.{k}": _child for k in Case.EVENT_NAMES},
        "Bundle.Opened": _opened,
        "Bundle.ExtensionGranted": _extended,
    }

    def begin(self, tx: Tx, events: Sequence[LogEvent]) -> _Batch:
        batch = _Batch(RowFold(tx, BUNDLES), RowFold(tx, BUNDLE_CHILDREN))
        batch.children.prefetch(
            (e.aggregate_id,) for e in events if e.aggregate == "Case" and e.type != "Submitted"
        )
        return batch

    def finish(self, tx: Tx, state: _Batch) -> None:
        state.bundles.flush()
        state.children.flush()


PROJECTION = BundlesProjection()


class BundleView(View):
    """Queries over the bundles projection: the live view, or a named target."""

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
        self._calendar = calendar
        self.config = config or ClockConfig()

    @property
    def calendar(self) -> WorkingCalendar:
        """The working-day calendar (loaded on first use)."""
        if self._calendar is None:
            self._calendar = default_calendar()
        return self._calendar

    def get(self, bundle_id: str, today: date | None = None) -> dict[str, Any]:
        """One bundle with its children's progress and its joint clock on ``today``."""
        rows = self.rows("SELECT * FROM {bundles} WHERE bundle_id = %s", (str(bundle_id),))
        if not rows:
            raise NotFound(f"no bundle {bundle_id}")
        children = self.rows(
            "SELECT * FROM {bundle_children} WHERE bundle_id = %s ORDER BY item_code, case_id",
            (str(bundle_id),),
        )
        return self._render(rows[0], children, today or bureau_today())

    def all(self, today: date | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        """Every bundle (newest first) with its progress."""
        ids = self.rows(
            "SELECT bundle_id FROM {bundles} ORDER BY opened_position DESC LIMIT %s",
            (limit,),
        )
        return [self.get(r["bundle_id"], today) for r in ids]

    def _render(
        self, b: dict[str, Any], children: list[dict[str, Any]], today: date
    ) -> dict[str, Any]:
        stages = [c["stage"] for c in children]
        expected = len(orjson.loads(b["children"]))
        closed = sum(s in CLOSED for s in stages)
        decided = sum(c["decided_on"] is not None or c["stage"] in CLOSED for c in children)
        if children and closed == len(children) >= expected:
            status = "completed"
        elif children and decided == len(children) >= expected:
            status = "decided"
        elif any(s not in PRE_ACCEPTANCE for s in stages):
            status = "in_progress"
        else:
            status = "received"
        done = max((c["closed_on"] for c in children if c["closed_on"]), default=None)
        completed_on = date.fromisoformat(done) if status == "completed" and done else None
        ends = [c["decided_on"] or c["closed_on"] for c in children]
        all_decided = bool(children) and len(children) >= expected and all(ends)
        decisions_on = date.fromisoformat(max(e for e in ends if e)) if all_decided else None
        opened = date.fromisoformat(b["opened_on"])
        pauses = [
            Suspension(date.fromisoformat(s), date.fromisoformat(e) if e else None, "child")
            for c in children
            for s, e in orjson.loads(c["pauses"] or "[]")
        ]
        granted = self._extension(opened, b, pauses)
        extension = b["extension_days"] if granted and granted["in_time"] else 0
        clocks = {
            "statutory": self._clock(
                opened, b["statutory_days"], extension, pauses, decisions_on, today
            ),
            "promised": self._clock(opened, b["promised_days"], 0, pauses, decisions_on, today),
        }
        clocks["statutory"]["approved_by"] = b["approved_by"]
        clocks["statutory"]["approval_document"] = b["approval_document"]
        clocks["statutory"]["extension"] = granted
        return {
            "bundle_id": b["bundle_id"],
            "code": b["code"],
            "name": b["name"],
            "opened_on": b["opened_on"],
            "status": status,
            "completed_on": completed_on.isoformat() if completed_on else None,
            "decisions_on": decisions_on.isoformat() if decisions_on else None,
            "progress": {
                "children": expected,
                "submitted": len(children),
                "accepted": sum(c["accepted_on"] is not None for c in children),
                "decided": decided,
                "closed": closed,
            },
            "children": [
                {k: c[k] for k in ("case_id", "case_no", "item_code", "stage", "outcome")}
                | {"decided_on": c["decided_on"], "closed_on": c["closed_on"]}
                for c in children
            ],
            "clock": clocks,
            "evidence": [
                p for p in (b["opened_position"], b["extended_position"]) if p is not None
            ],
        }

    def _extension(
        self, opened: date, b: dict[str, Any], pauses: list[Suspension]
    ) -> dict[str, Any] | None:
        """The joint extension judged as the write side judges the command: in time when
        made by the joint due as it stood that day (children's Art. 45 pauses excluded, the
        close-of-business rule applied). A late one (stored before the check existed)
        extends nothing: it is evidence of a breach, as a late case extension is (S10)."""
        if b["extended_position"] is None or b["extended_at_us"] is None:
            return None
        at = from_micros(int(b["extended_at_us"]))
        day = local_day(int(b["extended_at_us"]))
        due = bundle_clock(opened, b["statutory_days"], pauses, self.calendar, as_of=day).due
        return {
            "days": b["extension_days"],
            "at": at.astimezone(BUREAU_TZ).isoformat(timespec="seconds"),
            "joint_due": due.isoformat(),
            "in_time": on_time(at, due, self.config),
        }

    def _clock(
        self,
        opened: date,
        days: int,
        extension: int,
        pauses: list[Suspension],
        done: date | None,
        today: date,
    ) -> dict[str, Any]:
        as_of = done or today
        result = bundle_clock(
            opened, days + extension, pauses, self.calendar, as_of=as_of, extension_days=extension
        )
        end = done or today
        return {
            "start": opened.isoformat(),
            "days": days + extension,
            "extension_days": extension,
            "due": result.due.isoformat(),
            "provisional": result.provisional,
            "paused": result.paused and done is None,
            "remaining": None if done else remaining_working_days(result.due, today, self.calendar),
            "late": end > result.due,
            "on_time": None if done is None else done <= result.due,
            "article": result.article,
            "notes": list(result.notes),
        }
