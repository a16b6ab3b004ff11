"""``casestore import FILE.jsonl``: load history from a legacy system, one event per line.

Line format (UTF-8 JSON Lines; blank lines and lines starting with ``#`` are skipped)::

    {"aggregate_id": "0b6f…-uuid or any legacy key",  # or "case_id"; a key that is not
                                                     #   a UUID is mapped to one (uuid5)
     "type": "Accepted",              # event name of SPEC §3.2, or Published/Revised
                                      #   (catalogue), Registered (case number), Opened
     "topic": "casestore.domain.case:Case.Accepted",   # optional, as `export` writes it
     "version": 4,                    # optional; when given, 1, 2, 3 … per aggregate
     "class_version": 1,              # optional: the event class's version ``data`` is
                                      #   written at; else the one ``stored_b64`` carries
                                      #   (an export's stored bytes; absent = 1); else today's
     "occurred_at": "2024-03-01T09:12:00+08:00",  # the claimed business time …
     "recorded_at": "2024-03-02T10:00:00+08:00",  # … else the legacy entry time
     "actor": {"staff_id": "c-07", "role": "clerk", "name": "…", "window": "W01"},
     "data": {"notice_no": "SL-1", "limits": {…}, "promised_completion": "2024-03-29"}}

``actor`` and ``occurred_at`` may also sit inside ``data``, which is exactly what
``casestore export`` writes, so an export round-trips into a fresh store: the same
aggregates, versions and event data. An export of an older casestore imports too: its
lines go through the one upcasting registry the stored events are read with (a renamed
topic, the value objects' and the class version's upcasters, from the versions
``stored_b64`` carries), and a class version that registry cannot reach refuses the
line's case. The claimed time (``occurred_at``, else the
legacy ``recorded_at``) becomes the event's ``occurred_at``; its ``recorded_at`` is the
import time (the server's clock). Times without an offset are read as the bureau's
local time (UTC+8). Fields are checked against the event's declared types (dates,
UUIDs, parties, survey participants, item limits …); text and list fields left out
default to empty.

History is evidence: imported events are recorded as they happened even where they
broke a rule (a survey without the applicant, an extension after expiry …), through
``Case.record_imported``. What is refused is malformed input: bad JSON, an unknown
event, a missing or mistyped field, a value out of the bounds a command has too (a
service's units, fen and note), a version gap, a claimed time in the future, an
aggregate already in the store. Each such line is reported with its number, and a
case with any bad line is not imported at all: a case (with its case-number
registration, created when the file has none) is validated whole and then appended
in one transaction with others. (A line that is not JSON names no case; when versions
are given, the gap it leaves refuses its case too.)

The importer appends through the service (``CaseService.record``; recorded_at from its
clock). Over 400 lines: parsing, type coercion and the all-or-nothing unit of one file
format are read together.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import hashlib
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

import orjson
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import get_topic
from rich.progress import Progress

from casestore.bootstrap import write_side
from casestore.domain import (
    Bundle,
    BundleDefinition,
    Case,
    CasestoreError,
    InvalidCommand,
    Item,
    bundle_definition_id,
    item_id,
)
from casestore.domain import values as domain_values
from casestore.domain.access import Access
from casestore.domain.award import Award
from casestore.domain.catalogue import check_bundle_spec, check_spec
from casestore.domain.enquiry import Enquiry
from casestore.domain.imports import ImportBatch
from casestore.domain.index import CaseNumber, case_number_id
from casestore.domain.staff import Staff, staff_aggregate_id
from casestore.domain.upcasters import registry
from casestore.domain.values import BUREAU_TZ, VALUE_TYPES, Actor
from casestore.domain.window import Window, window_id
from casestore.service import CaseService
from casestore.settings import Settings

#: Aggregates a file may hold. Staff and their grants, and the access trail, come along
#: with a bureau's exported history (SPEC §10): authority in the imported store is what
#: the log says it was. The bureau's practice too: windows, enquiries, awards (those
#: lines name their ``topic``, as ``export`` writes it).
AGGREGATES: tuple[type[Aggregate], ...] = (
    Case,
    CaseNumber,
    Item,
    Bundle,
    BundleDefinition,
    Staff,
    Access,
    Window,
    Enquiry,
    Award,
)
CREATED = {
    "Submitted": Case,
    "Registered": CaseNumber,
    "Published": Item,
    "Opened": Bundle,
    "StaffEnrolled": Staff,
    "AccessRecorded": Access,
}
#: Every creating event's name (a window's ``Registered``, an enquiry's ``Received`` and
#: an award's ``Granted`` are read by their topic).
CREATING = frozenset({*CREATED, "Received", "Granted"})
_DERIVED = {"originator_topic", "actor", "occurred_at", "claimed_recorded_at", "import_batch"}
BATCH_EVENTS = 2000


class LineError(ValueError):
    """One input line is not a valid event."""


@dataclass
class _Line:
    number: int
    aggregate_id: UUID
    cls: type[Aggregate] | None
    name: str
    version: int | None
    claimed: datetime
    actor: Actor
    data: dict[str, Any]
    #: The legacy system's own entry time (``claimed_recorded_at``, else its ``recorded_at``).
    claimed_recorded: datetime | None = None
    batch: UUID | None = None
    #: The event's class version the line was written at (None: today's shape).
    class_version: int | None = None
    #: Why the line's class version cannot be read: refuses the case the line names.
    problem: str | None = None
    #: The event's stored JSON (``stored_b64``), for the versions of its value objects.
    stored: dict[str, Any] | None = None


@dataclass
class _Unit:
    """What is appended or refused together: one aggregate (a case with its number)."""

    first_line: int
    lines: list[_Line] = field(default_factory=list)
    extra: list[_Line] = field(default_factory=list)  # registrations of this case's number
    errors: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class ImportReport:
    """The outcome: what was appended, and every refused line with its number."""

    lines: int = 0
    events: int = 0
    aggregates: int = 0
    cases: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)
    batch_id: UUID | None = None

    @property
    def ok(self) -> bool:
        return not self.errors

    def error_lines(self) -> list[str]:
        """``line N: why`` for every bad line, then each case left out because of one."""
        bad = [f"line {n}: {why}" for n, why in sorted(self.errors)]
        return bad + [f"line {n}: {why}" for n, why in sorted(self.rejected)]

    def summary(self) -> str:
        status = "imported" if self.ok else "imported with errors"
        return (
            f"{status}: {self.events} events of {self.aggregates} aggregates "
            f"({self.cases} cases) from {self.lines} lines; {len(self.errors)} bad lines, "
            f"{len(self.rejected)} aggregates refused"
        )


IMPORTER = Actor("importer", "system", "legacy import")


def import_jsonl(
    db_url: Settings | str, path: Path, *, progress: bool, by: Actor = IMPORTER
) -> ImportReport:
    """Validate and append the events of ``path`` as one marked batch (``ImportBatch``:
    who imported, from which file, its SHA-256); see the module docstring."""
    if not path.is_file():
        raise InvalidCommand(f"no such file: {path}")
    digest, lines = hashlib.sha256(), 0
    with path.open("rb") as fh:
        for chunk in fh:
            digest.update(chunk)
            lines += 1
    service = write_side(db_url).service
    try:
        batch = ImportBatch.start(
            batch_id=uuid4(),
            actor=by,
            source=path.name,
            sha256=digest.hexdigest(),
            lines=lines,
            at=service.clock(),
        )
        service.record(batch.collect_events())
        report = _import(service, path, progress, batch.id)
        report.batch_id = batch.id
        batch.complete(
            actor=by,
            events=report.events,
            cases=report.cases,
            refused_lines=len(report.errors),
            at=service.clock(),
        )
        service.record(batch.collect_events())
        return report
    finally:
        service.close()


def _import(service: CaseService, path: Path, progress: bool, batch_id: UUID) -> ImportReport:
    report = ImportReport()
    units: dict[UUID, _Unit] = {}
    with Progress(disable=not progress, transient=True) as bar:
        reading = bar.add_task("reading", total=path.stat().st_size)
        for number, raw in _numbered(path):
            report.lines += 1
            bar.update(reading, advance=len(raw))
            try:
                line = parse_line(number, raw)
            except LineError as e:
                report.errors.append((number, str(e)))
                continue
            if line is not None:
                line.batch = batch_id
                units.setdefault(line.aggregate_id, _Unit(number)).lines.append(line)
        _attach_registrations(units)
        saving = bar.add_task("importing", total=len(units))
        batch: list[tuple[_Unit, list[Any]]] = []
        for unit in sorted(units.values(), key=lambda u: u.first_line):
            built = _build(service, unit)
            if built is None:
                report.errors += unit.errors
                report.rejected.append(_refusal(unit))
            else:
                batch.append((unit, [e for a in built for e in a.collect_events()]))
            if sum(len(events) for _, events in batch) >= BATCH_EVENTS:
                _save(service, batch, report)
                bar.update(saving, advance=len(batch))
                batch = []
        _save(service, batch, report)
    return report


def _numbered(path: Path) -> Iterator[tuple[int, bytes]]:
    with path.open("rb") as fh:
        yield from enumerate(fh, start=1)


def parse_line(number: int, raw: bytes) -> _Line | None:
    """One line as an event to import; None for a blank or comment line, or an exported
    import batch's own marker (a re-import is a batch of its own)."""
    text = raw.strip()
    if not text or text.startswith(b"#"):
        return None
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError as e:
        raise LineError(f"not JSON ({e})") from None
    if not isinstance(obj, dict):
        raise LineError("a line must be a JSON object")
    if str(obj.get("topic", "")).startswith("casestore.domain.imports:"):
        return None
    data = obj.get("data", {})
    if not isinstance(data, dict):
        raise LineError("data must be an object")
    key = obj.get("aggregate_id", obj.get("case_id"))
    if not isinstance(key, str) or not key.strip():
        raise LineError("aggregate_id (or case_id) is required")
    name = obj.get("type")
    if not isinstance(name, str):
        raise LineError("type (the event name) is required")
    topic = obj.get("topic")
    if isinstance(topic, str):  # a class renamed since the export: read under today's topic
        topic = registry().current_topic(topic)
        name = topic.rsplit(".", 1)[-1]
    cls = _class_of(topic, name)
    version = obj.get("version")
    if version is not None and (not isinstance(version, int) or version < 1):
        raise LineError("version must be a positive integer")
    when = data.get("occurred_at") or obj.get("occurred_at") or obj.get("recorded_at")
    if when is None:
        raise LineError("no time: give occurred_at (or recorded_at)")
    try:
        stored = _stored_state(obj)
        class_version, problem = _class_version(obj, stored), None
    except LineError as e:
        stored, class_version, problem = None, None, str(e)
    entered = (
        data.get("claimed_recorded_at") or obj.get("claimed_recorded_at") or obj.get("recorded_at")
    )
    return _Line(
        number,
        _aggregate_id(key, name),
        cls,
        name,
        version,
        _coerce(when, datetime, "occurred_at"),
        _coerce(data.get("actor", obj.get("actor")), Actor, "actor"),
        {k: v for k, v in data.items() if k not in _DERIVED},
        None if entered is None else _coerce(entered, datetime, "recorded_at"),
        class_version=class_version,
        problem=problem,
        stored=stored,
    )


