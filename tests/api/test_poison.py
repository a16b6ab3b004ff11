"""One event a projection cannot apply is parked for that projection; the view goes on.

An event with extreme values comes in through the import path (history is recorded as
it happened). A handler bug that such an event triggers (the issue's ``OverflowError:
date value out of range``; the domain now refuses those dates at the door, so the test
stands the bug in by wrapping the compliance projection) must not stop the view: the
event is parked, the other projections and the API keep working, ``/health``,
``casestore project status`` and the supervision flags say which view is degraded and
where, and after the fix ``casestore project retry compliance`` applies it exactly once.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any
from uuid import uuid4

import orjson
import pytest
from casestore.projections.engine.db import ViewDB, snapshot
from casestore.projections.engine.events import LogEvent
from casestore.projections.engine.parking import parked_events
from casestore.projections.runtime import commands
from casestore.projections.runtime.logsource import LogSource
from casestore.projections.runtime.registry import get_projection
from casestore.projections.runtime.worker import rebuild_into

from casestore.importer import import_jsonl
from casestore.service import SubmitCase
from tests.api.support import make_api, walk

ACTOR = {"staff_id": "c-07", "role": "clerk", "name": "旧系统", "window": "W01"}
PARTY = {"name": "张" * 200, "id_type": "resident_id", "id_number": "110101199001011234",
         "phone": "13800000000"}


def legacy_case(path: Path) -> str:
    """A legacy case whose claimed times sit at the edge of what is accepted."""
    case = str(uuid4())
    claimed = "2000-01-01T00:00:00+14:00"
    lines = [
        {"aggregate_id": case, "type": "Submitted", "occurred_at": claimed, "actor": ACTOR,
         "data": {"case_no": "LEG-POISON", "query_code_hash": "h", "item_code": "XK-003",
                  "applicant": PARTY, "agent": None, "channel": "window",
                  "extended_hours": False, "appointment_id": "", "receiving_region": "",
                  "handling_region": "", "materials": ["申请书"] * 300, "bundle_id": None}},
        {"aggregate_id": case, "type": "Accepted", "occurred_at": claimed, "actor": ACTOR,
         "data": {"notice_no": "SL-" + "9" * 60,
                  "limits": {"statutory_days": 20, "promised_days": 10},
                  "promised_completion": "2000-01-14"}},
    ]
    path.write_bytes(b"\n".join(orjson.dumps(line) for line in lines))
    return case


def test_a_poison_event_is_parked_and_retried_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = make_api(tmp_path / "api.db", workers=True)
    url = api.state.db_url
    try:
        healthy = api.submit()["case_id"]
        walk(api, healthy, upto="survey-schedule")
        api.sync()

        compliance = get_projection("compliance")
        real_apply = compliance.apply
        poison: dict[str, Any] = {}

        def buggy_apply(tx: Any, events: Sequence[LogEvent]) -> None:
            for e in events:
                if e.aggregate_id == poison.get("case") and e.key == "Case.Accepted":
                    raise OverflowError("date value out of range")
            real_apply(tx, events)

        monkeypatch.setattr(compliance, "apply", buggy_apply)
        poison["case"] = legacy_case(tmp_path / "legacy.jsonl")
        report = import_jsonl(url, tmp_path / "legacy.jsonl", progress=False)
        assert report.ok, report.error_lines()
        api.sync()  # every projection reaches the head: nothing is stuck behind the event

        accepted_at = next(
            row.position
            for row in api.state.service.app.log.iter_log()
            if str(row.originator_id) == poison["case"] and row.topic.endswith("Case.Accepted")
        )
        health = api.get("/health").json()
        assert health["status"] == "degraded"
        for name, view in health["projections"].items():
            assert view["lag"] == 0, name
            assert view["parked"] == ([accepted_at] if name == "compliance" else []), name
        flags = api.get("/supervision/flags", "inspector").json()
        assert flags["degraded"] == [
            {"projection": "compliance", "parked_positions": [accepted_at]}
        ]
        lines = commands.status(api.state.service.app)
        assert any(ln.startswith("compliance") and f"DEGRADED: 1 parked at {accepted_at}" in ln
                   for ln in lines), lines
        # The API keeps answering, the poisoned case included.
        assert api.get("/cases", "clerk").status_code == 200
        assert api.get(f"/cases/{poison['case']}", "clerk").json()["stage"] == "accepted"
        assert api.get("/compliance/overdue", "inspector").status_code == 200
        # Later events still reach the degraded view.
        api.command(healthy, "survey-schedule", "surveyor",
                    {"requirements": ["经营场所平面图"], "survey_days": 3})
        api.sync()
        assert api.get("/health").json()["projections"]["compliance"]["lag"] == 0

        monkeypatch.undo()  # the fix is deployed
        assert commands.retry(api.state.service.app, "compliance") == []
        db = ViewDB(url)
        try:
            assert parked_events(db) == []
            live = snapshot(db, compliance)
            # Applied exactly once: the retried view equals a clean build of the log.
            source = LogSource(api.state.service.app)
            try:
                rebuild_into(source, db, compliance, target="clean")
            finally:
                source.close()
            assert snapshot(db, compliance, "clean") == live
        finally:
            db.close()
        assert api.get("/health").json()["status"] == "ok"
        assert poison["case"] in api.get("/compliance/overdue", "inspector").text
    finally:
        api.close()


def test_a_failing_statement_is_parked_on_both_backends(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A handler whose SQL fails (a constraint it breaks: not the database's fault) aborts
    only its savepoint; the rest of the batch and the position commit together."""
    from casestore.projections.engine.db import create_target
    from casestore.projections.runtime.worker import Worker

    from casestore.service import CaseService
    from casestore.store.application import CasestoreApp
    from tests.conftest import ADMIN, APPLICANT, CATALOGUE, CLERK

    app = CasestoreApp(store_url)
    service = CaseService(app)
    service.load_catalogue(CATALOGUE, ADMIN)
    ids = [
        service.handle(SubmitCase(actor=CLERK, item_code="XK-003", applicant=APPLICANT)).case_id
        for _ in "abc"
    ]
    bad = str(ids[1])
    ledger = get_projection("ledger")
    real_apply = ledger.apply

    def failing(tx: Any, events: Sequence[LogEvent]) -> None:
        real_apply(tx, events)
        if any(e.aggregate_id == bad and e.key == "Case.Submitted" for e in events):
            tx.execute("INSERT INTO projection_tracking (key) VALUES (NULL)")

    monkeypatch.setattr(ledger, "apply", failing)
    db = ViewDB(store_url)
    source = LogSource(app)
    try:
        create_target(db, ledger)
        worker = Worker(source, db, ledger, batch=1000)
        worker.catch_up()
        head = app.log.head()[0]
        assert worker.position == head == db.tracking("ledger").position  # type: ignore[union-attr]
        (parked,) = parked_events(db, "ledger")
        assert parked.event == "Case.Submitted" and parked.aggregate_id == bad
        assert "null" in parked.error.lower()
        monkeypatch.undo()
        assert commands.retry(app, "ledger") == []
        assert parked_events(db) == []
    finally:
        source.close()
        db.close()
        app.close()
