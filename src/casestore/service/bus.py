"""The application service: one ``handle(command)`` entry point for every write.

It checks the role matrix, stamps ``recorded_at`` from the injected clock (never from
the client), honours ``expected_version`` and idempotency keys, and runs the one
load → check expected version → decide → append loop for cases and bundles,
reloading once when its cached aggregate turned out stale. Deciding is the handlers'
job (:mod:`casestore.service.handlers`); intake builds new aggregates
(:mod:`casestore.service.intake`). The simulator and the importer use the same public
methods: :meth:`CaseService.decide`, :meth:`CaseService.open_case`,
:meth:`CaseService.open_bundle` and :meth:`CaseService.record`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any, overload

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from casestore.domain import (
    Actor,
    AlreadyDone,
    Bundle,
    Case,
    ConcurrencyConflict,
    InvalidCommand,
    NotFound,
)
from casestore.domain.clocks import statutory_due as statutory_due_on
from casestore.domain.errors import IdempotencyKeyReused
from casestore.domain.roles import check_permission
from casestore.domain.values import APPROVAL_SEAL_ID, local_date
from casestore.querycode import QueryPeppers, process_peppers
from casestore.service.catalogue import CatalogueCodes, CatalogueMixin
from casestore.service.commands import (
    Command,
    LoadCatalogue,
    SubmitBundle,
    SubmitCase,
    Update,
)
from casestore.service.fingerprint import command_fingerprint
from casestore.service.handlers import HANDLERS
from casestore.service.intake import Draws, IntakeMixin
from casestore.service.practice import (
    GrantAward,
    ReceiveEnquiry,
    RegisterWindow,
    new_award,
    new_enquiry,
    new_window,
)
from casestore.service.reads import ReadsMixin
from casestore.service.results import (
    BundleSubmission,
    CommandResult,
    Submission,
)
from casestore.settings import load_settings
from casestore.store.application import CasestoreApp
from casestore.store.batch import Duplicate, DuplicateCommand, VersionConflict
from casestore.timelimits.calendar import WorkingCalendar, default_calendar
from casestore.timelimits.config import ClockConfig
from casestore.timeutil import utc_now

Clock = Callable[[], datetime]


class CaseService(IntakeMixin, CatalogueMixin, ReadsMixin):
    """Commands and reads over one :class:`CasestoreApp`."""

    def __init__(
        self,
        app: CasestoreApp,
        *,
        clock: Clock = utc_now,
        calendar: WorkingCalendar | None = None,
        seal_id: str = APPROVAL_SEAL_ID,
        bureau_prefix: str = "XY",
        draws: Draws | None = None,
        clock_config: ClockConfig | None = None,
        peppers: QueryPeppers | None = None,
    ) -> None:
        self.app = app
        # The composition root passes the settings' clock thresholds; a service built
        # directly (scripts, tests) reads and validates the same settings itself.
        self.clock_config = clock_config or load_settings().clock()
        #: Like the clock thresholds, a service built directly reads the settings' pepper;
        #: without one (tests, one-off scripts) a random one for this process, the same
        #: for every service in it: its codes verify only while it runs. ``serve``
        #: requires the setting.
        self.peppers = peppers or load_settings().peppers() or process_peppers()
        self.clock = clock
        self.draws = draws or Draws()
        self.calendar = calendar or default_calendar()
        self.seal_id = seal_id
        self.bureau_prefix = bureau_prefix
        self._item_codes = CatalogueCodes(app)

    @classmethod
    def open(cls, db_url: str | None = None, **options: Any) -> CaseService:
        """A service over its own store at ``db_url`` (closed by :meth:`close`)."""
        return cls(CasestoreApp(db_url), **options)

    def close(self) -> None:
        """Close the store's connections."""
        self.app.close()

    # -- the message loop -------------------------------------------------------------------

    @overload
    def handle(self, command: SubmitCase) -> Submission: ...
    @overload
    def handle(self, command: SubmitBundle) -> BundleSubmission: ...
    @overload
    def handle(self, command: LoadCatalogue) -> dict[str, dict[str, int]]: ...
    @overload
    def handle(self, command: ReceiveEnquiry | RegisterWindow | GrantAward) -> CommandResult: ...
    @overload
    def handle(self, command: Update) -> CommandResult: ...

    def handle(self, command: Command) -> Any:
        """Run one command; a refused command raises a domain error and appends nothing."""
        check_permission(command.action, command.actor)
        if isinstance(command, Update):
            return self._update(command)
        if isinstance(command, SubmitCase):
            return self._submit(command)
        if isinstance(command, SubmitBundle):
            return self._submit_bundle(command)
        if isinstance(command, LoadCatalogue):
            return self._load_catalogue(command)
        if isinstance(command, ReceiveEnquiry):
            return self._receive_enquiry(command)
        if isinstance(command, RegisterWindow):
            return self._register_window(command)
        if isinstance(command, GrantAward):
            return self._create(command, new_award(command, self.draws.uuid(), self.clock()))
        raise TypeError(f"no handler for {type(command).__name__}")

    def decide(self, command: Update, aggregate: Aggregate) -> None:
        """Check the role matrix and apply ``command`` to an aggregate held in memory
        (not saved: the caller appends its pending events)."""
        check_permission(command.action, command.actor)
        cls, handler = HANDLERS[type(command)]
        if not isinstance(aggregate, cls):
            raise TypeError(f"{type(command).__name__} applies to a {cls.__name__}")
        handler(command, aggregate, self)

    def record(self, events: Sequence[Any]) -> None:
        """Append events decided elsewhere (a simulator's batch, an import) in one
        transaction, exactly as they are."""
        self.app.events.put(list(events))

    def _replay(self, command: Command, key: str) -> Duplicate | None:
        """The first outcome under ``key``, if the key was used for this very request.

        A key is bound, first writer wins, to a fingerprint of who asks (staff id), the
        command (its HTTP route), its target and its body; any other use is refused with
        :class:`IdempotencyKeyReused` before anything is decided or appended."""
        binding = command_fingerprint(command)
        if self.app.log.bind_key(key, binding) != binding:
            raise IdempotencyKeyReused(
                f"the Idempotency-Key {key[:80]!r} was used for another request (another "
                "staff member, command, target or body); use a new key for a new request "
                "(该幂等键已用于另一请求，请为新请求使用新键)"
            )
        return self.app.log.find_key(key)

    def _update(self, command: Update) -> CommandResult:
        """Load (from the cache first), check ``expected_version``, decide, append.

        An idempotency key used before returns the first outcome. A stale cache shows up
        as a version conflict: the aggregate is reloaded and decided once more (unless
        the caller named the version it expects). Refusals raise and append nothing.
        """
        key, expected, target = command.idempotency_key, command.expected_version, command.target
        if key and (dup := self._replay(command, key)):
            return CommandResult(dup.originator_id, dup.version, dup.position, duplicate=True)
        cls, handler = HANDLERS[type(command)]
        noun = cls.__name__.lower()
        for attempt in (1, 2):
            aggregate = self.app.get(cls, target, cached=attempt == 1)
            if expected is not None and aggregate.version != expected:
                if attempt == 1:
                    self.app.evict(target)
                    continue
                raise ConcurrencyConflict(
                    f"{noun} {target} is at version {aggregate.version}, not {expected}",
                    current_version=aggregate.version,
                )
            handler(command, aggregate, self)
            try:
                positions = self.app.append(aggregate, idempotency_key=key)
            except DuplicateCommand as e:
                d = e.duplicate
                return CommandResult(d.originator_id, d.version, d.position, duplicate=True)
            except VersionConflict:
                self.app.evict(target)
                if attempt == 2 or expected is not None:
                    raise ConcurrencyConflict(f"{noun} {target} changed meanwhile") from None
                continue
            except IntegrityError as e:  # pragma: no cover - defensive
                raise ConcurrencyConflict(str(e)) from None
            return CommandResult(aggregate.id, aggregate.version, positions[-1])
        raise ConcurrencyConflict(f"{noun} {target} changed meanwhile")  # pragma: no cover

    # -- intake ----------------------------------------------------------------------------

    def _submit(self, command: SubmitCase) -> Submission:
        key = command.idempotency_key
        if key and (dup := self._replay(command, key)):
            return self._submission_of(dup)
        for _ in range(5):
            new = self.open_case(command)
            try:
                positions = self.app.append(new.case, new.index, idempotency_key=key)
            except DuplicateCommand as e:
                return self._submission_of(e.duplicate)
            except VersionConflict:
                continue  # the random case number was taken: draw another
            return Submission(
                new.case.id,
                new.case.version,
                positions[-1],
                case_no=new.case.case_no,
                query_code=new.query_code,
            )
        raise ConcurrencyConflict("could not allocate a unique case number")

    def _submit_bundle(self, command: SubmitBundle) -> BundleSubmission:
        key = command.idempotency_key
        if key and (dup := self._replay(command, key)):
            return self._bundle_replay(dup)
        for _ in range(5):
            new = self.open_bundle(command)
            saved = [a for child in new.children for a in (child.case, child.index)]
            try:
                positions = self.app.append(new.bundle, *saved, idempotency_key=key)
            except DuplicateCommand as e:
                return self._bundle_replay(e.duplicate)
            except VersionConflict:
                continue  # a random case number was taken: draw the numbers again
            return self._bundle_submission(new, positions[-1])
        raise ConcurrencyConflict("could not allocate unique case numbers")

    def _receive_enquiry(self, command: ReceiveEnquiry) -> CommandResult:
        """A new enquiry with the handling days in force (``ClockConfig.enquiry_days``)."""
        key = command.idempotency_key
        if key and (dup := self._replay(command, key)):
            return CommandResult(dup.originator_id, dup.version, dup.position, duplicate=True)
        enquiry = new_enquiry(
            command, self.draws.uuid(), self.clock_config.enquiry_days, self.clock()
        )
        try:
            positions = self.app.append(enquiry, idempotency_key=key)
        except DuplicateCommand as e:
            d = e.duplicate
            return CommandResult(d.originator_id, d.version, d.position, duplicate=True)
        return CommandResult(enquiry.id, enquiry.version, positions[-1])

    def _create(self, command: Command, aggregate: Aggregate) -> CommandResult:
        """Append a new aggregate a command built (an idempotent replay returns the first)."""
        key = command.idempotency_key
        if key and (dup := self._replay(command, key)):
            return CommandResult(dup.originator_id, dup.version, dup.position, duplicate=True)
        try:
            positions = self.app.append(aggregate, idempotency_key=key)
        except DuplicateCommand as e:
            d = e.duplicate
            return CommandResult(d.originator_id, d.version, d.position, duplicate=True)
        return CommandResult(aggregate.id, aggregate.version, positions[-1])

    def _register_window(self, command: RegisterWindow) -> CommandResult:
        """A new window (its id derives from its code: a second registration conflicts)."""
        key = command.idempotency_key
        if key and (dup := self._replay(command, key)):
            return CommandResult(dup.originator_id, dup.version, dup.position, duplicate=True)
        window = new_window(command, self.clock())
        try:
            positions = self.app.append(window, idempotency_key=key)
        except DuplicateCommand as e:
            d = e.duplicate
            return CommandResult(d.originator_id, d.version, d.position, duplicate=True)
        except VersionConflict:
            raise AlreadyDone(f"window {command.code} is registered already") from None
        return CommandResult(window.id, window.version, positions[-1])

    def item_codes(self) -> list[str]:
        """Every published item code, sorted (the log is scanned incrementally)."""
        return self._item_codes.codes()

    def load_catalogue(self, path: str | Path, actor: Actor) -> dict[str, dict[str, int]]:
        """``LoadCatalogue`` from a JSON file with ``items`` (and ``bundles``)."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("items"), list):
            raise InvalidCommand(f"{path}: a catalogue is an object with an 'items' list")
        bundles = data.get("bundles", [])
        return self.handle(LoadCatalogue(actor=actor, items=data["items"], bundles=bundles))

    # -- legal dates -----------------------------------------------------------------------

    def statutory_due(self, case: Case, on: date | None = None) -> date:
        """The case's statutory deadline as it stands on ``on`` (default: the service
        clock's today), before any extension: from acceptance or deemed acceptance (Art.
        32), open and closed Art. 45 suspensions excluded (:mod:`casestore.domain.clocks`)."""
        day = on or local_date(self.clock())
        return statutory_due_on(case, day, self.calendar, self.clock_config, None).due

    def bundle_children(self, bundle: Bundle) -> list[Case]:
        """A bundle's child cases as stored now (read fresh: a child's suspension moves
        the joint clock, and it is another aggregate than the one being decided)."""
        return [self.app.get(Case, child, cached=False) for child in bundle.children.values()]

    def visit_rated_by(self, case: Case) -> str:
        """一次一评: the number of the case of the same visit that already carries the
        visit's rating, or "". A case outside a bundle is a visit of its own; a bundle's
        children are one visit (one intake, one pickup). Read fresh from the store; a
        bundle or sibling not stored yet (the simulator plans one rating per visit and
        saves in batches) counts as unrated.

        Two ratings racing on two children of one bundle can both pass this check (each
        child is its own aggregate); the read side then counts the first by log position
        as the visit's rating (``projections/readmodels/evaluation.py``)."""
        if case.bundle_id is None:
            return ""
        try:
            bundle = self.app.get(Bundle, case.bundle_id)
        except NotFound:
            return ""
        for child in bundle.children.values():
            if child == case.id:
                continue
            try:
                sibling = self.app.get(Case, child)
            except NotFound:
                continue
            if sibling.evaluation_level is not None:
                return sibling.case_no or str(sibling.id)
        return ""
