"""``casestore import``: an export round-trips into a fresh store; legacy lines load; bad
lines are reported by number and nothing of a rejected case is appended."""

from __future__ import annotations

import os
import subprocess
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest

from casestore.domain import Case
from casestore.importer import import_jsonl
from casestore.service import CaseService
from casestore.simulate import run_simulation
from casestore.store.application import CasestoreApp
from casestore.store.audit import export_lines, verify
from tests.integration.test_backup_restore import CASESTORE


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    folder = tmp_path_factory.mktemp("export")
    url = f"sqlite:///{folder}/source.db"
    run_simulation(url, cases=150, seed=2, start=date(2025, 3, 1), days=60, progress=False)
    app = CasestoreApp(url)
    path = folder / "history.jsonl"
    path.write_bytes(b"".join(export_lines(app)))
    app.close()
    return path, [orjson.loads(line) for line in path.read_bytes().splitlines()]


def events_of(url: str) -> dict[tuple[str, int], dict[str, Any]]:
    app = CasestoreApp(url)
    lines = [orjson.loads(line) for line in export_lines(app)]
    app.close()
    return {
        (line["aggregate_id"], line["version"]): line
        for line in lines
        if line["type"] not in ("Started", "Completed")  # the import batch's own marker
    }


def test_an_export_round_trips_into_a_fresh_store(
    exported: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    path, original = exported
    url = f"sqlite:///{tmp_path}/fresh.db"
    report = import_jsonl(url, path, progress=False)
    assert report.ok, report.error_lines()
    assert report.events == len(original) and report.error_lines() == []
    imported = events_of(url)
    assert set(imported) == {(o["aggregate_id"], o["version"]) for o in original}
    for line in original:
        again = imported[(line["aggregate_id"], line["version"])]
        assert again["topic"] == line["topic"]
        data, before = dict(again["data"]), dict(line["data"])
        if "occurred_at" in before:  # staff and access events carry no business time
            claimed = data.pop("occurred_at")
            assert claimed == (before.pop("occurred_at") or line["recorded_at"])
        if "import_batch" in data:  # case events: the batch, and the source's entry time
            assert data.pop("import_batch") == str(report.batch_id)
            assert data.pop("claimed_recorded_at") == line["recorded_at"]
            assert before.pop("import_batch") is None
            assert before.pop("claimed_recorded_at") is None
        assert data == before  # the same event data; the claimed time became occurred_at
        assert again["recorded_at"] > line["recorded_at"]  # recorded at import time
    app = CasestoreApp(url)
    assert verify(app).ok
    service = CaseService(app)
    some = next(o for o in original if o["type"] == "Submitted")
    case = service.case(service.find_case_no(some["data"]["case_no"]))
    assert isinstance(case, Case) and str(case.id) == some["aggregate_id"]
    app.close()


def test_importing_the_same_file_twice_appends_nothing_more(
    exported: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    path, original = exported
    url = f"sqlite:///{tmp_path}/twice.db"
    assert import_jsonl(url, path, progress=False).ok
    again = import_jsonl(url, path, progress=False)
    assert not again.ok and again.events == 0
    assert any("already in the store" in line for line in again.error_lines())
    assert len(events_of(url)) == len(original)


def write(path: Path, lines: list[Any]) -> Path:
    path.write_bytes(
        b"".join((x if isinstance(x, bytes) else orjson.dumps(x)) + b"\n" for x in lines)
    )
    return path


def test_bad_lines_are_named_and_their_cases_left_out(
    exported: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    _, original = exported
    lines: list[Any] = [dict(o) for o in original]
    cases = [o["aggregate_id"] for o in original if o["type"] == "Submitted"]
    bad_case, future_case, gap_case = cases[3], cases[7], cases[11]
    marks: dict[str, int] = {}
    for n, line in enumerate(lines):
        if line["aggregate_id"] == bad_case and line["version"] == 2:
            line["data"] = {**line["data"], "bogus": 1}
            marks["bad"] = n + 1
        if line["aggregate_id"] == future_case and line["version"] == 2:
            line["data"] = {**line["data"], "occurred_at": "2999-01-01T00:00:00+08:00"}
            marks["future"] = n + 1
    gap = next(
        n for n, o in enumerate(lines) if o["aggregate_id"] == gap_case and o["version"] == 2
    )
    del lines[gap]
    lines.insert(5, b"{not json")
    marks = {k: v + (v > 5) for k, v in marks.items()}  # the inserted line shifts numbers
    path = write(tmp_path / "bad.jsonl", lines)
    url = f"sqlite:///{tmp_path}/bad.db"
    report = import_jsonl(url, path, progress=False)
    assert not report.ok
    errors = report.error_lines()
    assert any(e.startswith("line 6: not JSON") for e in errors), errors
    assert any(e.startswith(f"line {marks['bad']}: unknown fields ['bogus']") for e in errors)
    assert any(e.startswith(f"line {marks['future']}: the claimed time") for e in errors)
    assert any("version 3 where version 2 was expected" in e for e in errors), errors
    imported = {key[0] for key in events_of(url)}
    for case_id in (bad_case, future_case, gap_case):
        assert case_id not in imported  # nothing of a rejected case...
    rejected = (bad_case, future_case, gap_case)
    others = {o["aggregate_id"] for o in original} - set(rejected)
    numbers = {
        o["data"]["case_no"]
        for o in original
        if o["type"] == "Submitted" and o["aggregate_id"] in rejected
    }
    registered = {
        o["aggregate_id"]
        for o in original
        if o["type"] == "Registered" and o["data"].get("case_no") in numbers  # not a window's
    }
    assert imported == others - registered  # ...nor its number; every other aggregate is in
    counts = Counter(key[0] for key in events_of(url))
    assert sum(counts.values()) == report.events


def test_legacy_lines_with_local_times_and_own_keys(tmp_path: Path) -> None:
    clerk = {"staff_id": "old-07", "role": "clerk", "name": "老系统"}
    applicant = {"name": "张三", "id_type": "resident_id", "id_number": "610928199001011234"}
    limits = {"statutory_days": 20, "promised_days": 10}
    path = write(
        tmp_path / "legacy.jsonl",
        [
            b"# exported from the 2019 system",
            {
                "case_id": "LEGACY-0001",
                "type": "Submitted",
                "occurred_at": "2019-05-06T09:30:00",
                "actor": clerk,
                "data": {
                    "case_no": "XY20190506OLD001",
                    "item_code": "XK-005",
                    "applicant": applicant,
                },
            },
            {
                "case_id": "LEGACY-0001",
                "type": "Accepted",
                "occurred_at": "2019-05-06 10:00:00",
                "actor": clerk,
                "data": {
                    "notice_no": "SL-2019-1",
                    "limits": limits,
                    "promised_completion": "2019-05-20",
                },
            },
            {
                "case_id": "LEGACY-0001",
                "type": "SurveyConducted",
                "occurred_at": "2019-05-08T15:00:00+08:00",
                "actor": {"staff_id": "old-09", "role": "surveyor"},
                "data": {
                    "participants": [{"name": "李四", "party": "approval_bureau", "staff_id": "9"}],
                    "conclusion": "pass",
                },
            },
            b"",
        ],
    )
    url = f"sqlite:///{tmp_path}/legacy.db"
    report = import_jsonl(url, path, progress=False)
    assert report.ok, report.error_lines()
    assert (report.cases, report.events) == (1, 4)  # 3 events + the case-number registration
    app = CasestoreApp(url)
    service = CaseService(app)
    case = service.case(service.find_case_no("XY20190506OLD001"))
    assert case.stage == "accepted" and case.accepted_on == date(2019, 5, 6)
    assert case.surveys_conducted == 1  # a one-party survey is evidence, not refused
    events = app.domain_events(case.id)
    assert events[0].occurred_at.isoformat() == "2019-05-06T09:30:00+08:00"
    app.close()


@pytest.mark.pg
def test_an_export_round_trips_into_postgresql(
    exported: tuple[Path, list[dict[str, Any]]], pg_db_url: str
) -> None:
    path, original = exported
    report = import_jsonl(pg_db_url, path, progress=False)
    assert report.ok and report.events == len(original)
    imported = events_of(pg_db_url)
    for line in original:
        again = imported[(line["aggregate_id"], line["version"])]
        data, before = dict(again["data"]), dict(line["data"])
        if "occurred_at" in before:  # staff and access events carry no business time
            assert data.pop("occurred_at") == (before.pop("occurred_at") or line["recorded_at"])
        if "import_batch" in data:  # case events: the batch, and the source's entry time
            assert data.pop("import_batch") == str(report.batch_id)
            assert data.pop("claimed_recorded_at") == line["recorded_at"]
            del before["import_batch"], before["claimed_recorded_at"]
        assert data == before


def _service_history(tmp_path: Path, note: str) -> Path:
    clerk = {"staff_id": "old-07", "role": "clerk", "name": "老系统"}
    applicant = {"name": "张三", "id_type": "resident_id", "id_number": "610928199001011234"}
    return write(
        tmp_path / f"service-{len(note)}.jsonl",
        [
            {
                "case_id": "LEGACY-S1",
                "type": "Submitted",
                "occurred_at": "2019-05-06T09:30:00",
                "actor": clerk,
                "data": {"case_no": "XY2019S1", "item_code": "XK-005", "applicant": applicant},
            },
            {
                "case_id": "LEGACY-S1",
                "type": "ServiceProvided",
                "occurred_at": "2019-05-06T10:00:00",
                "actor": clerk,
                "data": {"service": "mailing", "units": 1, "charged_fen": 0,
                         "bureau_cost_fen": 1200, "note": note},
            },
        ],
    )  # fmt: skip


def test_an_imported_service_note_is_bounded_like_a_command_s(tmp_path: Path) -> None:
    """History may break the stage rules, never the bounds of what the log keeps: a
    ServiceProvided note of 2001 characters refuses its line, and its case, through
    ``casestore import`` (exit 1); 2000 characters import whole."""
    url = f"sqlite:///{tmp_path}/svc.db"
    too_long = _service_history(tmp_path, "号" * 2001)
    done = subprocess.run(
        [str(CASESTORE), "import", str(too_long), "--db", url],
        capture_output=True, text=True, timeout=300, env=dict(os.environ), check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "line 2: note must be text of 2000 characters or fewer" in done.stderr
    assert events_of(url) == {}  # nothing of the refused case (only the batch's markers)
    report = import_jsonl(
        f"sqlite:///{tmp_path}/svc2.db", _service_history(tmp_path, "号" * 2000), progress=False
    )
    assert report.ok, report.error_lines()
    app = CasestoreApp(f"sqlite:///{tmp_path}/svc2.db")
    service = CaseService(app)
    case_id = service.find_case_no("XY2019S1")
    assert app.domain_events(case_id)[-1].note == "号" * 2000
    app.close()
