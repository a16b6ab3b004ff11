"""``case_status``: one row per case (办件) for the hall status board, search and live stream.

Stores only what a status board needs: no ID numbers or phones, and a person's name
masked (``张*``); an organisation's name is public and kept. The deadline columns
(``promised_due``, ``statutory_due``, ``remaining_days``, ``warning``) are declared
here and left NULL: the clocks code fills them through :attr:`CaseStatusProjection.row_hooks`
(functions ``(row, event) -> None`` run after each event's fold) or keeps a sibling
table of its own keyed by ``case_id``. ``item_name`` is the catalogue name in force
when the case was submitted.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

import orjson

from casestore.domain import Case
from casestore.domain.errors import InvalidCommand
from casestore.timeutil import to_micros

from ...engine.base import (
    WRITE_BEHIND,
    Column,
    Index,
    LogEvent,
    Projection,
    RowFold,
    Table,
    Tx,
    micros_to_datetime,
)
from ...engine.db import View
from .fold import (
    CaseBatch,
    RowHook,
    derive_status,
    fold_case,
    item_published,
    item_revised,
    mask_name,
    subject_forgotten,
)

__all__ = [
    "CASE_STATUS",
    "ITEMS",
    "PROJECTION",
    "CaseStatusProjection",
    "CaseStatusView",
    "Page",
    "derive_status",
    "mask_name",
]

#: Rows a worker remembers between batches: a rebuild's write-behind cache (about
#: 80 MB at 20,000) and a live worker's (hot cases only, a few MB).
ROW_CACHE = 20_000
LIVE_ROW_CACHE = 2_000

CASE_STATUS = Table(
    "case_status",
    (
        Column("case_id", not_null=True),
        Column("case_no"),
        Column("item_code"),
        Column("item_name"),
        Column("bundle_id"),
        Column("channel"),
        Column("applicant_masked"),
        Column("applicant_kind"),
        Column("stage"),
        Column("status"),
        Column("outcome"),
        Column("intake_window"),
        Column("actor_staff"),
        Column("actor_role"),
        Column("actor_window"),
        Column("submitted_at_us", "int"),
        Column("accepted_on"),
        Column("promised_completion"),
        Column("decided_at_us", "int"),
        Column("closed_at_us", "int"),
        Column("supplement_requests", "int"),
        Column("suspended", "int"),
        Column("extended", "int"),
        Column("evaluation_level", "int"),
        Column("promised_due"),
        Column("statutory_due"),
        Column("remaining_days", "int"),
        Column("warning"),
        Column("corrected"),
        Column("updated_at_us", "int"),
        Column("version", "int"),
        Column("last_position", "int"),
    ),
    ("case_id",),
    (
        Index("case_no", ("case_no",), unique=True),
        Index("submitted", ("submitted_at_us", "case_id")),
        Index("stage", ("stage", "submitted_at_us")),
        Index("window", ("intake_window", "submitted_at_us")),
        Index("item", ("item_code", "submitted_at_us")),
        Index("changes", ("last_position",)),
        Index("bundle", ("bundle_id",)),
    ),
)
ITEMS = Table(
    "case_status_items",
    (
        Column("item_id", not_null=True),
        Column("code"),
        Column("name"),
        Column("version", "int"),
    ),
    ("item_id",),
)


class CaseStatusProjection(Projection[CaseBatch]):
    """Folds case events into one status row per case."""

    name = "case_status"
    # the applicant's masked name and a corrected name (``CORRECTABLE``): no other personal
    # field (ID number, phone, a delivery's recipient, survey participants) is read, so
    # none is opened or its key fetched
    personal: ClassVar[Mapping[str, frozenset[str]]] = {
        "Case.Submitted": frozenset({"name"}),
        "Case.Corrected": frozenset({"correct_value"}),
    }
    # 2: stages by the domain's one stage machine (imported histories);
    # 3: corrections (``corrected`` marks, corrected facts in their columns)
    # (``SubjectForgotten`` needs no new version: no log before it holds one, so every
    # view built from one is what this code builds)
    version = 3
    tables = (CASE_STATUS, ITEMS)
    handlers: ClassVar[dict[str, Callable[[Any, LogEvent], None]]] = {
        **{f"Case.{k}": fold_case for k in Case.EVENT_NAMES},
        "Item.Published": item_published,
        "Item.Revised": item_revised,
        "Subject.SubjectForgotten": subject_forgotten,
    }
    #: Extra column fillers ``(row, event)``, e.g. the clocks' deadline columns.
    row_hooks: ClassVar[list[RowHook]] = []

    def begin(self, tx: Tx, events: Sequence[LogEvent]) -> CaseBatch:
        cache = ROW_CACHE if tx.memo.get(WRITE_BEHIND) else LIVE_ROW_CACHE
        rows, items = RowFold(tx, CASE_STATUS, cache=cache), RowFold(tx, ITEMS)
        names: dict[str, str | None] = {}
        if any(e.aggregate == "Item" or e.type == "Submitted" for e in events):
            loaded = tx.execute("SELECT item_id, code, name, version FROM {case_status_items}")
            for item_id, code, name, version in loaded:
                items.rows[(item_id,)] = {
                    "item_id": item_id,
                    "code": code,
                    "name": name,
                    "version": version,
                }
                names[code] = name
            items.mark_loaded(items.rows)
        rows.prefetch(
            (e.aggregate_id,) for e in events if e.aggregate == "Case" and e.type != "Submitted"
        )
        return CaseBatch(rows, items, names, tuple(self.row_hooks))

    def finish(self, tx: Tx, state: CaseBatch) -> None:
        state.items.flush()
        state.rows.flush()


PROJECTION = CaseStatusProjection()


# --------------------------------------------------------------------------- queries

#: Search filter -> column (``window`` is the intake window, 受理窗口).
SEARCH_FILTERS: dict[str, str] = {
    "stage": "stage",
    "status": "status",
    "item_code": "item_code",
    "window": "intake_window",
    "actor_staff": "actor_staff",
    "bundle_id": "bundle_id",
    "warning": "warning",
    "channel": "channel",
}


@dataclass(frozen=True)
class Page:
    """One page of a cursor-paginated search; pass ``next_cursor`` to get the next."""

    items: list[dict[str, Any]]
    next_cursor: str | None


def encode_cursor(submitted_at_us: int, case_id: str) -> str:
    return base64.urlsafe_b64encode(f"{submitted_at_us}|{case_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[int, str]:
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
        micros, case_id = text.split("|", 1)
        value = int(micros)
        UUID(case_id)
    except (ValueError, UnicodeDecodeError):
        value = -(2**63)  # refused below
        case_id = ""
    if not -(2**62) <= value <= 2**62 or not case_id:  # a bigint column cannot hold more
        raise InvalidCommand("cursor is not one this API returned (游标无效)")
    return value, case_id


def public_row(row: dict[str, Any]) -> dict[str, Any]:
    """A row with ``*_at_us`` columns as aware datetimes named ``*_at``."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key.endswith("_at_us"):
            out[key[:-3]] = micros_to_datetime(value) if value is not None else None
        else:
            out[key] = value
    marks = orjson.loads(out["corrected"]) if out.get("corrected") else {}
    out["corrected"] = {
        fact: {**mark, "link": f"/cases/{out['case_id']}/events?version={mark['version']}"}
        for fact, mark in marks.items()
    }
    out["suspended"] = bool(out.get("suspended"))
    out["extended"] = bool(out.get("extended"))
    return out


