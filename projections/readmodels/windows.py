"""``windows``: the hall's windows (type, 党员示范岗) and their duty rota (领导带班).

One row per window (code, name, type, the party members marked at it) and one row per
window and day of the rota (the latest assignment for that day wins). Green-channel
(招商引资绿色通道) windows are what ``GET /windows?type=green_channel`` lists; their cases
are marked priority at intake and measured separately by ``compliance``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, ClassVar

import orjson

from casestore.domain import InvalidCommand
from casestore.domain.window import WINDOW_TYPES

from ..engine.base import Column, Index, LogEvent, Projection, Table, Tx
from ..engine.db import View

WINDOWS = Table(
    "windows",
    (
        Column("code", not_null=True),
        Column("window_id"),
        Column("name"),
        Column("window_type"),
        Column("party_members"),
        Column("last_position", "int"),
    ),
    ("code",),
)
WINDOW_DUTY = Table(
    "window_duty",
    (
        Column("window_code", not_null=True),
        Column("day", not_null=True),
        Column("staff_id"),
        Column("staff_name"),
        Column("position", "int"),
    ),
    ("window_code", "day"),
    (Index("day", ("day",)),),
)


@dataclass
class _Batch:
    windows: dict[str, dict[str, Any]]
    duty: list[dict[str, Any]] = field(default_factory=list)


def _code(batch: _Batch, e: LogEvent) -> dict[str, Any] | None:
    for row in batch.windows.values():
        if row["window_id"] == e.aggregate_id:
            row["last_position"] = e.position
            return row
    return None


def _registered(batch: _Batch, e: LogEvent) -> None:
    code = e.plain("code")
    batch.windows[code] = {
        "window_id": e.aggregate_id,
        "code": code,
        "name": e.plain("name"),
        "window_type": e.plain("window_type"),
        "party_members": "{}",
        "last_position": e.position,
    }


def _revised(batch: _Batch, e: LogEvent) -> None:
    if (row := _code(batch, e)) is not None:
        row["name"], row["window_type"] = e.plain("name"), e.plain("window_type")


def _party_post(batch: _Batch, e: LogEvent) -> None:
    if (row := _code(batch, e)) is not None:
        members = orjson.loads(row["party_members"])
        if e.plain("marked"):
            members[e.plain("staff_id")] = e.plain("staff_name")
        else:
            members.pop(e.plain("staff_id"), None)
        row["party_members"] = orjson.dumps(members, option=orjson.OPT_SORT_KEYS).decode()


def _duty(batch: _Batch, e: LogEvent) -> None:
    if (row := _code(batch, e)) is not None:
        batch.duty.append(
            {
                "window_code": row["code"],
                "day": e.plain("day"),
                "staff_id": e.plain("staff_id"),
                "staff_name": e.plain("staff_name"),
                "position": e.position,
            }
        )


class WindowProjection(Projection[_Batch]):
    """Windows and the rota, written back once per batch."""

    name = "windows"
    version = 1
    tables = (WINDOWS, WINDOW_DUTY)
    handlers: ClassVar[dict[str, Callable[[Any, LogEvent], None]]] = {
        "Window.Registered": _registered,
        "Window.Revised": _revised,
        "Window.PartyPostMarked": _party_post,
        "Window.DutyAssigned": _duty,
    }

    def begin(self, tx: Tx, events: Sequence[LogEvent]) -> _Batch:
        # A hall has tens of windows: every batch holds them all (events name the id).
        rows = tx.execute(
            "SELECT code, window_id, name, window_type, party_members, last_position FROM {windows}"
        )
        columns = ("code", "window_id", "name", "window_type", "party_members", "last_position")
        return _Batch({r[0]: dict(zip(columns, r, strict=True)) for r in rows})

    def finish(self, tx: Tx, state: _Batch) -> None:
        tx.upsert(WINDOWS, list(state.windows.values()))
        tx.upsert(WINDOW_DUTY, state.duty)


PROJECTION = WindowProjection()


class WindowView(View):
    """The windows and their rota."""

    tables = PROJECTION.tables

    def windows(self, window_type: str | None = None) -> list[dict[str, Any]]:
        """Every window (of a type), by code, with its party members (党员示范岗)."""
        if window_type is not None and window_type not in WINDOW_TYPES:
            raise InvalidCommand(f"window type must be one of {sorted(WINDOW_TYPES)}")
        rows = self.rows("SELECT * FROM {windows} ORDER BY code")
        out = []
        for r in rows:
            if window_type is not None and r["window_type"] != window_type:
                continue
            members = orjson.loads(r["party_members"])
            out.append(
                {
                    "code": r["code"],
                    "name": r["name"],
                    "window_type": r["window_type"],
                    "type_name": WINDOW_TYPES.get(r["window_type"], r["window_type"]),
                    "party_post": bool(members),
                    "party_members": [
                        {"staff_id": k, "name": v} for k, v in sorted(members.items())
                    ],
                }
            )
        return out

    def rota(self, since: date, until: date, window: str | None = None) -> list[dict[str, Any]]:
        """Who is on duty on each day in [since, until] (per window), by day."""
        if until < since or (until - since).days > 366:
            raise InvalidCommand("the rota span is 0..366 days, since before until")
        params: list[Any] = [since.isoformat(), until.isoformat()]
        extra = ""
        if window is not None:
            extra = " AND window_code = %s"
            params.append(window)
        return self.rows(
            "SELECT window_code, day, staff_id, staff_name, position FROM {window_duty} "
            "WHERE day >= %s AND day <= %s" + extra + " ORDER BY day, window_code",
            params,
        )

    def green_channel_codes(self) -> list[str]:
        """The codes of the 招商引资绿色通道 windows."""
        return [w["code"] for w in self.windows("green_channel")]
