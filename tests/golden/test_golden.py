"""Every golden log (one per schema version, docs/events.md) replays under today's code.

From the stored bytes an earlier version wrote, on SQLite and on PostgreSQL: the hashes
are the ones that version exported and ``verify`` is INTACT; every aggregate loads to its
last version; every projection rebuilds to the rows that version recorded; the export
reads every event.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from casestore.domain.evolution import domain_event_classes, event_key, schema_fingerprint
from casestore.domain.upcasters import registry
from casestore.store.application import CasestoreApp
from casestore.store.audit import export_lines, verify
from tests.golden import replay
from tests.golden.generate import view_rows

VERSIONS = replay.versions()


def test_there_is_a_golden_log_of_the_first_schema() -> None:
    assert "v1" in VERSIONS


def test_every_event_class_has_stored_bytes_in_a_golden_log() -> None:
    """A change in the encoding or upcasting of any event class is caught by a replay: each
    class the registry reads (under its topic today) has stored bytes in some golden log.
    A new class gets them in the generator (``_rare_events``) and a new golden log."""
    schema = registry()
    stored = {
        event_key(schema.current_topic(event.topic))
        for version in VERSIONS
        for event in replay.read_log(version)
    }
    missing = sorted(set(domain_event_classes()) - stored)
    assert missing == [], f"no golden log holds stored bytes of {missing}"


SHAPES = Path(__file__).resolve().parents[2] / "docs" / "event-shapes.json"


def behind(held: dict[str, Any], now: dict[str, Any], version: str) -> list[str]:
    """What a schema (``now``: classes' versions and fields) has that the golden log
    ``version`` (its ``meta.json`` fingerprint, ``held``) does not: a schema change that
    still needs a new golden log (docs/events.md, checklist step 5)."""
    problems: list[str] = []
    for kind in ("events", "values"):
        old, new = held.get(kind, {}), now.get(kind, {})
        for name in sorted(new):
            if name not in old:
                problems.append(f"{name} is new since golden log {version}")
            elif new[name]["class_version"] > old[name]["class_version"]:
                problems.append(
                    f"{name} is at class_version {new[name]['class_version']}, golden log"
                    f" {version} holds {old[name]['class_version']}"
                )
            elif new[name]["fields"] != old[name]["fields"]:
                problems.append(f"{name} changed shape since golden log {version}")
        problems += [
            f"{name} is gone since golden log {version}" for name in sorted(old) if name not in new
        ]
    return problems


def test_the_newest_golden_log_holds_todays_schema() -> None:
    """A schema change (a class version raised, a field added, a class new) fails here until
    its golden log is added: the newest golden log's fingerprint is today's shapes, both as
    the code has them and as docs/event-shapes.json commits them."""
    newest = VERSIONS[-1]
    held = replay.meta(newest)["fingerprint"]
    committed = json.loads(SHAPES.read_text("utf-8"))
    for source, now in (("the code", schema_fingerprint()), (SHAPES.name, committed)):
        problems = behind(held, now, newest)
        assert problems == [], (
            f"{source}: add a golden log (python -m tests.golden.generate vN): "
            + "; ".join(problems)
        )


# Hand-written fingerprints: what each kind of schema change looks like to the check.
HELD = {
    "events": {"Case.Corrected": {"class_version": 1, "fields": {"field": ["str", False]}}},
    "values": {"Party": {"class_version": 1, "fields": {"name": ["str", False]}}},
}


@pytest.mark.parametrize(
    ("now", "says"),
    [
        (
            {
                **HELD,
                "events": {
                    "Case.Corrected": {"class_version": 2, "fields": {"fact": ["str", False]}}
                },
            },
            ["Case.Corrected is at class_version 2, golden log v9 holds 1"],
        ),
        (
            {
                **HELD,
                "values": {
                    "Party": {
                        "class_version": 1,
                        "fields": {"name": ["str", False], "nationality": ["str", True]},
                    }
                },
            },
            ["Party changed shape since golden log v9"],
        ),
        (
            {
                **HELD,
                "events": {
                    **HELD["events"],
                    "Staff.StaffEnrolled": {"class_version": 1, "fields": {}},
                },
            },
            ["Staff.StaffEnrolled is new since golden log v9"],
        ),
        ({**HELD, "events": {}}, ["Case.Corrected is gone since golden log v9"]),
        (HELD, []),
    ],
)
def test_a_schema_newer_than_the_golden_log_is_named(now: dict[str, Any], says: list[str]) -> None:
    assert behind(HELD, now, "v9") == says


def test_golden_log_v5_holds_an_import_batch_and_the_cases_it_brought() -> None:
    """The generator's legacy import (two cases of 2024, one entered eight days late):
    ``ImportBatch`` Started and Completed and the case events naming the batch, as stored."""
    events = list(replay.read_log("v5"))
    batches = [e for e in events if ":ImportBatch." in e.topic]
    assert [e.topic.rsplit(".", 1)[-1] for e in batches] == ["Started", "Completed"]
    started, completed = (json.loads(e.state) for e in batches)
    assert started["source"] == "legacy.jsonl" and started["lines"] == 4
    assert started["actor"]["fields"]["staff_id"] == "importer"
    assert (completed["events"], completed["cases"], completed["refused_lines"]) == (6, 2, 0)
    batch = {"__uuid__": batches[0].aggregate_id.hex}
    imported = [json.loads(e.state) for e in events if ":Case." in e.topic]
    imported = [state for state in imported if state.get("import_batch") == batch]
    assert len(imported) == 4  # Submitted and Accepted of each legacy case
    entered = sorted(s["claimed_recorded_at"]["__datetime__"] for s in imported)
    assert entered == [
        "2024-03-01T09:05:00+08:00",
        "2024-03-01T09:05:00+08:00",
        "2024-03-01T10:02:00+08:00",
        "2024-03-09T16:00:00+08:00",
    ]


#: Every golden log on both backends: the stored bytes an earlier version wrote (on either)
#: must read the same on SQLite and PostgreSQL.
BACKENDS = [
    pytest.param((version, backend), id=f"{version}-{backend}", marks=marks)
    for version in VERSIONS
    for backend, marks in (("sqlite", ()), ("postgres", (pytest.mark.pg,)))
]


@pytest.fixture(params=BACKENDS, scope="module")
def golden(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    version, backend = request.param
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp(version)}/golden.db"
        yield version, url, replay.load(version, url)
        return
    from tests.pgharness import create_database, drop_database

    admin = request.getfixturevalue("_pg_server").admin_url
    url = create_database(admin)
    try:
        yield version, url, replay.load(version, url)
    finally:
        drop_database(admin, url)


def test_the_replayed_log_has_the_exported_hashes_and_verifies_intact(golden: Any) -> None:
    version, url, events = golden
    app = CasestoreApp(url)
    try:
        rows = list(app.log.iter_log())
        assert [r.position for r in rows] == [e.position for e in events]
        assert [r.event_hash.hex() for r in rows] == [e.event_hash for e in events]
        assert [r.chain_hash.hex() for r in rows] == [e.chain_hash for e in events]
        report = verify(app, independent=True)
        assert report.ok, [f.line() for f in report.findings]
        assert report.events == len(events)
        head = replay.meta(version)["head_digest"]
        assert f"{report.last_position}:{report.last_chain_hash.hex()}" == head
    finally:
        app.close()


def test_every_aggregate_loads_to_its_last_version(golden: Any) -> None:
    _, url, events = golden
    last: dict[Any, int] = {}
    for e in events:
        last[e.aggregate_id] = max(last.get(e.aggregate_id, 0), e.version)
    app = CasestoreApp(url)
    try:
        for aggregate_id, version in last.items():
            assert app.reader.get(aggregate_id).version == version
    finally:
        app.close()


def test_the_export_reads_every_event(golden: Any) -> None:
    _, url, events = golden
    app = CasestoreApp(url)
    try:
        lines = list(export_lines(app))
    finally:
        app.close()
    assert len(lines) == len(events)


def test_every_projection_rebuilds_to_the_recorded_rows(golden: Any) -> None:
    version, url, _ = golden
    expected = replay.expected_views(version)
    rebuilt = view_rows(url)
    for name, view in rebuilt.items():
        if name not in expected:
            continue  # a projection younger than this log: it rebuilt without error
        recorded = expected[name]
        assert view["version"] == recorded["version"], (
            f"projection {name} changed (v{recorded['version']} -> v{view['version']}): "
            f"re-record the views of every golden log with "
            f"`python -m tests.golden.generate --views-only {version}` and review the diff"
        )
        for table, rows in recorded["tables"].items():
            assert view["tables"].get(table) == rows, f"{version}: {name}.{table} differs"
    assert Path(replay.HERE / version / "log.jsonl").exists()