class CaseStatusView(View):
    """Queries over ``case_status`` (live by default, or a named/as-of target)."""

    tables = (CASE_STATUS,)

    def get(self, case_id: str) -> dict[str, Any] | None:
        rows = self.rows("SELECT * FROM {case_status} WHERE case_id = %s", (str(case_id),))
        return public_row(rows[0]) if rows else None

    def by_case_no(self, case_no: str) -> dict[str, Any] | None:
        rows = self.rows("SELECT * FROM {case_status} WHERE case_no = %s", (case_no,))
        return public_row(rows[0]) if rows else None

    def search(
        self,
        *,
        cursor: str | None = None,
        limit: int = 50,
        submitted_from: datetime | None = None,
        submitted_to: datetime | None = None,
        **filters: str | None,
    ) -> Page:
        """Newest first; filters: stage, status, item_code, window, actor_staff, bundle_id,
        warning, channel (exact match) and a submission time range."""
        if not 1 <= limit <= 500:
            raise InvalidCommand("limit must be 1..500")
        unknown = set(filters) - set(SEARCH_FILTERS)
        if unknown:
            raise InvalidCommand(
                f"unknown filters {sorted(unknown)}; known: {list(SEARCH_FILTERS)}"
            )
        where: list[str] = []
        params: list[Any] = []
        for name, column in SEARCH_FILTERS.items():
            value = filters.get(name)
            if value is not None:
                where.append(f"{column} = %s")
                params.append(str(value))
        if submitted_from is not None:
            where.append("submitted_at_us >= %s")
            params.append(to_micros(submitted_from))
        if submitted_to is not None:
            where.append("submitted_at_us < %s")
            params.append(to_micros(submitted_to))
        if cursor:
            micros, case_id = decode_cursor(cursor)
            where.append("(submitted_at_us < %s OR (submitted_at_us = %s AND case_id < %s))")
            params += [micros, micros, case_id]
        clause = f"WHERE {' AND '.join(where)} " if where else ""
        rows = self.rows(
            f"SELECT * FROM {{case_status}} {clause}"
            "ORDER BY submitted_at_us DESC, case_id DESC LIMIT %s",
            (*params, limit + 1),
        )
        more = len(rows) > limit
        rows = rows[:limit]
        last = rows[-1] if rows and more else None
        return Page(
            [public_row(r) for r in rows],
            encode_cursor(last["submitted_at_us"], last["case_id"]) if last else None,
        )

    def changes(
        self,
        after_position: int = 0,
        *,
        limit: int = 100,
        window: str | None = None,
        case_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Cases whose row changed after a log position, oldest change first (for SSE).

        Each case appears once, at its latest change; resuming from the last
        ``last_position`` seen loses nothing.
        """
        where: list[str] = ["last_position > %s"]
        params: list[Any] = [after_position]
        if window is not None:
            where.append("intake_window = %s")
            params.append(window)
        if case_id is not None:
            where.append("case_id = %s")
            params.append(str(case_id))
        rows = self.rows(
            f"SELECT * FROM {{case_status}} WHERE {' AND '.join(where)} "
            "ORDER BY last_position LIMIT %s",
            (*params, limit),
        )
        return [public_row(r) for r in rows]

    def counts(self, by: str = "status", **filters: str | None) -> dict[str, int]:
        """Number of cases per stage, status, window or item_code."""
        if by not in ("stage", "status", "window", "item_code", "warning"):
            raise InvalidCommand("counts by stage, status, window, item_code or warning")
        unknown = set(filters) - set(SEARCH_FILTERS)
        if unknown:
            raise InvalidCommand(f"unknown filters {sorted(unknown)}")
        given = {k: v for k, v in filters.items() if v is not None}
        where = [f"{SEARCH_FILTERS[k]} = %s" for k in given]
        clause = f"WHERE {' AND '.join(where)} " if where else ""
        column = SEARCH_FILTERS[by]
        rows = self.rows(
            f"SELECT {column} AS k, count(*) AS n FROM {{case_status}} {clause}GROUP BY {column}",
            [str(v) for v in given.values()],
        )
        return {str(r["k"]): int(r["n"]) for r in rows}
