"""The shape every projection shares: name, handled events, tables, apply functions.

A projection is a small class (one module each, registered in
:mod:`casestore.projections.runtime.registry`)::

    class CaseStatusProjection(Projection[RowFold]):
        name = "case_status"
        version = 1                        # bump when tables or logic change: run rebuilds
        tables = (CASE_STATUS,)            # Table declarations, DDL for SQLite and PostgreSQL
        handlers = {"Case.Submitted": _submitted, ...}   # apply functions

        def begin(self, tx, events): ...   # batch state, e.g. RowFold(tx, CASE_STATUS)
        def finish(self, tx, state): ...   # write the batch back

The runtime (:mod:`casestore.projections.runtime.live`) calls :meth:`Projection.apply`
with a batch of events in log order inside one transaction that also records the
projection's position, so every batch counts exactly once. Apply functions get a
:class:`LogEvent` (position, ids, type, actor, times, hashes, lazily decoded state)
and never see the domain classes, which keeps rebuilds fast and lets an old log be
projected after the domain moved on. SQL is written once with ``%s`` placeholders and
``{logical_table}`` names; :class:`Tx` maps both to the backend and the target.

The pieces live in :mod:`.schema` (tables), :mod:`.events` (``LogEvent``) and
:mod:`.sql` (``Tx``, ``RowFold``); everything is re-exported here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Generic, TypeVar

from .events import (
    EPOCH,
    LogEvent,
    iso_to_micros,
    local_day,
    local_day_iso,
    micros_to_datetime,
    tagged_plain,
    topic_parts,
)
from .schema import (
    COLUMN_TYPES,
    PG_COPY_TYPES,
    Column,
    Index,
    Table,
    check_target,
    physical,
)
from .sql import WRITE_BEHIND, RowFold, Tx, flush_write_behind

__all__ = [
    "COLUMN_TYPES",
    "EPOCH",
    "PG_COPY_TYPES",
    "WRITE_BEHIND",
    "Column",
    "Index",
    "LogEvent",
    "Projection",
    "RowFold",
    "Table",
    "Tx",
    "check_target",
    "flush_write_behind",
    "iso_to_micros",
    "local_day",
    "local_day_iso",
    "micros_to_datetime",
    "physical",
    "tagged_plain",
    "topic_parts",
]

S = TypeVar("S")
Handler = Callable[[S, LogEvent], None]


class Projection(Generic[S]):
    """Base of every projection; subclasses declare name, version, tables and handlers.

    Mirrors ``eventsourcing.projection.Projection`` (a ``name`` and the ``topics`` it
    handles) but applies a whole batch per transaction: :meth:`begin` builds the batch
    state, each handled event goes to its handler, :meth:`finish` writes the state.
    Events with no handler are skipped (the position still advances past them).
    """

    name: ClassVar[str] = ""
    version: ClassVar[int] = 1
    tables: ClassVar[tuple[Table, ...]] = ()
    handlers: ClassVar[Mapping[str, Callable[[Any, LogEvent], None]]] = {}
    #: Handle every event (e.g. the ledger), not only the keys of ``handlers``.
    all_events: ClassVar[bool] = False
    #: Reads personal fields (``casestore.domain.personal``) in clear: ``True`` every one,
    #: or only those named, per event, by the last part of their path
    #: (``{"Case.Submitted": frozenset({"name"})}``). Least privilege: a projection sees
    #: every other personal field sealed (〔已加密〕), so its view holds no personal data, a
    #: forget has nothing to erase there, and its rebuild fetches no key and decrypts
    #: nothing for them (issue 18). Only the case list (masked names, corrected facts)
    #: names any.
    personal: ClassVar[bool | Mapping[str, frozenset[str]]] = False

    def handles(self, event: LogEvent) -> bool:
        return self.all_events or event.key in self.handlers

    def kinds(self) -> frozenset[str] | None:
        """The event keys this projection handles, so that a reader can pass the others
        by without building or decoding them; None when it decides event by event
        (``all_events``, or a projection with its own :meth:`handles`)."""
        if self.all_events or type(self).handles is not Projection.handles:
            return None
        return frozenset(self.handlers)

    def begin(self, tx: Tx, events: Sequence[LogEvent]) -> S:
        """The batch state the handlers fold into (default: the transaction itself)."""
        return tx  # type: ignore[return-value]

    def finish(self, tx: Tx, state: S) -> None:
        """Write what the handlers folded into ``state``."""

    def apply(self, tx: Tx, events: Sequence[LogEvent]) -> None:
        """Apply one batch of handled events, in log order, inside ``tx``."""
        state = self.begin(tx, events)
        handlers = self.handlers
        for event in events:
            handler = handlers.get(event.key)
            if handler is not None:
                handler(state, event)
        self.finish(tx, state)

    def table_names(self, target: str = "") -> dict[str, str]:
        """Logical -> physical names of this projection's tables for a target."""
        return {t.name: physical(t.name, target) for t in self.tables}
