"""``ledger``: the running digest of the whole log, checkpointed (SPEC §6).

Every ``interval`` positions (and at the head, in a one-row table) it stores
``(position, chain_hash, recorded_at)``: an auditor can take any checkpoint and later
prove the log up to it unchanged (``casestore verify --digest POSITION:HASH``).
While applying it checks continuity: each event's chain hash must be
``sha256(previous chain hash + event hash)`` and positions must follow one another.
A break is recorded as an alarm row, and checking continues from the stored chain, so
each broken link raises one alarm (not one per later event); it never crashes.
Checkpoints depend only on the log, not on batch boundaries, so a rebuild reproduces
them exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from casestore.settings import load_settings
from casestore.store.integrity import GENESIS, chain_hash

from ..engine.base import (
    Column,
    LogEvent,
    Projection,
    Table,
    Tx,
    micros_to_datetime,
)
from ..engine.db import View

DEFAULT_INTERVAL = 1000
CHECKPOINTS = Table(
    "ledger_checkpoints",
    (
        Column("position", "int", not_null=True),
        Column("chain_hash", not_null=True),
        Column("recorded_at_us", "int"),
    ),
    ("position",),
)
HEAD = Table(
    "ledger_head",
    (
        Column("id", "int", not_null=True),
        Column("position", "int"),
        Column("chain_hash"),
        Column("recorded_at_us", "int"),
        Column("events", "int"),
    ),
    ("id",),
)
ALARMS = Table(
    "ledger_alarms",
    (
        Column("position", "int", not_null=True),
        Column("kind", not_null=True),
        Column("aggregate_id"),
        Column("version", "int"),
        Column("expected"),
        Column("found"),
        Column("detail"),
    ),
    ("position", "kind"),
)


@dataclass
class _Batch:
    position: int
    chain: bytes
    events: int
    recorded_at_us: int | None
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    alarms: list[dict[str, Any]] = field(default_factory=list)


class LedgerProjection(Projection[_Batch]):
    """Checks and checkpoints the global hash chain."""

    name = "ledger"
    version = 1
    tables = (CHECKPOINTS, HEAD, ALARMS)
    all_events = True

    def __init__(self, interval: int | None = None) -> None:
        if interval is not None and interval < 1:
            raise ValueError("the ledger interval is at least 1")
        self._interval = interval

    @property
    def interval(self) -> int:
        """Positions between checkpoints: given, else ``CASESTORE_LEDGER_INTERVAL``, else
        the default (read on first use: the registry builds this at import)."""
        if self._interval is None:
            self._interval = load_settings().ledger_interval or DEFAULT_INTERVAL
        return self._interval

    def begin(self, tx: Tx, events: Sequence[LogEvent]) -> _Batch:
        rows = tx.execute("SELECT position, chain_hash, events FROM {ledger_head} WHERE id = 1")
        if not rows:
            return _Batch(0, GENESIS, 0, None)
        position, chain, count = rows[0]
        return _Batch(int(position), bytes.fromhex(chain), int(count), None)

    def apply(self, tx: Tx, events: Sequence[LogEvent]) -> None:
        b = self.begin(tx, events)
        for ev in events:
            self._check(b, ev)
            b.position, b.chain, b.events = ev.position, ev.chain_hash, b.events + 1
            b.recorded_at_us = ev.recorded_at_us
            if ev.position % self.interval == 0:
                b.checkpoints.append(
                    {
                        "position": ev.position,
                        "chain_hash": ev.chain_hash.hex(),
                        "recorded_at_us": ev.recorded_at_us,
                    }
                )
        self.finish(tx, b)

    def _check(self, b: _Batch, ev: LogEvent) -> None:
        if ev.position != b.position + 1:
            b.alarms.append(
                _alarm(ev, "gap", str(b.position + 1), str(ev.position), "positions skipped")
            )
        expected = chain_hash(b.chain, ev.event_hash)
        if expected != ev.chain_hash:
            b.alarms.append(
                _alarm(
                    ev,
                    "chain",
                    expected.hex(),
                    ev.chain_hash.hex(),
                    "chain hash does not follow from the previous event",
                )
            )

    def finish(self, tx: Tx, state: _Batch) -> None:
        tx.insert(CHECKPOINTS, state.checkpoints)
        tx.upsert(ALARMS, state.alarms)
        tx.upsert(
            HEAD,
            [
                {
                    "id": 1,
                    "position": state.position,
                    "chain_hash": state.chain.hex(),
                    "recorded_at_us": state.recorded_at_us,
                    "events": state.events,
                }
            ],
        )


def _alarm(ev: LogEvent, kind: str, expected: str, found: str, detail: str) -> dict[str, Any]:
    return {
        "position": ev.position,
        "kind": kind,
        "aggregate_id": ev.aggregate_id,
        "version": ev.version,
        "expected": expected,
        "found": found,
        "detail": detail,
    }


PROJECTION = LedgerProjection()


def _public(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k != "recorded_at_us"}
    us = row.get("recorded_at_us")
    out["recorded_at"] = micros_to_datetime(us) if us is not None else None
    out["digest"] = f"{row['position']}:{row['chain_hash']}"
    return out


class LedgerView(View):
    """Checkpoints, the head digest and alarms (live by default, or a named target)."""

    tables = (CHECKPOINTS, HEAD, ALARMS)

    def checkpoints(self, *, after: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        """Fixed checkpoints in position order, then the head (``"head": True``) last."""
        rows = [
            {**_public(r), "head": False}
            for r in self.rows(
                "SELECT position, chain_hash, recorded_at_us FROM {ledger_checkpoints} "
                "WHERE position > %s ORDER BY position LIMIT %s",
                (after, limit),
            )
        ]
        head = self.head()
        fresh = head is not None and (not rows or rows[-1]["position"] != head["position"])
        if head is not None and fresh and head["position"] > after and len(rows) < limit:
            rows.append({**head, "head": True})
        return rows

    def head(self) -> dict[str, Any] | None:
        rows = self.rows(
            "SELECT position, chain_hash, recorded_at_us, events FROM {ledger_head} WHERE id = 1"
        )
        return _public(rows[0]) if rows and rows[0]["position"] else None

    def at(self, position: int) -> dict[str, Any] | None:
        """The checkpoint at or nearest before a position."""
        rows = self.rows(
            "SELECT position, chain_hash, recorded_at_us FROM {ledger_checkpoints} "
            "WHERE position <= %s ORDER BY position DESC LIMIT 1",
            (position,),
        )
        head = self.head()
        if (
            head is not None
            and head["position"] <= position
            and (not rows or rows[0]["position"] < head["position"])
        ):
            return head
        return _public(rows[0]) if rows else None

    def alarms(self) -> list[dict[str, Any]]:
        return self.rows("SELECT * FROM {ledger_alarms} ORDER BY position, kind")
