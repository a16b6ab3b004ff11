"""Imports keep the legacy system's own entry time (``claimed_recorded_at``) beside
``occurred_at`` and casestore's ``recorded_at``; S06 compares the first two, never the
import lag; the import is one marked batch (who, which file, its SHA-256)."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from casestore.projections.engine.db import ViewDB
from casestore.projections.runtime.commands import rebuild_projection

from casestore.domain import Case
from casestore.domain.imports import ImportBatch
from casestore.domain.values import Actor
from casestore.importer import import_jsonl
from casestore.store.application import CasestoreApp

CLERK = {"staff_id": "legacy-07", "role": "clerk", "name": "旧系统", "window": "W02"}
APPLICANT = {"name": "张三", "id_type": "resident_id", "id_number": "110101199003070011"}


def history(key: str, accepted_entered: str) -> list[dict[str, Any]]:
    """A legacy case from 2024: submitted and accepted, each with its business time
    (``occurred_at``) and the legacy system's own entry time (``recorded_at``)."""
    return [
        {
            "aggregate_id": key,
            "type": "Submitted",
            "occurred_at": "2024-03-01T09:00:00+08:00",
            "recorded_at": "2024-03-01T09:05:00+08:00",
            "actor": CLERK,
            "data": {"case_no": f"LEGACY-{key}", "item_code": "XK-001", "applicant": APPLICANT},
        },
        {
            "aggregate_id": key,
            "type": "Accepted",
            "occurred_at": "2024-03-01T10:00:00+08:00",
            "recorded_at": accepted_entered,
            "actor": CLERK,
            "data": {
                "notice_no": f"SL-{key}",
                "limits": {"statutory_days": 20, "promised_days": 10},
                "promised_completion": "2024-03-15",
            },
        },
    ]


def s06_cases(url: str) -> set[str]:
    store = CasestoreApp(url)
    try:
        rebuild_projection(store, "case_status", quiet=True)  # case numbers for the flags' rows
        rebuild_projection(store, "supervision", quiet=True)
    finally:
        store.close()
    db = ViewDB(url)
    try:
        rows = db.rows("SELECT case_id FROM supervision_flags WHERE rule = 'S06'")
    finally:
        db.close()
    return {str(r["case_id"]) for r in rows}


def test_only_the_back_dated_legacy_entry_is_flagged_not_the_import_lag(tmp_path: Path) -> None:
    honest = history("honest", "2024-03-01T10:02:00+08:00")  # entered two minutes later
    backdated = history("backdated", "2024-03-09T16:00:00+08:00")  # entered eight days later
    path = tmp_path / "legacy.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in honest + backdated))
    url = f"sqlite:///{tmp_path}/store.db"
    by = Actor("admin-03", "system", "迁移负责人")
    report = import_jsonl(url, path, progress=False, by=by)
    assert report.ok, report.error_lines()

    flagged = s06_cases(url)
    app = CasestoreApp(url)
    try:
        cases = {
            e.case_no: e.originator_id
            for _, e in app.iter_events()
            if isinstance(e, Case.Submitted)
        }
        assert flagged == {str(cases["LEGACY-backdated"])}  # the import lag (years) is not S06

        accepted = [e for _, e in app.iter_events() if isinstance(e, Case.Accepted)]
        for event in accepted:  # all three times kept
            assert event.occurred_at == datetime.fromisoformat("2024-03-01T10:00:00+08:00")
            assert event.claimed_recorded_at is not None
            assert event.recorded_at.year >= 2026 and event.import_batch == report.batch_id

        assert report.batch_id is not None
        batch = app.get(ImportBatch, report.batch_id)
        assert batch.source == "legacy.jsonl" and batch.completed
        assert batch.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        started = app.domain_events(report.batch_id)[0]
        assert started.actor.staff_id == "admin-03" and batch.lines == 4
    finally:
        app.close()
