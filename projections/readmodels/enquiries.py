"""``enquiries``: 群众诉求/咨询 — one row per enquiry, its handling clock and rule S16.

The handling clock starts on the business date the enquiry was received (its claimed
``occurred_at`` when entered late, else when it was recorded): day 1 is the first
working day after it, and it is due at the end of its ``handling_days``-th working day
(the days in force were copied into ``Enquiry.Received``). It stops at the first answer,
or at closing when there was none; a referral (转办) does not stop it.

S16 (an enquiry past its handling clock) is raised at the start of the day after the
due date, like the other overdue rules, and is cleared when the clock stops; one still
open is computed at query time from ``today``, so nothing needs rewriting as days pass.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, ClassVar

from casestore.domain import InvalidCommand
from casestore.domain.values import BUREAU_TZ
from casestore.timelimits import WorkingCalendar, default_calendar

from ..engine.base import (
    Column,
    Index,
    LogEvent,
    Projection,
    Table,
    Tx,
    local_day,
    micros_to_datetime,
)
from ..engine.db import View
from ..facts.clockstate import bureau_today
from .supervision.wording import RULE_TITLES_ZH, Detail, detail_fields

ENQUIRIES = Table(
    "enquiries",
    (
        Column("enquiry_id", not_null=True),
        Column("kind"),
        Column("channel"),
        Column("service_window"),
        Column("topic"),
        Column("received_at"),
        Column("received_on"),
        Column("handling_days", "int"),
        Column("due"),
        Column("answered_at"),
        Column("referred_to"),
        Column("closed_at"),
        Column("outcome"),
        Column("stopped_at"),
        Column("stopped_on"),
        Column("received_position", "int"),
        Column("stop_position", "int"),
        Column("last_position", "int"),
    ),
    ("enquiry_id",),
    (Index("window", ("service_window",)), Index("due", ("due",))),
)

#: The rule this read model owns (SPEC §13); title in Chinese first, as the hall reads it.
S16 = ("S16", "medium", "群众诉求/咨询超过办理时限 (enquiry past its handling clock)")
STATUSES = ("open", "answered", "referred", "closed")


def _iso(micros: int) -> str:
    return micros_to_datetime(micros).astimezone(BUREAU_TZ).isoformat()


@dataclass
class _Batch:
    rows: dict[str, dict[str, Any]]
    calendar: WorkingCalendar


def _received(batch: _Batch, e: LogEvent) -> None:
    at = e.business_at_us
    day = local_day(at)
    days = int(e.plain("handling_days", 0))
    batch.rows[e.aggregate_id] = {
        "enquiry_id": e.aggregate_id,
        "kind": e.plain("kind"),
        "channel": e.plain("channel"),
        "service_window": e.plain("service_window") or "",
        "topic": e.plain("topic"),
        "received_at": _iso(at),
        "received_on": day.isoformat(),
        "handling_days": days,
        "due": batch.calendar.add_working_days(day, days).isoformat(),
        "answered_at": None,
        "referred_to": None,
        "closed_at": None,
        "outcome": None,
        "stopped_at": None,
        "stopped_on": None,
        "received_position": e.position,
        "stop_position": None,
        "last_position": e.position,
    }


def _later(batch: _Batch, e: LogEvent) -> dict[str, Any] | None:
    row = batch.rows.get(e.aggregate_id)
    if row is not None:
        row["last_position"] = e.position
    return row


def _stop(row: dict[str, Any], e: LogEvent) -> None:
    if row["stopped_at"] is None:
        row["stopped_at"] = _iso(e.business_at_us)
        row["stopped_on"] = local_day(e.business_at_us).isoformat()
        row["stop_position"] = e.position


def _answered(batch: _Batch, e: LogEvent) -> None:
    if (row := _later(batch, e)) is not None:
        row["answered_at"] = _iso(e.business_at_us)
        _stop(row, e)


def _referred(batch: _Batch, e: LogEvent) -> None:
    if (row := _later(batch, e)) is not None:
        row["referred_to"] = e.plain("to_unit")


def _closed(batch: _Batch, e: LogEvent) -> None:
    if (row := _later(batch, e)) is not None:
        row["closed_at"] = _iso(e.business_at_us)
        row["outcome"] = e.plain("outcome")
        _stop(row, e)


class EnquiryProjection(Projection[_Batch]):
    """Rows of enquiries, written back once per batch."""

    name = "enquiries"
    version = 1
    tables = (ENQUIRIES,)
    handlers: ClassVar[dict[str, Callable[[Any, LogEvent], None]]] = {
        "Enquiry.Received": _received,
        "Enquiry.Answered": _answered,
        "Enquiry.Referred": _referred,
        "Enquiry.Closed": _closed,
    }

    def __init__(self, calendar: WorkingCalendar | None = None) -> None:
        self._calendar = calendar

    @property
    def calendar(self) -> WorkingCalendar:
        if self._calendar is None:
            self._calendar = default_calendar()
        return self._calendar

    def begin(self, tx: Tx, events: Sequence[LogEvent]) -> _Batch:
        keys = [(e.aggregate_id,) for e in events if e.aggregate == "Enquiry"]
        rows = {k[0]: row for k, row in tx.select_keys(ENQUIRIES, keys).items()}
        return _Batch(rows, self.calendar)

    def finish(self, tx: Tx, state: _Batch) -> None:
        tx.upsert(ENQUIRIES, list(state.rows.values()))


PROJECTION = EnquiryProjection()


def status_of(row: Mapping[str, Any]) -> str:
    """open → answered / referred → closed (the furthest step reached)."""
    if row["closed_at"]:
        return "closed"
    if row["answered_at"]:
        return "answered"
    return "referred" if row["referred_to"] else "open"


def s16_flag(row: Mapping[str, Any], today: date) -> dict[str, Any] | None:
    """The S16 flag of one enquiry on ``today``, or None (not late, or not late yet)."""
    due = date.fromisoformat(row["due"])
    stopped_on = date.fromisoformat(row["stopped_on"]) if row["stopped_on"] else None
    if stopped_on is not None and stopped_on <= due:
        return None
    if stopped_on is None and today <= due:
        return None
    since = datetime.combine(due + timedelta(days=1), time(0), BUREAU_TZ)
    how = {"stopped_on": stopped_on.isoformat()} if stopped_on else {"today": today.isoformat()}
    evidence = [row["received_position"]]
    if row["stop_position"]:
        evidence.append(row["stop_position"])
    return {
        "id": f"S16:{row['enquiry_id']}",
        "rule": S16[0],
        "severity": S16[1],
        "title": S16[2],
        "title_zh": RULE_TITLES_ZH["S16"],
        "case_id": None,
        "enquiry_id": row["enquiry_id"],
        "item_code": "",
        "window": row["service_window"],
        "evidence": evidence,
        "raised_at": since.isoformat(),
        "cleared_at": row["stopped_at"],
        **detail_fields(
            Detail(
                "S16",
                due=due.isoformat(),
                days=int(row["handling_days"]),
                start=str(row["received_on"]),
                **how,
            )
        ),
    }


class EnquiryView(View):
    """Queries over the enquiries read model: list, summary by window, S16 flags."""

    tables = PROJECTION.tables

    def get(self, enquiry_id: str, *, today: date | None = None) -> dict[str, Any] | None:
        rows = self.rows("SELECT * FROM {enquiries} WHERE enquiry_id = %s", (enquiry_id,))
        return _public(rows[0], today or bureau_today()) if rows else None

    def find(
        self,
        *,
        status: str | None = None,
        window: str | None = None,
        overdue: bool = False,
        today: date | None = None,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        """Enquiries newest first, filtered by status, window or being past due."""
        if status is not None and status not in STATUSES:
            raise InvalidCommand(f"status must be one of {list(STATUSES)}, got {status!r}")
        day = today or bureau_today()
        where, params = ["1 = 1"], []
        if window is not None:
            where.append("service_window = %s")
            params.append(window)
        rows = self.rows(
            "SELECT * FROM {enquiries} WHERE "
            + " AND ".join(where)
            + " ORDER BY received_position DESC",
            params,
        )
        out = [_public(r, day) for r in rows]
        if status is not None:
            out = [r for r in out if r["status"] == status]
        if overdue:
            out = [r for r in out if r["overdue"]]
        return out[:limit]

    def flags(self, *, today: date | None = None, open_only: bool = False) -> list[dict[str, Any]]:
        """S16 flags, oldest first (an open one while the clock still runs past due)."""
        day = today or bureau_today()
        rows = self.rows("SELECT * FROM {enquiries} WHERE due < %s", (day.isoformat(),))
        found = [f for r in rows if (f := s16_flag(r, day)) is not None]
        if open_only:
            found = [f for f in found if f["cleared_at"] is None]
        return sorted(found, key=lambda f: (f["raised_at"], f["id"]))

    def summary(
        self, *, group_by_window: bool = False, today: date | None = None
    ) -> dict[str, Any]:
        """Received, answered, referred, closed, open, on time and past due (S16)."""
        day = today or bureau_today()
        groups: dict[str, dict[str, int]] = {}
        for r in self.rows("SELECT * FROM {enquiries}"):
            key = r["service_window"] if group_by_window else ""
            g = groups.setdefault(key, dict.fromkeys(_COUNTS, 0))
            g["received"] += 1
            g["requests"] += r["kind"] == "request"
            g["consultations"] += r["kind"] == "consultation"
            g["answered"] += r["answered_at"] is not None
            g["referred"] += r["referred_to"] is not None
            g["closed"] += r["closed_at"] is not None
            g["open"] += r["stopped_at"] is None
            late = s16_flag(r, day) is not None
            g["late"] += late
            g["handled_on_time"] += r["stopped_at"] is not None and not late
        out = [{"key": k, **v} for k, v in sorted(groups.items())]
        if not group_by_window:
            return out[0] if out else {"key": "", **dict.fromkeys(_COUNTS, 0)}
        return {"group_by": "window", "groups": out}


_COUNTS = (
    "received",
    "requests",
    "consultations",
    "answered",
    "referred",
    "closed",
    "open",
    "late",
    "handled_on_time",
)


def _public(r: Mapping[str, Any], today: date) -> dict[str, Any]:
    out = {k: v for k, v in r.items() if k not in ("stop_position",)}
    out["status"] = status_of(r)
    out["overdue"] = s16_flag(r, today) is not None
    return out
