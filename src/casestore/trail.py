"""The access trail: append one ``AccessRecorded`` per accountable read.

Appended through the store's group commit like any command, so it is hash-chained and
concurrent reads share commits. The read waits for its record to commit: a response
with personal data is never sent without its trace (if the store cannot record it,
the read fails). ``enabled=False`` (``CASESTORE_ACCESS_TRAIL=off``) exists only for the
benchmark that measures what the trail costs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from uuid import UUID, uuid4

from casestore.domain.access import Access
from casestore.domain.values import Actor
from casestore.store.application import CasestoreApp

#: Roles whose as-of reconstructions are recorded even without personal data in them.
RECONSTRUCTING_ROLES = frozenset({"auditor", "inspector"})


class AccessTrail:
    """Records reads; returns the log position of each record (or 0 when off)."""

    def __init__(
        self,
        app: CasestoreApp,
        clock: Callable[[], datetime],
        *,
        enabled: bool = True,
        new_id: Callable[[], UUID] = uuid4,
    ) -> None:
        self.app = app
        self.clock = clock
        self.enabled = enabled
        self._new_id = new_id

    def record(
        self, actor: Actor, route: str, purpose: str = "", case_ids: Iterable[UUID] = ()
    ) -> int:
        if not self.enabled:
            return 0
        access = Access.record(
            access_id=self._new_id(),
            actor=actor,
            route=route,
            purpose=purpose,
            case_ids=list(case_ids),
            at=self.clock(),
        )
        # The events, not the aggregate: a record is never loaded again by the write side,
        # so it must not take a place in the command cache (it would evict cases there).
        positions = self.app.append(*access.collect_events())
        return positions[-1]
