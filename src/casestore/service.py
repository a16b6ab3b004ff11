"""The application service: one method per command, over the event store.

It is the single entry point for writes (CLI, API, simulator): it checks the role
matrix, stamps ``recorded_at`` from the injected clock (never from the client),
computes the legal dates a command needs (promised completion, statutory deadline),
honours ``expected_version`` and idempotency keys, and retries once when its cached
aggregate turned out stale.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from casestore.domain import (
    Actor,
    Bundle,
    Case,
    ConcurrencyConflict,
    InvalidCommand,
    Item,
    NotFound,
    Party,
    SurveyParticipant,
    item_id,
)
from casestore.domain.index import CaseNumber, case_number_id
from casestore.domain.roles import check_permission
from casestore.domain.values import APPROVAL_SEAL_ID, local_date
from casestore.store.application import CasestoreApp
from casestore.store.batch import Duplicate, DuplicateCommand, VersionConflict
from casestore.timelimits.calendar import WorkingCalendar, default_calendar
from casestore.timelimits.rules import Suspension, decision_clock

Clock = Callable[[], datetime]
A = TypeVar("A", bound=Aggregate)
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def utc_now() -> datetime:
    """The server's clock."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class CommandResult:
    """What a command did: the case, its new version and the last log position."""

    case_id: UUID
    version: int
    position: int
    duplicate: bool = False


@dataclass(frozen=True)
class Submission(CommandResult):
    """A new case: its number and the applicant's query code (shown once, stored hashed)."""

    case_no: str = ""
    query_code: str = ""


def query_code_hash(case_id: UUID, code: str) -> str:
    """The stored form of a query code (the code itself is never stored)."""
    return hashlib.sha256(case_id.bytes + code.encode()).hexdigest()


def _party(value: Party | Mapping[str, Any] | None) -> Party | None:
    if value is None or isinstance(value, Party):
        return value
    try:
        return Party(**dict(value))
    except TypeError as e:
        raise InvalidCommand(f"bad party: {e}") from None


class Draws:
    """Where new ids, case-number suffixes and query codes come from.

    Cryptographic randomness by default; a simulator substitutes a seeded subclass so a
    history is a function of its seed.
    """

    def uuid(self) -> UUID:
        return uuid4()

    def case_suffix(self) -> str:
        return "".join(secrets.choice(_CROCKFORD) for _ in range(6))

    def query_code(self) -> str:
        return f"{secrets.randbelow(10**6):06d}"