def _stored_state(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The event's stored JSON from ``stored_b64`` (as ``export`` writes it), or None when
    the line has none or it is whole-event ciphertext of an old encrypted store."""
    stored = obj.get("stored_b64")
    if stored is None:
        return None
    if not isinstance(stored, str):
        raise LineError("stored_b64 must be base64 text")
    try:
        raw = base64.b64decode(stored, validate=True)
    except (binascii.Error, ValueError):
        raise LineError("stored_b64 is not base64") from None
    if raw[:1] != b"{":
        return None
    try:
        state = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise LineError("stored_b64 is not an event's stored JSON") from None
    if not isinstance(state, dict):
        raise LineError("stored_b64 is not an event's stored JSON")
    return state


def _class_version(obj: dict[str, Any], stored: dict[str, Any] | None) -> int | None:
    """The class version a line's ``data`` was written at: its ``class_version``, else the
    one its stored bytes carry (absent = 1, as the store reads them), else None (a legacy
    line written in today's shape)."""
    given = obj.get("class_version")
    if given is None and stored is not None:
        given = stored.get("class_version", 1)
    if given is not None and (not isinstance(given, int) or isinstance(given, bool)):
        raise LineError("class_version must be an integer")
    return given


def _upcast(key: str, version: int, data: dict[str, Any]) -> dict[str, Any]:
    """A line's data written at class ``version`` of ``key`` in today's shape, through the
    one registry the stored events are read with (docs/events.md); an unreadable version
    refuses the line."""
    schema = registry()
    why = schema.readable(key, version)
    if why is not None:
        raise LineError(why)
    if version == schema.current_version(key):
        return data
    return schema.step_up(key, dict(data), version)


def _upcast_values(data: dict[str, Any], stored: dict[str, Any]) -> dict[str, Any]:
    """A line's value objects (plain in ``data``) stepped up from the versions the line's
    stored bytes give them, through the registry's value upcasters."""
    schema = registry()
    if not schema.value_steps:
        return data
    return schema.step_up_plain_values(orjson.loads(orjson.dumps(data)), stored)


def _aggregate_id(key: str, name: str) -> UUID:
    """A UUID as given; a legacy key mapped to one (an item's key is its code)."""
    try:
        return UUID(key)
    except ValueError:
        if name in ("Published", "Revised"):
            return item_id(key)
        return uuid5(NAMESPACE_URL, f"casestore:import:{key}")


def _class_of(topic: object, name: str) -> type[Aggregate] | None:
    if topic is None:
        return CREATED.get(name)
    for cls in AGGREGATES:
        event = getattr(cls, name, None)
        if isinstance(event, type) and get_topic(event) == topic:
            return cls
    raise LineError(f"unknown topic {topic!r}")


def _attach_registrations(units: dict[UUID, _Unit]) -> None:
    """A case-number registration is appended (or refused) with the case it names."""
    for oid, unit in list(units.items()):
        first = unit.lines[0]
        case_id = first.data.get("case_id") if first.name == "Registered" else None
        try:
            target = units.get(UUID(str(case_id))) if case_id else None
        except ValueError:
            target = None
        if target is not None and target is not unit:
            target.extra += unit.lines
            del units[oid]


# -- building aggregates ------------------------------------------------------------------


def _build(service: CaseService, unit: _Unit) -> list[Aggregate] | None:
    """The unit's aggregates with their pending events, or None (errors in ``unit``)."""
    built: list[Aggregate] = []
    for lines in (unit.lines, unit.extra):
        if not lines:
            continue
        aggregate = _replay(service, unit, sorted(lines, key=lambda ln: ln.version or 0))
        if aggregate is not None:
            built.append(aggregate)
    if unit.errors:
        return None
    case = built[0] if built and isinstance(built[0], Case) else None
    if case is not None and not unit.extra:
        at = service.clock()
        index = CaseNumber.register(case.case_no, case.id, unit.lines[0].actor, at)
        if _exists(service, index.id):
            unit.errors.append((unit.first_line, f"case number {case.case_no} is already used"))
            return None
        built.append(index)
    return built


def _replay(service: CaseService, unit: _Unit, lines: list[_Line]) -> Aggregate | None:
    cls = lines[0].cls or CREATED.get(lines[0].name)
    if cls is None or lines[0].name not in CREATING:
        unit.errors.append(
            (
                lines[0].number,
                f"the first event of an aggregate must be one of "
                f"{sorted(CREATING)}, not {lines[0].name!r}",
            )
        )
        return None
    if _exists(service, lines[0].aggregate_id):
        unit.errors.append((lines[0].number, f"{lines[0].aggregate_id} is already in the store"))
        return None
    aggregate: Aggregate | None = None
    for n, line in enumerate(lines, start=1):
        try:
            if line.version is not None and line.version != n:
                raise LineError(f"version {line.version} where version {n} was expected")
            if line.cls not in (None, cls) or (n > 1 and line.name in CREATING):
                raise LineError(f"{line.name} does not belong to this {cls.__name__}")
            aggregate = _apply(cls, aggregate, line, service.clock())
        except (LineError, CasestoreError) as e:
            unit.errors.append((line.number, str(e)))
            return None
    return aggregate


def _apply(
    cls: type[Aggregate], aggregate: Aggregate | None, line: _Line, at: datetime
) -> Aggregate:
    if line.problem is not None:
        raise LineError(line.problem)
    for claimed in (line.claimed, line.claimed_recorded):
        if claimed is None:
            continue
        if claimed > at:
            raise LineError(f"the claimed time {claimed.isoformat()} is in the future")
        if claimed < domain_values.EARLIEST_BUSINESS_TIME:
            raise LineError(
                f"the claimed time {claimed.isoformat()} is before the earliest business "
                "time accepted (早于系统受理的最早业务时间)"
            )
    event_class = getattr(cls, line.name, None)
    if not isinstance(event_class, type) or not issubclass(event_class, Aggregate.Event):
        raise LineError(f"{cls.__name__} has no event {line.name!r}")
    data = line.data
    if line.stored is not None:
        data = _upcast_values(data, line.stored)
    if line.class_version is not None:
        data = _upcast(event_class.__qualname__, line.class_version, data)
    fields = _fields(event_class, data, fill=cls is not Case or aggregate is not None)
    common: dict[str, Any] = {"actor": line.actor, "occurred_at": line.claimed}
    if cls in (Staff, Access):
        common = {"actor": line.actor}  # the bureau's own acts: no business time to claim
    both: dict[str, Any] = {
        "claimed_recorded_at": line.claimed_recorded,
        "import_batch": line.batch,
    }
    if aggregate is None:
        if cls is Case:
            fields.setdefault("query_code_hash", "")  # a legacy case has no query code
            try:
                return Case.submit(case_id=line.aggregate_id, at=at, **common, **both, **fields)
            except TypeError as e:
                raise LineError(f"Submitted: {e}") from None
        if cls is CaseNumber and line.aggregate_id != case_number_id(fields["case_no"]):
            raise LineError("a case-number registration's id must derive from its number")
        if cls is Item:
            if line.aggregate_id != item_id(fields["code"]):
                raise LineError("an item's id must derive from its code (or give the code)")
            fields["spec"] = check_spec({"legal_basis": "", **fields["spec"]})
        if cls is Staff and line.aggregate_id != staff_aggregate_id(fields["staff_id"]):
            raise LineError("a member of staff's id must derive from their staff id")
        if cls is Window and line.aggregate_id != window_id(fields["code"]):
            raise LineError("a window's id must derive from its code")
        if cls is BundleDefinition:
            if line.aggregate_id != bundle_definition_id(fields["code"]):
                raise LineError("a bundle definition's id must derive from its code")
            fields["spec"] = check_bundle_spec(dict(fields["spec"]))
        created: Any = event_class
        return cls._create(created, id=line.aggregate_id, timestamp=at, **common, **fields)
    if isinstance(aggregate, Case):
        aggregate.record_imported(line.name, at=at, fields=fields, **common, **both)
    else:
        aggregate.trigger_event(event_class, timestamp=at, **common, **fields)
    return aggregate


@functools.cache
def _hints(cls: type) -> tuple[dict[str, Any], tuple[str, ...]]:
    """A class's resolved field types and the fields a line supplies (cached: slow)."""
    hints = typing.get_type_hints(cls)
    skip = {"originator_id", "originator_version", "timestamp", *_DERIVED}
    return hints, tuple(f.name for f in dataclasses.fields(cls) if f.name not in skip)


def _fields(event_class: type, data: dict[str, Any], fill: bool = True) -> dict[str, Any]:
    """The line's fields as the event's declared types; left-out text, lists and optional
    fields default to empty (``fill``), or are left to the command's own defaults."""
    hints, wanted = _hints(event_class)
    unknown = sorted(set(data) - set(wanted))
    if unknown:
        raise LineError(f"unknown fields {unknown} for {event_class.__name__}")
    result = {}
    for name in wanted:
        if name in data:
            result[name] = _coerce(data[name], hints[name], name)
        elif not fill:
            continue
        elif (declared := _declared_default(event_class, name)) is not _MISSING:
            result[name] = declared  # a field added later with its default (docs/events.md)
        elif (default := _default(hints[name])) is not _MISSING:
            result[name] = default
        else:
            raise LineError(f"{event_class.__name__} needs field {name!r}")
    return result


_MISSING = object()


def _declared_default(cls: type, name: str) -> Any:
    """The default the event class declares for a field (``cost_fen: int = 0``), if any."""
    for f in dataclasses.fields(cls):
        if f.name == name and f.default is not dataclasses.MISSING:
            return f.default
    return _MISSING


def _default(hint: Any) -> Any:
    origin = typing.get_origin(hint)
    if hint is str:
        return ""
    if hint is bool:
        return False
    if origin is list:
        return []
    if origin in (typing.Union, types.UnionType) and type(None) in typing.get_args(hint):
        return None
    return _MISSING


def _coerce(value: Any, hint: Any, name: str) -> Any:
    """``value`` (parsed JSON) as the declared type ``hint``, or :class:`LineError`."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        return _coerce(value, next(a for a in args if a is not type(None)), name)
    try:
        if hint is Any:
            return value
        if origin is list or origin is tuple:
            _expect(isinstance(value, list), name, "a list")
            items = [_coerce(v, args[0], f"{name}[{i}]") for i, v in enumerate(value)]
            return items if origin is list else tuple(items)
        if origin is dict:
            _expect(isinstance(value, dict), name, "an object")
            return {str(k): _coerce(v, args[1], f"{name}.{k}") for k, v in value.items()}
        if hint is datetime:
            _expect(isinstance(value, str), name, "an ISO time")
            moment = datetime.fromisoformat(value)
            return moment if moment.tzinfo else moment.replace(tzinfo=BUREAU_TZ)
        if hint is date:
            _expect(isinstance(value, str), name, "an ISO date")
            return date.fromisoformat(value)
        if hint is UUID:
            _expect(isinstance(value, str), name, "a UUID")
            return UUID(value)
        if hint in VALUE_TYPES:
            _expect(isinstance(value, dict), name, f"a {hint.__name__} object")
            inner = _hints(hint)[0]
            unknown = set(value) - set(inner)
            _expect(not unknown, name, f"no unknown fields {sorted(unknown)}")
            return hint(**{k: _coerce(v, inner[k], f"{name}.{k}") for k, v in value.items()})
        if hint is int:
            _expect(isinstance(value, int) and not isinstance(value, bool), name, "an integer")
        elif hint is bool or hint is str:
            _expect(isinstance(value, hint), name, hint.__name__)
        return value
    except (ValueError, TypeError, InvalidCommand) as e:
        if isinstance(e, LineError):
            raise
        raise LineError(f"{name}: {getattr(e, 'message', e)}") from None


def _expect(condition: bool, name: str, what: str) -> None:
    if not condition:
        raise LineError(f"{name} must be {what}")


# -- appending ----------------------------------------------------------------------------


def _exists(service: CaseService, aggregate_id: UUID) -> bool:
    return service.exists(aggregate_id)


def _save(service: CaseService, batch: list[tuple[_Unit, list[Any]]], report: ImportReport) -> None:
    """Append validated units together; if that fails, one by one to isolate the culprit."""
    if not batch:
        return
    try:
        service.record([e for _, events in batch for e in events])
    except IntegrityError:
        if len(batch) == 1:
            unit = batch[0][0]
            report.errors.append((unit.first_line, "conflicts with events already in the store"))
            report.rejected.append(_refusal(unit))
            return
        for one in batch:
            _save(service, [one], report)
        return
    for _, events in batch:
        report.events += len(events)
        report.aggregates += sum(e.originator_version == 1 for e in events)
        report.cases += sum(isinstance(e, Case.Submitted) for e in events)


def _refusal(unit: _Unit) -> tuple[int, str]:
    bad = sorted({n for n, _ in unit.errors})
    count = len(unit.lines) + len(unit.extra)
    return (
        unit.first_line,
        f"{unit.lines[0].aggregate_id}: none of its {count} events imported "
        f"(bad line{'s' if len(bad) > 1 else ''} {', '.join(map(str, bad))})",
    )
