"""A schema change of each kind, read from old stored bytes by both sides (docs/events.md).

The old bytes are golden log v1 (tests/golden/v1), written before any of these changes.
Each change is declared in a trial registry (``upcasters.trial``), exactly as it would
be declared in ``upcasters.declare``: aggregates (the write side's mapper), every
projection (the read side's ``LogEvent``), the live stream (``GET /stream``'s hub, which
decodes through the service) and the export all see the new shape, and ``verify`` stays
INTACT because the stored bytes never change.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import orjson
import pytest
from casestore.projections.engine import events as read_events
from casestore.projections.runtime.logsource import LogSource

from casestore.domain import Case, upcasters
from casestore.domain.evolution import SchemaRegistry
from casestore.domain.values import Party
from casestore.store import transcoder
from casestore.store.application import CasestoreApp
from casestore.store.audit import export_lines, verify
from tests.golden import replay
from tests.golden.generate import view_rows


@pytest.fixture(scope="module")
def old_log(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('evolution')}/v1.db"
    replay.load("v1", url)
    return url


@pytest.fixture
def app(old_log: str) -> Iterator[CasestoreApp]:
    upcasters.registry()  # today's, built before a test patches a class version
    application = CasestoreApp(old_log)
    yield application
    application.close()


def read_side(url: str, key: str) -> list[dict[str, Any]]:
    """The stored state of every ``key`` event as the projections receive it."""
    read_events._TOPIC_PARTS.clear()
    source = LogSource(CasestoreApp(url))
    try:
        return [e.raw for e in source.read(0, 100_000) if e.key == key]
    finally:
        source.close()


def exported(app: CasestoreApp, kind: str) -> list[dict[str, Any]]:
    lines = (orjson.loads(line) for line in export_lines(app))
    return [line["data"] for line in lines if line["type"] == kind]


def first(app: CasestoreApp, cls: type[Any]) -> Any:
    return next(event for _, event in app.iter_events() if isinstance(event, cls))


def intact(app: CasestoreApp) -> None:
    report = verify(app, independent=True)
    assert report.ok, [f.line() for f in report.findings]
    assert report.events == sum(1 for _ in replay.read_log("v1"))


def streamed(url: str) -> list[Any]:
    """Every item ``GET /stream`` would send for the log (its hub's own reader)."""
    from casestore.api.stream import StreamHub

    from casestore.service import CaseService

    service = CaseService.open(url)
    try:
        items, _ = StreamHub(service, service.app)._read(0, 100_000)
    finally:
        service.close()
    cases = sum(1 for e in replay.read_log("v1") if ":Case." in e.topic)
    assert len(items) == cases and all(orjson.loads(i.data)["stage"] for i in items)
    return items


def all_projections_rebuild(url: str) -> dict[str, Any]:
    views = view_rows(url)
    assert views["case_status"]["tables"]["case_status"], "case_status rebuilt empty"
    return views


def test_a_renamed_field_with_a_new_class_version(
    app: CasestoreApp, old_log: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ReviewRecorded v2 calls ``comment`` ``remarks`` (the issue's own example)."""
    monkeypatch.setattr(Case.ReviewRecorded, "class_version", 2, raising=False)

    def v2(r: SchemaRegistry) -> None:
        r.rename_field("Case.ReviewRecorded", 1, "comment", "remarks")

    with upcasters.trial(v2):
        event = first(app, Case.ReviewRecorded)
        assert "remarks" in vars(event) and "comment" not in vars(event)
        assert app.reader.get(event.originator_id).version >= event.originator_version
        for state in read_side(old_log, "Case.ReviewRecorded"):
            assert "remarks" in state and "comment" not in state
        for data in exported(app, "ReviewRecorded"):
            assert "remarks" in data and "comment" not in data
        streamed(old_log)
        all_projections_rebuild(old_log)
        intact(app)
    # Without the trial the old shape is back: nothing was written.
    assert "comment" in vars(first(app, Case.ReviewRecorded))


def test_a_new_field_with_a_default_reads_the_default_from_old_events(
    app: CasestoreApp, old_log: str
) -> None:
    def added(r: SchemaRegistry) -> None:
        r.defaults_for("Case.Evaluated", {"channel_detail": ""})

    with upcasters.trial(added):
        assert vars(first(app, Case.Evaluated))["channel_detail"] == ""
        assert all(s["channel_detail"] == "" for s in read_side(old_log, "Case.Evaluated"))
        assert all(d["channel_detail"] == "" for d in exported(app, "Evaluated"))
        streamed(old_log)
        all_projections_rebuild(old_log)
        intact(app)


@dataclasses.dataclass(frozen=True)
class PartyV2(Party):
    """Party with a required nationality (the issue's example of a value object change)."""

    class_version: ClassVar[int] = 2
    nationality: str = dataclasses.field(default="", kw_only=True)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.nationality:
            raise TypeError("PartyV2 needs a nationality")


def test_a_value_object_is_evolved_before_it_is_constructed(
    app: CasestoreApp, old_log: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(transcoder._VALUE_CLASSES, "Party", PartyV2)
    with pytest.raises(Exception, match="nationality"):
        first(app, Case.Submitted)  # eventsourcing's order: construct first, upcast later
    # The stream reads the stored JSON through the registry, as the read side does, and
    # carries no applicant: a value object it never builds does not stop it.
    streamed(old_log)

    def v2(r: SchemaRegistry) -> None:
        r.value_step("Party", 1, lambda fields: fields.setdefault("nationality", "CN"))

    monkeypatch.setattr(Party, "class_version", 2, raising=False)
    with upcasters.trial(v2):
        submitted = first(app, Case.Submitted)
        assert isinstance(submitted.applicant, PartyV2)
        assert submitted.applicant.nationality == "CN"
        assert app.reader.get(submitted.originator_id).case_no == submitted.case_no
        for state in read_side(old_log, "Case.Submitted"):
            assert state["applicant"]["fields"]["nationality"] == "CN"
        assert all(d["applicant"]["nationality"] == "CN" for d in exported(app, "Submitted"))
        streamed(old_log)
        all_projections_rebuild(old_log)
        intact(app)


def test_a_renamed_event_class_reads_under_its_new_topic(tmp_path: Path) -> None:
    """Events stored under an old topic are read as today's class (a topic rename)."""
    url = f"sqlite:///{tmp_path}/renamed.db"
    events = list(replay.read_log("v1"))[:80]
    old = "casestore.domain.case:Case.Reviewed"
    from casestore.store.batch import TimedStoredEvent

    app = CasestoreApp(url)
    try:
        app.recorder.insert_events(
            [
                TimedStoredEvent(
                    e.aggregate_id,
                    e.version,
                    old if e.topic.endswith(":Case.ReviewRecorded") else e.topic,
                    e.state,
                    e.recorded_at_us,
                )
                for e in events
            ]
        )

        def renamed(r: SchemaRegistry) -> None:
            r.rename_event(old, "casestore.domain.case:Case.ReviewRecorded")

        with upcasters.trial(renamed):
            reviews = [ev for _, ev in app.iter_events() if isinstance(ev, Case.ReviewRecorded)]
            assert reviews, "the old topic was not read as ReviewRecorded"
            assert read_side(url, "Case.ReviewRecorded")
            assert verify(app, independent=True).ok
    finally:
        app.close()
        read_events._TOPIC_PARTS.clear()


def test_the_landed_v2_change_reads_v1_corrections_by_their_new_name(
    app: CasestoreApp, old_log: str
) -> None:
    """Corrected v2 (``field`` -> ``fact``, upcasters.declare) over v1's stored bytes."""
    stored = next(e for e in replay.read_log("v1") if e.topic.endswith(":Case.Corrected"))
    assert b'"field":"applicant.phone"' in stored.state  # the bytes say v1 ...
    event = first(app, Case.Corrected)
    assert event.fact == "applicant.phone" and "field" not in vars(event)  # ... both sides v2
    (state,) = read_side(old_log, "Case.Corrected")
    assert state["fact"] == "applicant.phone" and "field" not in state
    (data,) = exported(app, "Corrected")
    assert data["fact"] == "applicant.phone"
    intact(app)