class CaseService:
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
    ) -> None:
        self.app = app
        self.clock = clock
        self.draws = draws or Draws()
        self.calendar = calendar or default_calendar()
        self.seal_id = seal_id
        self.bureau_prefix = bureau_prefix
        self._handlers: dict[str, Callable[..., None]] = {
            "supplement-request": self._supplement_request,
            "supplement": self._supplement,
            "accept": self._accept,
            "reject": lambda c, **k: c.reject(**k),
            "withdraw": lambda c, **k: c.withdraw(**k),
            "review": lambda c, **k: c.record_review(**k),
            "survey-schedule": lambda c, **k: c.schedule_survey(**k),
            "survey-result": self._survey_result,
            "suspend": lambda c, **k: c.suspend(**k),
            "resume": lambda c, **k: c.resume(**k),
            "extend": self._extend,
            "decide": lambda c, **k: c.decide(**k),
            "seal": self._seal,
            "deliver": lambda c, **k: c.deliver(**k),
            "evaluate": lambda c, **k: c.evaluate(**k),
            "bad-review": lambda c, **k: c.handle_bad_review(**k),
            "follow-up": lambda c, **k: c.record_follow_up(**k),
            "correct": self._correct,
        }

    @property
    def actions(self) -> list[str]:
        """Every ``POST /cases/{id}/{action}`` name."""
        return list(self._handlers)

    # -- catalogue -------------------------------------------------------------------------

    def load_catalogue(self, path: str | Path, actor: Actor) -> dict[str, int]:
        """Publish new items and revise changed ones from a catalogue JSON file."""
        check_permission("catalogue", actor)
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        counts = {"published": 0, "revised": 0, "unchanged": 0}
        for raw in data["items"]:
            spec = {k: v for k, v in raw.items() if k != "code"}
            try:
                item = self.app.get(Item, item_id(raw["code"]))
            except NotFound:
                self.app.save(
                    Item.publish(code=raw["code"], spec=spec, actor=actor, at=self.clock())
                )
                counts["published"] += 1
                continue
            try:
                item.revise(changes=spec, reason="catalogue file", actor=actor, at=self.clock())
            except InvalidCommand:
                counts["unchanged"] += 1
                continue
            self.app.save(item)
            counts["revised"] += 1
        self._bundles = {b["code"]: b for b in data.get("bundles", [])}
        return counts

    def item(self, code: str, *, fresh: bool = False) -> Item:
        """A published item, or :class:`NotFound`.

        Intake only checks that the item exists (cached); acceptance copies the limits in
        force, so it reads the item fresh: another process may have revised it.
        """
        return self.app.get(Item, item_id(code), cached=not fresh)

    # -- intake ----------------------------------------------------------------------------

    def submit(
        self,
        actor: Actor,
        *,
        item_code: str,
        applicant: Party | Mapping[str, Any],
        idempotency_key: str | None = None,
        occurred_at: datetime | None = None,
        bundle_id: UUID | None = None,
        **fields: Any,
    ) -> Submission:
        """Take in an application; returns its id, case number and query code."""
        check_permission("submit", actor)
        if idempotency_key and (dup := self.app.log.find_key(idempotency_key)):
            return self._submission_of(dup)
        self.item(item_code)
        party = _party(applicant)
        assert party is not None
        for _ in range(5):
            case, index, code = self._new_case(
                actor, item_code, party, occurred_at, bundle_id, fields
            )
            try:
                positions = self.app.append(case, index, idempotency_key=idempotency_key)
            except DuplicateCommand as e:
                return self._submission_of(e.duplicate)
            except VersionConflict:
                continue  # the random case number was taken: draw another
            return Submission(
                case.id,
                case.version,
                positions[-1],
                case_no=case.case_no,
                query_code=code,
            )
        raise ConcurrencyConflict("could not allocate a unique case number")

    def _new_case(
        self,
        actor: Actor,
        item_code: str,
        party: Party,
        occurred_at: datetime | None,
        bundle_id: UUID | None,
        fields: dict[str, Any],
    ) -> tuple[Case, CaseNumber, str]:
        at = self.clock()
        case_id = self.draws.uuid()
        case_no = f"{self.bureau_prefix}{local_date(at):%Y%m%d}{self.draws.case_suffix()}"
        code = self.draws.query_code()
        agent = _party(fields.pop("agent", None))
        try:
            case = Case.submit(
                case_id=case_id,
                case_no=case_no,
                query_code_hash=query_code_hash(case_id, code),
                item_code=item_code,
                applicant=party,
                agent=agent,
                actor=actor,
                at=at,
                occurred_at=occurred_at,
                bundle_id=bundle_id,
                **fields,
            )
        except TypeError as e:
            raise InvalidCommand(f"bad submission: {e}") from None
        return case, CaseNumber.register(case_no, case_id, actor, at), code

    def _submission_of(self, dup: Duplicate) -> Submission:
        """The first submission under an idempotency key (its key may name the number index).

        The query code is not returned again: only its hash is stored.
        """
        case_id, version = dup.originator_id, dup.version
        try:
            index = self.app.get(CaseNumber, case_id)
        except NotFound:
            pass
        else:
            assert index.case_id is not None
            case_id, version = index.case_id, 1
        case = self.app.get(Case, case_id, version=version)
        return Submission(case.id, version, dup.position, duplicate=True, case_no=case.case_no)

    def submit_bundle(
        self,
        actor: Actor,
        *,
        bundle_code: str,
        applicant: Party | Mapping[str, Any],
        materials: list[str] | None = None,
        channel: str = "window",
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """One intake for a 一件事 bundle: the bundle and a child case per item, atomically.

        Returns ``bundle_id``, ``position`` and per item code the child's ``case_id``,
        ``case_no`` and ``query_code`` (shown once). A replay of the same idempotency key
        returns the first intake's bundle and children with ``duplicate`` set and no
        query codes (only their hashes are stored).
        """
        check_permission("submit-bundle", actor)
        if idempotency_key and (dup := self.app.log.find_key(idempotency_key)):
            return self._bundle_replay(dup)
        self._bundle_spec(bundle_code)
        party = _party(applicant)
        assert party is not None
        for _ in range(5):
            bundle, children = self._new_bundle(
                actor, bundle_code, party, channel, list(materials or [])
            )
            saved = [aggregate for case, index, _ in children for aggregate in (case, index)]
            try:
                positions = self.app.append(bundle, *saved, idempotency_key=idempotency_key)
            except DuplicateCommand as e:
                return self._bundle_replay(e.duplicate)
            except VersionConflict:
                continue  # a random case number was taken: draw the numbers again
            return {
                "bundle_id": bundle.id,
                "position": positions[-1],
                "duplicate": False,
                "children": {
                    case.item_code: {
                        "case_id": case.id,
                        "case_no": case.case_no,
                        "query_code": query_code,
                    }
                    for case, _, query_code in children
                },
            }
        raise ConcurrencyConflict("could not allocate unique case numbers")

    def _bundle_spec(self, bundle_code: str) -> dict[str, Any]:
        spec: dict[str, Any] | None = getattr(self, "_bundles", {}).get(bundle_code)
        if spec is None:
            raise NotFound(f"no bundle {bundle_code}")
        return spec

    def _new_bundle(
        self, actor: Actor, bundle_code: str, party: Party, channel: str, materials: list[str]
    ) -> tuple[Bundle, list[tuple[Case, CaseNumber, str]]]:
        """A bundle and a new case per item, with each case's query code (not saved)."""
        spec = self._bundle_spec(bundle_code)
        for code in spec["items"]:
            self.item(code)
        bundle_id = self.draws.uuid()
        children = [
            self._new_case(
                actor,
                code,
                party,
                None,
                bundle_id,
                {"channel": channel, "materials": list(materials)},
            )
            for code in spec["items"]
        ]
        bundle = Bundle.open(
            bundle_id=bundle_id,
            code=bundle_code,
            name=spec["name"],
            applicant=party,
            children={case.item_code: case.id for case, _, _ in children},
            promised_days=int(spec.get("promised_days", 0)),
            actor=actor,
            at=self.clock(),
        )
        return bundle, children

    def extend_bundle(
        self,
        actor: Actor,
        bundle_id: UUID,
        *,
        reason: str,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> CommandResult:
        """Extend a bundle's joint clock by 15 working days, once (行政许可法 Art. 42 ¶2).

        The result names the bundle (``case_id`` is the bundle's id)."""
        check_permission("bundle-extend", actor)

        def decide(bundle: Bundle) -> None:
            bundle.extend(reason=reason, actor=actor, at=self.clock())

        return self._command(Bundle, bundle_id, decide, expected_version, idempotency_key)

    def _bundle_replay(self, dup: Duplicate) -> dict[str, Any]:
        """The first intake's answer, from the aggregate its idempotency key names (the
        bundle, a child case or a child's case-number index: all saved together)."""
        bundle_id: UUID | None
        try:
            bundle_id = self.app.get(Bundle, dup.originator_id).id
        except NotFound:
            try:
                case = self.app.get(Case, dup.originator_id, version=1)
            except NotFound:
                index = self.app.get(CaseNumber, dup.originator_id)
                assert index.case_id is not None
                case = self.app.get(Case, index.case_id, version=1)
            bundle_id = case.bundle_id
        if bundle_id is None:
            raise ConcurrencyConflict("the idempotency key was used for another kind of command")
        bundle = self.app.get(Bundle, bundle_id)
        children = {
            code: {
                "case_id": child,
                "case_no": self.app.get(Case, child, version=1).case_no,
                "query_code": None,
            }
            for code, child in bundle.children.items()
        }
        return {
            "bundle_id": bundle.id,
            "position": dup.position,
            "duplicate": True,
            "children": children,
        }

    # -- commands on an existing case -------------------------------------------------------

    def execute(
        self,
        action: str,
        case_id: UUID,
        actor: Actor,
        payload: Mapping[str, Any] | None = None,
        *,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
        occurred_at: datetime | None = None,
    ) -> CommandResult:
        """Run one command; refused commands raise a domain error and append nothing."""
        handler = self._handlers.get(action)
        if handler is None:
            raise NotFound(f"no action {action!r}")
        check_permission(action, actor)
        kwargs = dict(payload or {})

        def decide(case: Case) -> None:
            extra: dict[str, Any] = {"actor": actor, "at": self.clock()}
            if action != "correct":
                extra["occurred_at"] = occurred_at
            try:
                handler(case, **kwargs, **extra)
            except TypeError as e:
                raise InvalidCommand(f"{action}: {e}") from None

        return self._command(Case, case_id, decide, expected_version, idempotency_key)

    def _command(
        self,
        cls: type[A],
        aggregate_id: UUID,
        decide: Callable[[A], None],
        expected_version: int | None,
        idempotency_key: str | None,
    ) -> CommandResult:
        """Load (from the cache first), check ``expected_version``, decide, append.

        An idempotency key used before returns the first outcome. A stale cache shows up
        as a version conflict: the aggregate is reloaded and decided once more (unless
        the caller named the version it expects). Refusals raise and append nothing.
        """
        if idempotency_key and (dup := self.app.log.find_key(idempotency_key)):
            return CommandResult(dup.originator_id, dup.version, dup.position, duplicate=True)
        noun = cls.__name__.lower()
        for attempt in (1, 2):
            aggregate = self.app.get(cls, aggregate_id, cached=attempt == 1)
            if expected_version is not None and aggregate.version != expected_version:
                if attempt == 1:
                    self.app.evict(aggregate_id)
                    continue
                raise ConcurrencyConflict(
                    f"{noun} {aggregate_id} is at version {aggregate.version}, "
                    f"not {expected_version}",
                    current_version=aggregate.version,
                )
            decide(aggregate)
            try:
                positions = self.app.append(aggregate, idempotency_key=idempotency_key)
            except DuplicateCommand as e:
                d = e.duplicate
                return CommandResult(d.originator_id, d.version, d.position, duplicate=True)
            except VersionConflict:
                self.app.evict(aggregate_id)
                if attempt == 2 or expected_version is not None:
                    raise ConcurrencyConflict(f"{noun} {aggregate_id} changed meanwhile") from None
                continue
            except IntegrityError as e:  # pragma: no cover - defensive
                raise ConcurrencyConflict(str(e)) from None
            return CommandResult(aggregate.id, aggregate.version, positions[-1])
        raise ConcurrencyConflict(f"{noun} {aggregate_id} changed meanwhile")  # pragma: no cover

    def _supplement_request(self, case: Case, *, missing: list[str], **k: Any) -> None:
        case.request_supplement(list(missing), **k)

    def _supplement(self, case: Case, *, materials: list[str], **k: Any) -> None:
        case.receive_supplement(list(materials), **k)

    def _accept(self, case: Case, *, notice_no: str | None = None, **k: Any) -> None:
        limits = self.item(case.item_code, fresh=True).limits()
        on = local_date(k.get("occurred_at") or k["at"])
        clocks = decision_clock(
            on,
            limits.statutory_days,
            limits.promised_days,
            [],
            0,
            self.calendar,
            joint=limits.joint,
        )
        case.accept(
            notice_no=notice_no or f"SL-{case.case_no}",
            limits=limits,
            promised_completion=clocks.promised.due,
            **k,
        )

    def _survey_result(self, case: Case, *, participants: list[Any], **k: Any) -> None:
        people = [
            p if isinstance(p, SurveyParticipant) else SurveyParticipant(**dict(p))
            for p in participants
        ]
        case.record_survey(participants=people, **k)

    def statutory_due(self, case: Case) -> date:
        """The case's statutory deadline as it stands (suspensions and extension included)."""
        if case.limits is None or case.accepted_on is None:
            raise InvalidCommand("the case is not accepted yet")
        clocks = decision_clock(
            case.accepted_on,
            case.limits.statutory_days,
            case.limits.promised_days,
            [Suspension(s, e, kind) for s, e, kind in case.suspensions],
            0,
            self.calendar,
            joint=case.limits.joint,
        )
        return clocks.statutory.due

    def _extend(self, case: Case, **k: Any) -> None:
        due = self.statutory_due(case) if case.limits else date.max
        case.extend(statutory_due=due, **k)

    def _seal(self, case: Case, **k: Any) -> None:
        case.seal(approval_seal_id=self.seal_id, **k)

    def _correct(self, case: Case, **k: Any) -> None:
        case.correct(**k)

    # -- reads -----------------------------------------------------------------------------

    def case(
        self, case_id: UUID, *, as_of: datetime | None = None, at_position: int | None = None
    ) -> Case:
        """A case now, or as it stood at a past moment or log position."""
        return self.app.get_as_of(Case, case_id, as_of=as_of, at_position=at_position)

    def find_case_no(self, case_no: str) -> UUID:
        """The case id for a human case number."""
        index = self.app.get(CaseNumber, case_number_id(case_no))
        assert index.case_id is not None
        return index.case_id

    def check_query_code(self, case_no: str, code: str) -> Case:
        """The applicant's own case, if the query code matches (constant-time compare)."""
        case = self.case(self.find_case_no(case_no))
        first = self.app.domain_events(case.id, upto_version=1)[0]
        if not secrets.compare_digest(first.query_code_hash, query_code_hash(case.id, code)):
            raise NotFound("no case with that number and query code")
        return case
