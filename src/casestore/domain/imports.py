"""The import batch (导入批次): one marked batch per ``casestore import`` of legacy history.

Every event an import appends names its batch (``import_batch``), and the batch says who
imported, from which file and the file's SHA-256, so an auditor can tell imported history
from live entries and check the source file still matches.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate

from casestore.domain.values import Actor, require, require_text


class ImportBatch(Aggregate):
    """One import of a legacy file: started, then completed with its counts."""

    class Started(Aggregate.Created):
        actor: Actor
        occurred_at: datetime | None
        source: str
        sha256: str
        lines: int

        def apply(self, batch: ImportBatch) -> None:
            batch.source, batch.sha256, batch.lines = self.source, self.sha256, self.lines

    class Completed(Aggregate.Event):
        actor: Actor
        occurred_at: datetime | None
        events: int
        cases: int
        refused_lines: int

        def apply(self, batch: ImportBatch) -> None:
            batch.completed = True

    def __init__(self) -> None:
        self.source = ""
        self.sha256 = ""
        self.lines = 0
        self.completed = False

    @classmethod
    def start(
        cls, *, batch_id: UUID, actor: Actor, source: str, sha256: str, lines: int, at: datetime
    ) -> ImportBatch:
        """Mark the start of an import (before any of its events is appended)."""
        require(len(sha256) == 64, "sha256 must be 64 hex digits")
        return cls._create(
            cls.Started,
            id=batch_id,
            timestamp=at,
            actor=actor,
            occurred_at=None,
            source=require_text(source, "source")[:500],
            sha256=sha256,
            lines=lines,
        )

    def complete(
        self, *, actor: Actor, events: int, cases: int, refused_lines: int, at: datetime
    ) -> None:
        """Close the batch with what it appended and how many lines it refused."""
        self.trigger_event(
            self.Completed,
            timestamp=at,
            actor=actor,
            occurred_at=None,
            events=events,
            cases=cases,
            refused_lines=refused_lines,
        )
