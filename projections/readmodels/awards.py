"""``awards``: the awards register, and candidates for 服务标兵 / 红旗窗口 by criteria.

Candidates are computed from the ``evaluation`` view over a period (evaluations made in
[since, until]): staff (服务标兵) or windows (红旗窗口) with at least ``min_evaluations``
evaluations, a good rate (levels 1–3) at or above ``min_good_rate``, and at most
``max_bad_reviews`` bad reviews, ranked by good rate, then evaluations. The criteria are
the query's parameters (defaults below), so each bureau applies its own rules.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, ClassVar

from casestore.domain import InvalidCommand
from casestore.domain.award import AWARD_KINDS

from ..engine.base import Column, Index, LogEvent, Projection, Table, Tx, local_day
from ..engine.db import View
from .evaluation import EVALUATION_CASES, VISITS

AWARDS = Table(
    "awards",
    (
        Column("award_id", not_null=True),
        Column("kind"),
        Column("recipient_kind"),
        Column("recipient"),
        Column("recipient_name"),
        Column("period"),
        Column("reason"),
        Column("giver"),
        Column("case_id"),
        Column("granted_on"),
        Column("revoked_on"),
        Column("position", "int"),
    ),
    ("award_id",),
    (Index("recipient", ("recipient",)),),
)


@dataclass(frozen=True)
class Criteria:
    """What makes a candidate (defaults: 10 evaluations, 98% good, no bad review)."""

    min_evaluations: int = 10
    min_good_rate: float = 0.98
    max_bad_reviews: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.min_evaluations <= 1_000_000:
            raise InvalidCommand("min_evaluations must be 1..1000000")
        if not 0.0 <= self.min_good_rate <= 1.0:
            raise InvalidCommand("min_good_rate must be 0..1")
        if not 0 <= self.max_bad_reviews <= 1_000_000:
            raise InvalidCommand("max_bad_reviews must be 0..1000000")


def _granted(rows: dict[str, dict[str, Any]], e: LogEvent) -> None:
    rows[e.aggregate_id] = {
        "award_id": e.aggregate_id,
        "kind": e.plain("kind"),
        "recipient_kind": e.plain("recipient_kind"),
        "recipient": e.plain("recipient"),
        "recipient_name": e.plain("recipient_name") or "",
        "period": e.plain("period") or "",
        "reason": e.plain("reason") or "",
        "giver": e.plain("giver") or "",
        "case_id": e.plain("case_id"),
        "granted_on": local_day(e.business_at_us).isoformat(),
        "revoked_on": None,
        "position": e.position,
    }


def _revoked(rows: dict[str, dict[str, Any]], e: LogEvent) -> None:
    row = rows.get(e.aggregate_id)
    if row is not None:
        row["revoked_on"] = local_day(e.business_at_us).isoformat()


class AwardProjection(Projection[dict[str, dict[str, Any]]]):
    """The register, one row per award."""

    name = "awards"
    version = 1
    tables = (AWARDS,)
    handlers: ClassVar[dict[str, Callable[[Any, LogEvent], None]]] = {
        "Award.Granted": _granted,
        "Award.Revoked": _revoked,
    }

    def begin(self, tx: Tx, events: Sequence[LogEvent]) -> dict[str, dict[str, Any]]:
        keys = [(e.aggregate_id,) for e in events if e.aggregate == "Award"]
        return {k[0]: row for k, row in tx.select_keys(AWARDS, keys).items()}

    def finish(self, tx: Tx, state: dict[str, dict[str, Any]]) -> None:
        tx.upsert(AWARDS, list(state.values()))


PROJECTION = AwardProjection()


class AwardView(View):
    """The register, and candidates read from the evaluation view beside it."""

    tables = (AWARDS, EVALUATION_CASES)

    def register(
        self,
        *,
        kind: str | None = None,
        since: date | None = None,
        until: date | None = None,
        include_revoked: bool = False,
    ) -> list[dict[str, Any]]:
        """Awards granted in [since, until] (of a kind), newest first."""
        if kind is not None and kind not in AWARD_KINDS:
            raise InvalidCommand(f"kind must be one of {sorted(AWARD_KINDS)}")
        rows = self.rows(
            "SELECT * FROM {awards} WHERE granted_on >= %s AND granted_on <= %s "
            "ORDER BY position DESC",
            ((since or date.min).isoformat(), (until or date.max).isoformat()),
        )
        out = []
        for r in rows:
            if (kind is not None and r["kind"] != kind) or (
                r["revoked_on"] and not include_revoked
            ):
                continue
            out.append({**r, "kind_name": AWARD_KINDS[r["kind"]][0]})
        return out

    def candidates(
        self, kind: str, since: date, until: date, criteria: Criteria | None = None
    ) -> list[dict[str, Any]]:
        """服务标兵 (staff) or 红旗窗口 (windows) meeting ``criteria`` over [since, until]."""
        column = {"service_star": "staff", "red_flag_window": "service_window"}.get(kind)
        if column is None:
            raise InvalidCommand("candidates are for service_star or red_flag_window")
        if until < since:
            raise InvalidCommand("since must not be after until")
        c = criteria or Criteria()
        rows = self.rows(
            f"SELECT {column} AS k, COUNT(*) AS n, "
            "SUM(CASE WHEN level <= 3 THEN 1 ELSE 0 END) AS good, SUM(bad) AS bad "
            f"FROM {VISITS} WHERE level IS NOT NULL AND evaluated_on >= %s "
            f"AND evaluated_on <= %s GROUP BY {column}",
            (since.isoformat(), until.isoformat()),
        )
        found = []
        for r in rows:
            n, good, bad = int(r["n"]), int(r["good"] or 0), int(r["bad"] or 0)
            rate = round(good / n, 4) if n else 0.0
            if not r["k"] or n < c.min_evaluations or rate < c.min_good_rate:
                continue
            if bad > c.max_bad_reviews:
                continue
            found.append(
                {"recipient": r["k"], "evaluations": n, "good_rate": rate, "bad_reviews": bad}
            )
        found.sort(key=lambda g: (-g["good_rate"], -g["evaluations"], g["recipient"]))
        return [{"rank": i, **g} for i, g in enumerate(found, 1)]
