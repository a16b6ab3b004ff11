"""What the service reads for its callers: aggregates, a case's events, the log.

The HTTP edge reads the write side only through these methods (and the read side's
views), never through the store's application class.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any
from uuid import UUID

from casestore.domain import Bundle, BundleDefinition, Case, Item, NotFound
from casestore.domain.award import Award
from casestore.domain.catalogue import bundle_definition_id, item_id
from casestore.domain.enquiry import Enquiry
from casestore.domain.index import CaseNumber, case_number_id
from casestore.domain.window import Window, window_id
from casestore.querycode import QueryPeppers
from casestore.store.application import CasestoreApp
from casestore.store.audit import digest as take_digest
from casestore.store.audit import verify as run_verify
from casestore.store.integrity import LogRow, VerifyReport
from casestore.store.logbase import CommittedBatch


class ReadsMixin:
    """Reads over ``self.app`` (the store) for the service's callers."""

    app: CasestoreApp
    clock: Callable[[], datetime]
    peppers: QueryPeppers

    # -- aggregates -------------------------------------------------------------------------

    def case(
        self,
        case_id: UUID,
        *,
        as_of: datetime | None = None,
        at_position: int | None = None,
        version: int | None = None,
    ) -> Case:
        """A case now, or as it stood at a past moment, log position or version."""
        if version is not None:
            return self.app.get(Case, case_id, version=version)
        return self.app.get_as_of(Case, case_id, as_of=as_of, at_position=at_position)

    def bundle(self, bundle_id: UUID) -> Bundle:
        """A bundle as it stands now, or :class:`NotFound`."""
        return self.app.get(Bundle, bundle_id)

    def enquiry(self, enquiry_id: UUID) -> Enquiry:
        """An enquiry (群众诉求/咨询) as it stands now, or :class:`NotFound`."""
        return self.app.get(Enquiry, enquiry_id)

    def award(self, award_id: UUID) -> Award:
        """An entry of the awards register, or :class:`NotFound`."""
        return self.app.get(Award, award_id)

    def window(self, code: str) -> Window:
        """A window by its code, or :class:`NotFound`."""
        return self.app.get(Window, window_id(code))

    def item(self, code: str, *, fresh: bool = False) -> Item:
        """A published item, or :class:`NotFound`.

        Intake only checks that the item exists (cached); acceptance copies the limits in
        force, so it reads the item fresh: another process may have revised it.
        """
        return self.app.get(Item, item_id(code), cached=not fresh)

    def bundle_definition(self, code: str) -> BundleDefinition:
        """A published 一件事 bundle definition, read from the log, or :class:`NotFound`."""
        try:
            return self.app.get(BundleDefinition, bundle_definition_id(code))
        except NotFound:
            raise NotFound(f"no bundle {code}") from None

    def find_case_no(self, case_no: str) -> UUID:
        """The case id for a human case number."""
        index = self.app.get(CaseNumber, case_number_id(case_no))
        assert index.case_id is not None
        return index.case_id

    def check_query_code(self, case_no: str, code: str) -> Case:
        """The applicant's own case, if the query code matches (constant-time compare)."""
        case = self.case(self.find_case_no(case_no))
        first = self.app.domain_events(case.id, upto_version=1)[0]
        if not self.peppers.matches(first.query_code_hash, case.id, code):
            raise NotFound("no case with that number and query code")
        return case

    def events(self, aggregate_id: UUID, *, upto_version: int | None = None) -> list[Any]:
        """Every event of one aggregate, in version order."""
        return self.app.domain_events(aggregate_id, upto_version=upto_version)

    def exists(self, aggregate_id: UUID) -> bool:
        """Whether the log holds any event of ``aggregate_id``."""
        return bool(self.app.recorder.select_events(aggregate_id, limit=1))

    def subject_cases(self, case_id: UUID) -> list[tuple[UUID, str]]:
        """(case id, party) of every case holding personal data of this case's applicant
        (as applicant or agent), by the key table; the case alone without one."""
        keys = self.app.subject_keys
        ref = keys.ref_of_owner(case_id.hex) if keys is not None else None
        if keys is None or ref is None:
            return [(case_id, "applicant")]
        found: dict[UUID, str] = {}
        for owner, party, _key, destroyed in keys.owners(ref):
            first = self.app.domain_events(UUID(owner), upto_version=1)
            if not destroyed and first and isinstance(first[0], Case.Submitted):
                found.setdefault(UUID(owner), party)
        return sorted(found.items()) or [(case_id, "applicant")]

    # -- the log ----------------------------------------------------------------------------

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgres``."""
        return self.app.backend

    @property
    def db_url(self) -> str:
        """The event store's database URL."""
        return self.app.db_url

    @property
    def events_channel(self) -> str:
        """The PostgreSQL NOTIFY channel every append signals (the events table's name)."""
        return self.app.events_table

    def write_problem(self) -> str | None:
        """Why commands cannot be written now (``None`` when nothing says so): the last
        append failed, or a SQLite database's disk has less than 1 MiB free."""
        failure = getattr(self.app.recorder, "last_write_failure", None)
        if failure is not None:
            return f"the last append failed: {failure[1]}"
        if self.app.backend == "sqlite":
            datastore = getattr(self.app.recorder, "datastore", None)
            name = str(getattr(getattr(datastore, "pool", None), "db_name", ""))
            if name and not name.startswith("file:") and name != ":memory:":
                folder = os.path.dirname(os.path.abspath(name))
                if shutil.disk_usage(folder).free < 1024 * 1024:
                    return "less than 1 MiB free on the database's disk"
        return None

    def head(self) -> tuple[int, bytes | None]:
        """The last log position and its chain hash."""
        return self.app.log.head()

    def position_at(self, micros: int) -> int:
        """The last log position recorded at or before a moment (µs since the epoch)."""
        return self.app.log.position_at(micros)

    def checkpoint_covering(self, position: int) -> str:
        """The signed note (C2SP ``signed-note``) of the first checkpoint whose tree holds
        the log up to ``position``, else of the latest one, else "" (none signed yet)."""
        from casestore.ledger.store import LedgerStore

        store = LedgerStore(self.app.db_url)
        try:
            found = store.checkpoint_covering(position)
        finally:
            store.close()
        return found.note if found else ""

    def log_rows(self, after: int = 0, **kwargs: Any) -> Iterator[LogRow]:
        """Stored rows in log order after position ``after`` (``upto``, ``page``)."""
        return self.app.log.iter_log(after, **kwargs)

    def decode(self, row: LogRow) -> Any:
        """A log row as its domain event."""
        return self.app.decode(row)

    def version_at_position(self, aggregate_id: UUID, position: int) -> int:
        """An aggregate's version as of a log position (0: it did not exist yet)."""
        return self.app.log.version_at_position(aggregate_id, position)

    def add_commit_listener(self, listener: Callable[[int], None]) -> None:
        """Call ``listener(position)`` after every commit of this process."""
        self.app.add_commit_listener(listener)

    def remove_commit_listener(self, listener: Callable[[int], None]) -> None:
        """Stop calling ``listener`` (no error if it was not added)."""
        self.app.remove_commit_listener(listener)

    def add_batch_listener(self, listener: Callable[[CommittedBatch], None]) -> None:
        """Call ``listener(batch)`` with the rows of every batch this process commits."""
        self.app.add_batch_listener(listener)

    def remove_batch_listener(self, listener: Callable[[CommittedBatch], None]) -> None:
        """Stop calling ``listener`` (no error if it was not added)."""
        self.app.remove_batch_listener(listener)

    def writes_from(self, backend_pid: int) -> bool:
        """Whether database session ``backend_pid`` is one this process appends through."""
        return self.app.writes_from(backend_pid)

    def event_rows(self, after: int = 0, **kwargs: Any) -> Iterator[tuple[LogRow, Any]]:
        """(row, domain event) pairs in log order after ``after`` (``upto``)."""
        return self.app.iter_events(after, **kwargs)

    def digest(self, position: int | None = None) -> dict[str, Any]:
        """The (position, chain hash) an auditor keeps, at the head or at ``position``."""
        return take_digest(self.app, position)

    def verify(self, saved: tuple[int, bytes] | None = None) -> VerifyReport:
        """Recompute every hash (and a saved digest); see ``casestore verify``."""
        return run_verify(self.app, saved)
